import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, makeSandbox, ROOT, runProcess } from '../helpers/cli.js';
import { startFakeApiServer } from '../../testkit/kubeApiServer.js';
import { createPki } from '../../testkit/pki.js';

/** The first sh block after a README heading, as a reader copies it. */
function readmeBlock(heading: string): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(`\n## ${heading}\n`));
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error(`no sh block under "## ${heading}"`);
  return block[1];
}

test('the README\'s plugin-authoring commands work as written: componentize with the jco we ship, then run', async (t) => {
  const block = readmeBlock('Writing a plugin');
  t.regex(block, /^node scripts\/jco\.mjs componentize pods\.js --wit wit -n plugin -o pods\.wasm$/m);
  t.regex(block, /^krew-wasm run \.\/pods\.wasm -- -A/m);

  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const pki = createPki();
  t.teardown(() => fs.rmSync(pki.dir, { recursive: true, force: true }));
  const api = await startFakeApiServer({
    tls: { ...pki.server('apiserver'), ca: pki.caCert },
    tokens: { 'tok-author': 'author' },
    pods: [{ namespace: 'default', name: 'web-1', node: 'n1' }, { namespace: 'kube-system', name: 'dns-1', node: 'n1' }],
  });
  t.teardown(() => api.stop());
  fs.mkdirSync(path.join(sb.home, '.kube'));
  fs.writeFileSync(path.join(sb.home, '.kube/config'), `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: c, cluster: {server: '${api.url}', certificate-authority: '${pki.caCert}'}}]
users: [{name: u, user: {token: tok-author}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`);
  // A folder laid out as the source checkout the README speaks of (the parts these commands use).
  const checkout = path.join(sb.home, 'krew-wasm');
  fs.mkdirSync(checkout);
  fs.cpSync(path.join(ROOT, 'examples/pods'), path.join(checkout, 'examples/pods'), { recursive: true, filter: (f) => !f.includes('/build') });
  fs.cpSync(path.join(ROOT, 'wit'), path.join(checkout, 'wit'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'scripts'), path.join(checkout, 'scripts'));
  const bin = path.join(sb.home, 'path-bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(BIN, path.join(bin, 'krew-wasm'));

  const r = await runProcess('bash', ['-euo', 'pipefail', '-c', block], {
    cwd: checkout,
    env: { ...sb.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
    timeoutMs: 300_000,
  });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout.split('\n').filter((l) => !l.startsWith('OK ')).join('\n'), 'NAMESPACE     NAME    STATUS    NODE\ndefault       web-1   Running   n1\nkube-system   dns-1   Running   n1\n');
  const wasm = fs.readFileSync(path.join(checkout, 'pods.wasm'));
  t.deepEqual([...wasm.subarray(0, 8)], [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00], 'a component (layer 1), not a core module');
});
