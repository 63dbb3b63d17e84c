import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pushArtifact } from '../../testkit/artifacts.js';
import { FIXTURES, krewWasm, makeSandbox, runLink } from '../helpers/cli.js';
import { blobDataPath, startRegistry, type TestRegistry } from '../../testkit/registry.js';

const creds = { user: 'alice', password: 's3cret' };
let registry: TestRegistry;
let front: http.Server;
let storage: http.Server;
const storageSaw: (string | undefined)[] = [];

// A registry behind Basic auth whose blob requests are redirected to "blob storage" on another
// origin, as registries backed by object stores do: credentials must not follow the redirect.
test.before(async () => {
  registry = await startRegistry({ htpasswd: creds });
  await pushArtifact({ url: registry.url, repo: 'redirect/hello', tag: 'v1', auth: creds }, 'cncf', fs.readFileSync(path.join(FIXTURES, 'hello.wasm')));
  storage = http.createServer((req, res) => {
    storageSaw.push(req.headers.authorization);
    const digest = decodeURIComponent((req.url ?? '').slice(1));
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    res.end(fs.readFileSync(blobDataPath(registry.storageDir, digest)));
  });
  await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
  const storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;
  front = http.createServer((req, res) => {
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
    if (blob && req.headers.authorization) {
      res.writeHead(307, { Location: `${storageUrl}/${encodeURIComponent(blob[1])}` });
      return res.end();
    }
    const up = http.request(new URL(req.url ?? '/', registry.url), { method: req.method, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
});

test.after.always(async () => {
  front?.close();
  storage?.close();
  await registry?.stop();
});

test('a redirect to another origin is followed without the Authorization header', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  fs.mkdirSync(path.join(sb.home, '.docker'), { recursive: true });
  const host = `127.0.0.1:${(front.address() as AddressInfo).port}`;
  fs.writeFileSync(path.join(sb.home, '.docker/config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${creds.user}:${creds.password}`).toString('base64') } } }));
  const r = await krewWasm(sb, ['pull', '--plain-http', `${host}/redirect/hello:v1`]);
  t.is(r.exitCode, 0, r.stderr);
  t.is(storageSaw.length, 1, 'the blob came from blob storage');
  t.is(storageSaw[0], undefined, 'no credentials were sent to the other origin');
  t.is((await runLink(sb, 'hello', [])).stdout, 'hello from wasm\n');
});
