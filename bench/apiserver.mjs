// A loopback fake API server in its own process for the benchmarks (the benchmark loop blocks its
// own event loop while it times plugins). Prints {"url","ca"} on stdout, then serves until killed.
import fs from 'node:fs';
import { createPki } from '../dist/testkit/pki.js';
import { startFakeApiServer } from '../dist/testkit/kubeApiServer.js';

const pki = createPki('krew-wasm-bench');
const api = await startFakeApiServer({
  tls: { ...pki.server('apiserver'), ca: pki.caCert },
  tokens: { 'bench-token': 'bench' },
  pods: [{ namespace: 'default', name: 'web-1' }, { namespace: 'default', name: 'web-2' }],
});
process.stdout.write(`${JSON.stringify({ url: api.url, ca: pki.caCert })}\n`);
process.on('SIGTERM', async () => {
  await api.stop();
  fs.rmSync(pki.dir, { recursive: true, force: true }); // a bench leaves nothing in the temporary folder
  process.exit(0);
});
