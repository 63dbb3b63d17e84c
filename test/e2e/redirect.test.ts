import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pushArtifact } from '../../testkit/artifacts.js';
import { FIXTURES, krewWasm, makeSandbox, runLink, storeSnapshot, theError, type Sandbox } from '../helpers/cli.js';
import { createPki, type TestPki } from '../../testkit/pki.js';
import { blobDataPath, startRegistry, type TestRegistry } from '../../testkit/registry.js';
import { startTokenServer, type TokenServer } from '../helpers/tokenServer.js';

// Registries backed by object stores redirect blob requests to "blob storage" on another origin.
// Credentials are the registry's only (issue 8.7), and the other server's answers are none of the
// user's business beyond their status (issue 13.6).
const creds = { user: 'alice', password: 's3cret' };
const basicAuth = `Basic ${Buffer.from(`${creds.user}:${creds.password}`).toString('base64')}`;
const SECRET = 'TOP-SECRET-STORAGE-BODY';
let pki: TestPki;
let registry: TestRegistry;
let front: http.Server;
let tlsFront: https.Server;
let storage: http.Server;
let storageUrl: string;
/** What the storage server does with the next blob requests. */
type Mode = 'serve' | 'challenge' | 'not-found' | 'wrong-length';
let mode: Mode = 'serve';
const storageSaw: { path: string; authorization?: string }[] = [];
let tlsRegistry: TestRegistry;
let tokens: TokenServer;

const listen = async (server: http.Server | https.Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
};

/** A front for the registry that redirects authenticated blob requests to the storage server. */
const frontHandler = (req: http.IncomingMessage, res: http.ServerResponse) => {
  const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
  if (blob && req.headers.authorization) {
    res.writeHead(307, { Location: `${storageUrl}/${encodeURIComponent(blob[1])}?X-Signature=signed-secret` });
    return res.end();
  }
  const up = http.request(new URL(req.url ?? '/', registry.url), { method: req.method, headers: req.headers }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.headers);
    upRes.pipe(res);
  });
  req.pipe(up);
};

test.before(async () => {
  pki = createPki();
  registry = await startRegistry({ htpasswd: creds });
  await pushArtifact({ url: registry.url, repo: 'redirect/hello', tag: 'v1', auth: creds }, 'cncf', fs.readFileSync(path.join(FIXTURES, 'hello.wasm')));
  storage = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    storageSaw.push({ path: url.pathname, authorization: req.headers.authorization });
    if (url.pathname === '/token') return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"token":"stolen"}');
    const digest = decodeURIComponent(url.pathname.slice(1));
    if (mode === 'challenge') {
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${storageUrl}/token",service="storage",scope="repository:redirect/hello:pull"` });
      return res.end();
    }
    if (mode === 'not-found') return res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`${SECRET}: no such key ${digest}`);
    const bytes = fs.readFileSync(blobDataPath(registry.storageDir, digest));
    if (mode === 'wrong-length') {
      res.writeHead(200, { 'Content-Length': String(bytes.length + 777) });
      res.write(bytes);
      return setTimeout(() => res.socket?.destroy(), 20);
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(bytes);
  });
  storageUrl = `http://${await listen(storage)}`;
  front = http.createServer(frontHandler);
  await listen(front);
  const cert = pki.server('front');
  tlsFront = https.createServer({ cert: fs.readFileSync(cert.cert), key: fs.readFileSync(cert.key) }, frontHandler);
  await listen(tlsFront);
  // An HTTPS registry whose token realm is plain HTTP on another origin.
  const signer = pki.signer('token-signer');
  tokens = await startTokenServer(signer, creds);
  tlsRegistry = await startRegistry({ tls: pki.server('registry'), token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: signer.cert } });
});

test.after.always(async () => {
  front?.close();
  tlsFront?.close();
  storage?.close();
  await registry?.stop();
  await tlsRegistry?.stop();
  await tokens?.stop();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

const hostOf = (server: http.Server | https.Server) => `127.0.0.1:${(server.address() as AddressInfo).port}`;

function sandboxWithLogin(hosts: string[]): Sandbox {
  const sb = makeSandbox();
  fs.mkdirSync(path.join(sb.home, '.docker'), { recursive: true });
  const auth = Buffer.from(`${creds.user}:${creds.password}`).toString('base64');
  fs.writeFileSync(path.join(sb.home, '.docker/config.json'), JSON.stringify({ auths: Object.fromEntries(hosts.map((h) => [h, { auth }])) }));
  return sb;
}

test.serial('a redirect to another origin is followed without the Authorization header', async (t) => {
  mode = 'serve';
  storageSaw.length = 0;
  const sb = sandboxWithLogin([hostOf(front)]);
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['pull', '--plain-http', `${hostOf(front)}/redirect/hello:v1`]);
  t.is(r.exitCode, 0, r.stderr);
  t.is(storageSaw.length, 1, 'the blob came from blob storage');
  t.is(storageSaw[0].authorization, undefined, 'no credentials were sent to the other origin');
  t.is((await runLink(sb, 'hello', [])).stdout, 'hello from wasm\n');
});

test.serial('a 401 from the server the registry redirected to is an error, not a login: no credentials reach its realm (8.7)', async (t) => {
  mode = 'challenge';
  storageSaw.length = 0;
  const sb = sandboxWithLogin([hostOf(front)]);
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['pull', '--plain-http', `${hostOf(front)}/redirect/hello:v1`]);
  t.is(r.exitCode, 1);
  t.is(theError(r.stderr), `krew-wasm: error: ${hostOf(front)}: ${storageUrl}, where the registry redirected, asked for credentials; they are sent only to the registry`);
  t.false(storageSaw.some((s) => s.path === '/token'), 'the foreign realm was never asked for a token');
  t.true(storageSaw.every((s) => s.authorization === undefined), 'no request to the other origin carried credentials');
  t.false(r.stderr.includes(basicAuth.slice(6)));
  t.deepEqual(storeSnapshot(sb.root).filter((e) => !e.endsWith('/')), []);
});

test.serial('an HTTPS registry whose token realm is plain HTTP: credentials are not sent (8.7)', async (t) => {
  const sb = sandboxWithLogin([tlsRegistry.host]);
  t.teardown(sb.cleanup);
  const before = tokens.authorizations.length;
  const r = await krewWasm(sb, ['pull', '--ca-file', pki.caCert, `${tlsRegistry.host}/plugins/hello:v1`]);
  t.is(r.exitCode, 1);
  t.is(theError(r.stderr), `krew-wasm: error: ${tlsRegistry.host}: refusing to send credentials to the plain-HTTP token realm ${new URL(tokens.realm).origin} of an HTTPS registry (the registry must name an HTTPS token realm)`);
  t.deepEqual(tokens.authorizations.slice(before), [], 'the plain-HTTP realm received nothing');
});

test.serial('a redirect from https to plain http is refused, and the plain-http server is never asked (13.6)', async (t) => {
  mode = 'serve';
  storageSaw.length = 0;
  const sb = sandboxWithLogin([hostOf(tlsFront)]);
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['pull', '--ca-file', pki.caCert, `${hostOf(tlsFront)}/redirect/hello:v1`]);
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), new RegExp(`^krew-wasm: error: GET https://${hostOf(tlsFront)}/v2/redirect/hello/blobs/sha256:[0-9a-f]{64}: redirect from https to plain http \\(${storageUrl}\\) refused$`));
  t.is(storageSaw.length, 0);
  t.false(r.stderr.includes('signed-secret'), 'the redirect URL query (a signature) is not echoed');
});

test.serial('a redirect whose location carries user info is refused, never followed', async (t) => {
  const odd = http.createServer((req, res) => {
    res.writeHead(302, { Location: `http://mallory:secret@${new URL(storageUrl).host}/x` });
    res.end();
  });
  const host = await listen(odd);
  t.teardown(() => { odd.close(); });
  storageSaw.length = 0;
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['pull', '--plain-http', `${host}/redirect/hello:v1`]);
  t.is(r.exitCode, 1);
  t.is(theError(r.stderr), `krew-wasm: error: GET http://${host}/v2/redirect/hello/manifests/v1: redirect to an unusable location refused`);
  t.is(storageSaw.length, 0);
});

const foreignAnswers: { mode: Mode; message: RegExp }[] = [
  { mode: 'not-found', message: /^krew-wasm: error: blob sha256:[0-9a-f]{64}: http:\/\/127\.0\.0\.1:\d+, where the registry redirected, answered status 404$/ },
  { mode: 'wrong-length', message: /^krew-wasm: error: blob sha256:[0-9a-f]{64}: http:\/\/127\.0\.0\.1:\d+, where the registry redirected, sends a different size than the manifest declares$/ },
];

for (const c of foreignAnswers) {
  test.serial(`an error from the redirected-to server echoes neither its body nor its sizes (13.6): ${c.mode}`, async (t) => {
    mode = c.mode;
    const sb = sandboxWithLogin([hostOf(front)]);
    t.teardown(sb.cleanup);
    const r = await krewWasm(sb, ['pull', '--plain-http', `${hostOf(front)}/redirect/hello:v1`]);
    t.is(r.exitCode, 1);
    t.regex(theError(r.stderr), c.message);
    t.false(r.stderr.includes(SECRET));
    t.false(/\d{4,} bytes|\b(3066|777)\b/.test(r.stderr), 'no byte counts of the other server');
  });
}
