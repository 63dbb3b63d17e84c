import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse as watToWasm } from '@bytecodealliance/jco-transpile/wasm-tools';
import { BIN, FIXTURES, krewWasm, kubectl, makeSandbox, runProcess, storeSnapshot, theError, type Sandbox } from '../helpers/cli.js';
import { writeLayout } from '../../testkit/artifacts.js';

/**
 * The messages of docs/errors.md that the other tests do not print: each bad input, hostile
 * registry answer, broken plugin and broken kubeconfig gives one line in words, exit 1 and an
 * unchanged store. The registry here is a loopback server that answers what each case needs.
 */
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hello = fs.readFileSync(path.join(FIXTURES, 'hello.wasm'));
const helloDigest = sha256(hello);
const config = Buffer.from('{}');
const desc = (mediaType: string, bytes: Buffer, extra: object = {}) => ({ mediaType, digest: sha256(bytes), size: bytes.length, ...extra });
const manifest = (layers: object[], extra: object = {}) => ({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc('application/vnd.wasm.config.v0+json', config), layers, ...extra });
const good = manifest([desc('application/wasm', hello)]);

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
const json = (body: unknown, headers: Record<string, string | number> = {}): Handler => (_req, res) => {
  const bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Content-Length': bytes.length, ...headers }).end(bytes);
};
const status = (code: number, headers: Record<string, string> = {}, body = ''): Handler => (_req, res) => res.writeHead(code, headers).end(body);

/** Routes of the hostile registry: `/v2/c/<case>/p/manifests/v1` and friends. */
const routes: Record<string, Handler> = {};
const route = (name: string, manifestHandler: Handler, others: Record<string, Handler> = {}) => {
  routes[`/v2/c/${name}/p/manifests/v1`] = manifestHandler;
  for (const [p, h] of Object.entries(others)) routes[p.startsWith('/') ? p : `/v2/c/${name}/p/${p}`] = h;
};
const blob = (bytes: Buffer, chunked = false): Handler => (_req, res) => {
  res.writeHead(200, chunked ? { 'Content-Type': 'application/octet-stream' } : { 'Content-Length': bytes.length });
  res.end(bytes);
};
const innerIndex = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
const outerIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [desc(OCI_INDEX, innerIndex, { platform: { architecture: 'wasm', os: 'wasip2' } })] };

route('notobject', json('[1]'));
route('schema1', json({ schemaVersion: 1, name: 'p' }));
route('nolayers', json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc('application/vnd.wasm.config.v0+json', config) }));
route('noconfig', json({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }));
route('nomediatype', json({ ...good, config: { digest: sha256(config), size: 2 } }));
route('badsize', json(manifest([{ ...desc('application/wasm', hello), size: -1 }])));
route('twowasm', json(manifest([desc('application/wasm', hello), desc('application/wasm', hello)])));
route('noplatform', json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [desc(OCI_MANIFEST, Buffer.from('x'), { platform: { architecture: 'amd64', os: 'linux' } })] }, { 'Content-Type': OCI_INDEX }), {});
route('nested', json(outerIndex, { 'Content-Type': OCI_INDEX }), { [`manifests/${sha256(innerIndex)}`]: json(innerIndex.toString(), { 'Content-Type': OCI_INDEX }) });
// Text a registry writes where a message quotes it, with what a terminal acts on in it (attack 87).
const FAKE = '\r\x1b[2K\x1b[32mInstalled plugin "hello" as kubectl-hello\x1b[0m\u009b8m';
route('escschema', json({ schemaVersion: FAKE, layers: [] }));
route('escmediatype', json(manifest([desc(`application/x${FAKE}`, hello)])));
route('bigartifacttype', json(manifest([desc('application/wasm', hello)], { artifactType: `application/${'x'.repeat(1_200_000)}` })));
route('manyplatforms', json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: Array.from({ length: 10_000 }, (_, i) => desc(OCI_MANIFEST, Buffer.from(`m${i}`), { platform: { architecture: 'amd64', os: `linux${FAKE}` } })) }, { 'Content-Type': OCI_INDEX }));
// A tag list longer than a person reads, in one page (as many pages would be): refused, not kept (attack 87).
routes['/v2/c/manytags/p/tags/list'] = json({ name: 'c/manytags/p', tags: Array.from({ length: 100_001 }, (_, i) => `t${i}`) }, { 'Content-Type': 'application/json' });
route('claims', json(good, { 'Docker-Content-Digest': `sha256:${'0'.repeat(64)}` }));
routes[`/v2/c/bydigest/p/manifests/${sha256('the manifest that was asked for')}`] = json(good);
route('bigdeclared', (_req, res) => {
  res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Content-Length': 5_000_000 });
  res.write('{');
});
route('bigchunked', (_req, res) => {
  res.writeHead(200, { 'Content-Type': OCI_MANIFEST });
  res.end(Buffer.alloc(4 * 1024 * 1024 + 10, 0x20));
});
route('forbidden', status(403, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code: 'DENIED', message: 'not for you' }] })));
route('ftp', status(302, { Location: 'ftp://example.invalid/manifest' }));
route('loop', status(302, { Location: '/v2/c/loop/p/manifests/v1' }));
route('longer', json(manifest([desc('application/wasm', hello)])), { [`blobs/${helloDigest}`]: blob(Buffer.concat([hello, Buffer.from('0123456789')]), true) });
route('shorter', json(manifest([desc('application/wasm', hello)])), { [`blobs/${helloDigest}`]: blob(hello.subarray(0, hello.length - 10), true) });
route('silent', () => { /* never answers */ });
route('nochallenge', status(401));
route('digestauth', status(401, { 'WWW-Authenticate': 'Digest realm="r", nonce="n"' }));
route('norealm', status(401, { 'WWW-Authenticate': 'Bearer service="registry"' }));
route('ftprealm', status(401, { 'WWW-Authenticate': 'Bearer realm="ftp://example.invalid/token"' }));
route('basic', status(401, { 'WWW-Authenticate': 'Basic realm="registry"' }));
routes['/token-html'] = status(200, { 'Content-Type': 'text/html' }, '<html>login</html>');
routes['/token-empty'] = status(200, { 'Content-Type': 'application/json' }, '{}');

let server: http.Server;
let host: string;
let sb: Sandbox;

test.before(async () => {
  server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    (routes[pathname] ?? status(404, { 'Content-Type': 'application/json' }, '{"errors":[{"code":"NAME_UNKNOWN"}]}'))(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  route('tokenhtml', status(401, { 'WWW-Authenticate': `Bearer realm="http://${host}/token-html",service="r"` }));
  route('tokenempty', status(401, { 'WWW-Authenticate': `Bearer realm="http://${host}/token-empty",service="r"` }));
  sb = makeSandbox();
});

test.after.always(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  sb?.cleanup();
});

/** Runs krew-wasm; asserts exit 1, the one error line (a RegExp, or a function of the host), and an unchanged store. */
async function refused(t: ExecutionContext, args: string[], line: RegExp, options: { env?: NodeJS.ProcessEnv; cwd?: string; exit?: number } = {}) {
  const before = storeSnapshot(sb.root);
  const r = await krewWasm(sb, args, options);
  t.is(r.exitCode, options.exit ?? 1, r.stderr);
  t.regex(theError(r.stderr), line);
  t.deepEqual(storeSnapshot(sb.root), before);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const registryCases: { name: string; args?: (h: string) => string[]; line: (h: string) => RegExp; env?: NodeJS.ProcessEnv }[] = [
  { name: 'notobject', line: (h) => new RegExp(`^krew-wasm: error: ${esc(h)}/c/notobject/p:v1: the manifest is not a JSON object$`) },
  { name: 'schema1', line: (h) => new RegExp(`^krew-wasm: error: ${esc(h)}/c/schema1/p:v1: unsupported manifest schemaVersion 1$`) },
  { name: 'nolayers', line: () => /: manifest without a "layers" list$/ },
  { name: 'noconfig', line: () => /\/c\/noconfig\/p:v1: config: missing descriptor$/ },
  { name: 'nomediatype', line: () => /\/c\/nomediatype\/p:v1: config: descriptor without mediaType$/ },
  { name: 'badsize', line: () => /\/c\/badsize\/p:v1: layers\[0\]: descriptor with an invalid size$/ },
  { name: 'twowasm', line: () => /: not a wasm plugin artifact \(2 wasm layers; found config application\/vnd\.wasm\.config\.v0\+json, layer application\/wasm, layer application\/wasm; expected one layer of application\/wasm or application\/vnd\.wasm\.content\.layer\.v1\+wasm\)$/ },
  { name: 'noplatform', line: () => /: the image index has no wasm platform \(found: linux\/amd64\)$/ },
  { name: 'nested', line: () => /\/c\/nested\/p:v1: nested image index$/ },
  // Each control character a `?`, on one line: no fake line, no erased one (attack 87).
  { name: 'escschema', line: () => /\/c\/escschema\/p:v1: unsupported manifest schemaVersion \?\?\[2K\?\[32mInstalled plugin "hello" as kubectl-hello\?\[0m\?8m$/ },
  // A media type that is none (RFC 6838), an escape in it or 1.2 MB of it (attack 88), is refused.
  { name: 'escmediatype', line: () => /\/c\/escmediatype\/p:v1: layers\[0\]: mediaType is not a media type \(type\/subtype, as the OCI spec asks\)$/ },
  { name: 'bigartifacttype', line: () => /\/c\/bigartifacttype\/p:v1: artifactType is not a media type \(type\/subtype, as the OCI spec asks\)$/ },
  { name: 'manyplatforms', line: () => /: the image index has no wasm platform \(found: (linux\?\?\[2K\?\[32mInstalled plugin "hello" as kubectl-hello\?\[0m\?8m\/amd64, ){8}and 9992 more\)$/ },
  { name: 'claims', line: () => new RegExp(`^krew-wasm: error: manifest .*/c/claims/p:v1: registry claims digest sha256:0{64} but the bytes hash to ${esc(sha256(JSON.stringify(good)))}$`) },
  { name: 'bydigest', args: (h) => ['pull', '--plain-http', `${h}/c/bydigest/p@${sha256('the manifest that was asked for')}`], line: () => new RegExp(`^krew-wasm: error: manifest .*/c/bydigest/p@sha256:[0-9a-f]{64}: digest mismatch, expected ${esc(sha256('the manifest that was asked for'))}, got ${esc(sha256(JSON.stringify(good)))}$`) },
  { name: 'bigdeclared', line: () => /^krew-wasm: error: manifest .*\/c\/bigdeclared\/p:v1: response of 5000000 bytes exceeds the limit of 4194304$/ },
  { name: 'bigchunked', line: () => /^krew-wasm: error: manifest .*\/c\/bigchunked\/p:v1: response exceeds the limit of 4194304 bytes$/ },
  { name: 'forbidden', line: (h) => new RegExp(`^krew-wasm: error: manifest ${esc(h)}/c/forbidden/p:v1: access denied by ${esc(h)} \\(status 403\\) \\(DENIED: not for you\\)$`) },
  { name: 'ftp', line: (h) => new RegExp(`^krew-wasm: error: GET http://${esc(h)}/v2/c/ftp/p/manifests/v1: redirect to unsupported scheme ftp: refused$`) },
  { name: 'loop', line: (h) => new RegExp(`^krew-wasm: error: GET http://${esc(h)}/v2/c/loop/p/manifests/v1: more than \\d+ redirects$`) },
  { name: 'longer', line: () => new RegExp(`^krew-wasm: error: blob ${helloDigest}: more than the declared ${hello.length} bytes received$`) },
  { name: 'shorter', line: () => new RegExp(`^krew-wasm: error: blob ${helloDigest}: size mismatch, expected ${hello.length} bytes, got ${hello.length - 10}$`) },
  { name: 'silent', line: (h) => new RegExp(`^krew-wasm: error: GET http://${esc(h)}/v2/c/silent/p/manifests/v1: no response within 300 ms \\(waited \\d+ ms\\) \\(check that the registry is up; KREW_WASM_REGISTRY_IDLE_TIMEOUT_MS sets how long to wait\\)$`), env: { KREW_WASM_REGISTRY_IDLE_TIMEOUT_MS: '300' } },
  { name: 'nochallenge', line: (h) => new RegExp(`^krew-wasm: error: ${esc(h)}: /v2/c/nochallenge/p/manifests/v1 requires authentication but sent no usable challenge$`) },
  { name: 'digestauth', line: (h) => new RegExp(`^krew-wasm: error: ${esc(h)}: unsupported auth scheme "digest"$`) },
  { name: 'norealm', line: (h) => new RegExp(`^krew-wasm: error: ${esc(h)}: bearer challenge with an invalid realm ""$`) },
  { name: 'ftprealm', line: (h) => new RegExp(`^krew-wasm: error: ${esc(h)}: bearer realm must be http\\(s\\), got ftp:$`) },
  { name: 'tokenhtml', line: (h) => new RegExp(`^krew-wasm: error: ${esc(h)}: token server ${esc(h)} answered with something that is not JSON$`) },
  { name: 'tokenempty', line: (h) => new RegExp(`^krew-wasm: error: ${esc(h)}: token server ${esc(h)} returned no token$`) },
  { name: 'manytags', args: (h) => ['tags', '--plain-http', `${h}/c/manytags/p`], line: (h) => new RegExp(`^krew-wasm: error: tags of ${esc(h)}/c/manytags/p: more than 100000 tags$`) },
  { name: 'https', args: (h) => ['pull', `${h}/c/notobject/p:v1`], line: (h) => new RegExp(`^krew-wasm: error: TLS handshake with https://${esc(h)} failed \\(is it plain HTTP\\? try --plain-http\\)$`) },
  { name: 'cafile', args: (h) => ['pull', '--ca-file', '/no/such/ca.pem', `${h}/c/notobject/p:v1`], line: () => /^krew-wasm: error: cannot read CA file \/no\/such\/ca\.pem: it does not exist$/ },
];

for (const c of registryCases) {
  test(`a hostile or broken registry (${c.name}): one line, exit 1, nothing installed`, async (t) => {
    await refused(t, c.args ? c.args(host) : ['pull', '--plain-http', `${host}/c/${c.name}/p:v1`], c.line(host), { env: c.env });
  });
}

/** A docker config (and helpers on PATH) for the registry's Basic challenge. */
function dockerSetup(name: string, configJson: unknown, helpers: Record<string, string> = {}): NodeJS.ProcessEnv {
  const dir = path.join(sb.home, `docker-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  if (configJson !== undefined) fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configJson));
  else fs.mkdirSync(path.join(dir, 'config.json'));
  for (const [helper, script] of Object.entries(helpers)) fs.writeFileSync(path.join(dir, `docker-credential-${helper}`), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return { DOCKER_CONFIG: dir, PATH: `${dir}${path.delimiter}${process.env.PATH}` };
}

const credentialCases: { name: string; env: () => NodeJS.ProcessEnv; line: RegExp }[] = [
  { name: 'an auth entry that is not user:password', env: () => dockerSetup('auth', { auths: { [host]: { auth: Buffer.from('nocolon').toString('base64') } } }), line: /^krew-wasm: error: docker config: the auth entry for 127\.0\.0\.1:\d+ is not base64 of user:password$/ },
  { name: 'a credential helper that is not installed', env: () => dockerSetup('missing', { credHelpers: { [host]: 'absent' } }), line: /^krew-wasm: error: credential helper docker-credential-absent failed: spawnSync docker-credential-absent ENOENT$/ },
  { name: 'a credential helper that fails', env: () => dockerSetup('fails', { credHelpers: { [host]: 'fails' } }, { fails: 'echo "the keychain is locked" >&2; exit 3' }), line: /^krew-wasm: error: credential helper docker-credential-fails exited with 3: the keychain is locked$/ },
  { name: 'a credential helper that prints garbage', env: () => dockerSetup('garbage', { credHelpers: { [host]: 'garbage' } }, { garbage: 'cat >/dev/null; echo hello' }), line: /^krew-wasm: error: credential helper docker-credential-garbage printed something that is not JSON$/ },
  { name: 'a docker config that cannot be read', env: () => dockerSetup('unreadable', undefined), line: /^krew-wasm: error: cannot read docker config: .*\/docker-unreadable\/config\.json is a directory, not a regular file \(DOCKER_CONFIG names the folder of config\.json\)$/ },
];

for (const c of credentialCases) {
  test(`credentials: ${c.name}`, async (t) => {
    await refused(t, ['pull', '--plain-http', `${host}/c/basic/p:v1`], c.line, { env: c.env() });
  });
}

test('OCI layout sources: not a layout, no version, no such tag, a missing blob, malformed references', async (t) => {
  const dir = path.join(sb.home, 'layouts');
  fs.mkdirSync(path.join(dir, 'empty'), { recursive: true });
  await refused(t, ['pull', `oci-layout://${dir}/empty`], new RegExp(`^krew-wasm: error: ${esc(dir)}/empty is not an OCI image layout \\(no readable oci-layout file: .*/empty/oci-layout does not exist\\)$`));
  fs.mkdirSync(path.join(dir, 'noversion'));
  fs.writeFileSync(path.join(dir, 'noversion/oci-layout'), '{}');
  await refused(t, ['pull', `oci-layout://${dir}/noversion`], new RegExp(`^krew-wasm: error: ${esc(dir)}/noversion: oci-layout file has no imageLayoutVersion$`));
  writeLayout(path.join(dir, 'good'), '1.0', hello);
  await refused(t, ['pull', `oci-layout://${dir}/good:2.0`], new RegExp(`^krew-wasm: error: ${esc(dir)}/good: no manifest tagged "2\\.0" \\(tags: 1\\.0\\)$`));
  fs.rmSync(path.join(dir, 'good/blobs/sha256', helloDigest.slice(7)));
  await refused(t, ['pull', `oci-layout://${dir}/good:1.0`], new RegExp(`^krew-wasm: error: ${esc(dir)}/good: blob ${helloDigest} is missing$`));
  fs.rmSync(path.join(dir, 'good/index.json'));
  await refused(t, ['pull', `oci-layout://${dir}/good:1.0`], new RegExp(`^krew-wasm: error: ${esc(dir)}/good: index\\.json is missing$`));
  await refused(t, ['pull', 'oci-layout://'], /^krew-wasm: error: invalid reference "oci-layout:\/\/": missing layout directory$/);
  await refused(t, ['pull', `oci-layout://${dir}/good:bad!tag`], /^krew-wasm: error: invalid reference ".*": bad tag "bad!tag"$/);
  await refused(t, ['pull', `oci-layout://${dir}/good@sha256:12`], /^krew-wasm: error: invalid reference ".*": bad digest "sha256:12"$/);
  await refused(t, ['pull', 'file://'], /^krew-wasm: error: invalid reference "file:\/\/": missing file path$/);
});

/** Writes a wasm file built from WAT text (core module or component) and returns its path. */
async function wasmFile(name: string, wat: string | Buffer): Promise<string> {
  const file = path.join(sb.home, 'wasm', `${name}.wasm`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof wat === 'string' ? await watToWasm(wat) : wat);
  return file;
}

const pluginCases: { name: string; wat: string | Buffer; line: RegExp }[] = [
  { name: 'version2', wat: Buffer.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), line: /^krew-wasm: error: unsupported WebAssembly binary version\/layer 2\.0\/0$/ },
  { name: 'garbage-core', wat: Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff, 0xff]), line: /^krew-wasm: error: invalid WebAssembly module: WebAssembly\.Module\(\): .+$/ },
  { name: 'env-import', wat: '(module (import "env" "foo" (func)) (func (export "_start")))', line: /^krew-wasm: error: the core module imports what krew-wasm does not provide: env\.foo$/ },
  { name: 'esc-import', wat: '(module (import "\\0d\\1b[2K\\1b[32mInstalled" "\\c2\\9b2J" (func)) (func (export "_start")))', line: /^krew-wasm: error: the core module imports what krew-wasm does not provide: \?\?\[2K\?\[32mInstalled\.\?2J$/ },
  { name: 'many-imports', wat: `(module ${Array.from({ length: 3000 }, (_, i) => `(import "env" "f${i}" (func))`).join(' ')} (func (export "_start")))`, line: /^krew-wasm: error: the core module imports what krew-wasm does not provide: env\.f0, env\.f1, env\.f2, env\.f3, env\.f4, env\.f5, env\.f6, env\.f7, and 2992 more$/ },
  { name: 'no-start', wat: '(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))', line: /^krew-wasm: error: the core module is not a WASI command \(no _start export\)$/ },
  { name: 'bad-signature', wat: '(module (import "wasi_snapshot_preview1" "fd_write" (func)) (memory (export "memory") 1) (func (export "_start")))', line: /^krew-wasm: error: could not wrap the preview1 module into a component: .+$/ },
  { name: 'garbage-component', wat: Buffer.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0, 0xff, 0xff, 0xff]), line: /^krew-wasm: error: cannot read the component's imports and exports: .+$/ },
  // Well formed, but its one export names a function that does not exist: jco's validation says so.
  { name: 'invalid-component', wat: Buffer.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0, 11, 7, 1, 0, 1, 0x78, 1, 5, 0]), line: /^krew-wasm: error: jco could not transpile the component: .+$/ },
  {
    name: 'foreign-import',
    wat: `(component
      (import "wasi:foo/bar@0.1.0" (instance $i (export "f" (func))))
      (core func $f (canon lower (func $i "f")))
      (core module $m (import "x" "f" (func)))
      (core instance (instantiate $m (with "x" (instance (export "f" (func $f)))))))`,
    line: /^krew-wasm: error: the component imports interfaces krew-wasm does not provide: wasi:foo\/bar$/,
  },
  { name: 'no-run', wat: '(component)', line: /^krew-wasm: error: the component does not export wasi:cli\/run \(exports: none\) \(build the plugin as a WASI command \(world wasi:cli\/command or krew-wasm:outbound-http\/plugin\)\)$/ },
];

for (const c of pluginCases) {
  test(`a wasm file that is not a plugin krew-wasm can run (${c.name}): one line, nothing installed`, async (t) => {
    await refused(t, ['pull', await wasmFile(c.name, c.wat), '--name', 'broken-plugin'], c.line);
  });
}

test('plugins that fail while starting, or recurse without end, end with one line naming the plugin', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const start = await wasmFile('start-trap', '(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) (memory (export "memory") 1) (func $t unreachable) (start $t) (func (export "_start")))');
  const deep = await wasmFile('deep', '(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) (memory (export "memory") 1) (func $f (call $f)) (func (export "_start") (call $f)))');
  t.is((await krewWasm(side, ['pull', start, '--name', 'starter'])).exitCode, 0);
  t.is((await krewWasm(side, ['pull', deep, '--name', 'deep'])).exitCode, 0);
  const r1 = await kubectl(side, ['starter']);
  t.is(r1.exitCode, 1);
  t.is(theError(r1.stderr), 'krew-wasm: error: plugin starter failed to start: unreachable');
  const r2 = await kubectl(side, ['deep']);
  t.is(r2.exitCode, 1);
  t.is(theError(r2.stderr), 'krew-wasm: error: plugin deep trapped: call stack exhausted');
});

test('a damaged receipt or store entry: run says how to reinstall, list warns and goes on', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const source = `file://${path.join(FIXTURES, 'hello.wasm')}`;
  t.is((await krewWasm(side, ['pull', source, '--name', 'torn'])).exitCode, 0);
  t.is((await krewWasm(side, ['pull', source, '--name', 'meta'])).exitCode, 0);
  fs.writeFileSync(path.join(side.root, 'receipts/torn.json'), '{"apiVersion": "krew-wasm/v1", "name": ');
  const r = await kubectl(side, ['torn']);
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /^krew-wasm: error: the receipt of plugin torn is damaged: it is not JSON \(remove it with krew-wasm rm torn, then reinstall: krew-wasm pull --force <reference> --name torn\)$/);
  const list = await krewWasm(side, ['list']);
  t.is(list.exitCode, 0);
  t.is(list.stdout, 'meta\n');
  t.regex(list.stderr, /^krew-wasm: warning: the receipt of plugin torn is damaged: it is not JSON \(remove it with krew-wasm rm torn, then reinstall: krew-wasm pull --force <reference> --name torn\)$/m);
  const receipt = JSON.parse(fs.readFileSync(path.join(side.root, 'receipts/meta.json'), 'utf8'));
  fs.writeFileSync(path.join(side.root, 'store', receipt.layerDigest.slice(7), 'meta.json'), 'not json');
  const m = await kubectl(side, ['meta']);
  t.is(m.exitCode, 1);
  t.regex(theError(m.stderr), new RegExp(`^krew-wasm: error: plugin meta is damaged: cannot read meta\\.json: .+ \\(reinstall it: krew-wasm pull --force ${esc(source)} --name meta\\)$`));
});

test('krew-wasm run from a source folder that was not built says so', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const bin = path.join(side.home, 'checkout/bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.copyFileSync(BIN, path.join(bin, 'krew-wasm.js'));
  const r = await runProcess(process.execPath, [path.join(bin, 'krew-wasm.js'), 'list'], { env: side.env });
  t.is(r.exitCode, 1);
  t.is(r.stderr, 'krew-wasm: error: krew-wasm is not built (run make build in its source folder)\n');
});

test('krew-wasm run from a source folder built by an older version says so, and make build is the repair', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const checkout = path.join(side.home, 'checkout');
  fs.mkdirSync(path.join(checkout, 'bin'), { recursive: true });
  fs.copyFileSync(BIN, path.join(checkout, 'bin/krew-wasm.js'));
  fs.copyFileSync(path.join(path.dirname(BIN), 'package.json'), path.join(checkout, 'bin/package.json'));
  fs.cpSync(path.join(path.dirname(BIN), '../dist/bundle'), path.join(checkout, 'dist/bundle'), { recursive: true });
  const main = path.join(checkout, 'dist/bundle/main.js');
  const bundle = fs.readFileSync(main, 'utf8');
  // A bundle as builds before the module function was written into the file made it.
  const older = bundle.replace(/^\(function \(exports, require, module, __filename, __dirname\) \{/, '').replace(/\n\}\)\n(\/\/ krew-wasm build [0-9a-f]{16}\n)$/, '\n$1');
  t.not(older, bundle);
  fs.writeFileSync(main, older);
  for (const f of fs.readdirSync(path.dirname(main))) if (f.startsWith('command-')) fs.rmSync(path.join(path.dirname(main), f));
  const r = await runProcess(process.execPath, [path.join(checkout, 'bin/krew-wasm.js'), 'list'], { env: side.env });
  t.is(r.exitCode, 1);
  t.is(r.stderr, 'krew-wasm: error: krew-wasm was built by an older version of itself (run make build in its source folder)\n');
  // What make build writes there: the bundle as this build makes it.
  fs.writeFileSync(main, bundle);
  const rebuilt = await runProcess(process.execPath, [path.join(checkout, 'bin/krew-wasm.js'), 'list'], { env: side.env });
  t.is(rebuilt.exitCode, 0, rebuilt.stderr);
});

/** Kubeconfigs a plugin's requests are refused under, each with the note a user reads once. */
const kubeCases: { name: string; kubeconfig: (dir: string) => string; note: (file: string) => RegExp; env?: NodeJS.ProcessEnv }[] = [
  { name: 'a missing cluster', kubeconfig: () => 'apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: gone, user: u}}]\nusers: [{name: u, user: {token: t}}]\n', note: (f) => new RegExp(`^krew-wasm: cluster "gone" does not exist in ${esc(f)}: requests of plugin probe are refused$`) },
  { name: 'a missing user', kubeconfig: () => "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\ncontexts: [{name: c, context: {cluster: k, user: gone}}]\n", note: (f) => new RegExp(`^krew-wasm: user "gone" does not exist in ${esc(f)}: requests of plugin probe are refused$`) },
  { name: 'no current context', kubeconfig: () => "apiVersion: v1\nkind: Config\nclusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n", note: (f) => new RegExp(`^krew-wasm: no cluster selected: set current-context or pass --context/--cluster \\(${esc(f)}\\): requests of plugin probe are refused$`) },
  { name: 'not YAML', kubeconfig: () => 'clusters: [unclosed\n', note: (f) => new RegExp(`^krew-wasm: kubeconfig ${esc(f)} is not valid YAML: .+: requests of plugin probe are refused$`) },
  { name: 'not a mapping', kubeconfig: () => '- a\n- b\n', note: (f) => new RegExp(`^krew-wasm: kubeconfig ${esc(f)} is not a mapping: requests of plugin probe are refused$`) },
  { name: 'not a list', kubeconfig: () => 'apiVersion: v1\nclusters: 3\n', note: (f) => new RegExp(`^krew-wasm: kubeconfig ${esc(f)}: "clusters" is not a list: requests of plugin probe are refused$`) },
  { name: 'a folder', kubeconfig: (dir) => `DIR:${dir}`, note: (f) => new RegExp(`^krew-wasm: kubeconfig ${esc(f)} is not a regular file \\(a directory\\): requests of plugin probe are refused$`) },
];

const withUser = (user: string, cluster = "{server: 'https://127.0.0.1:1'}") => `apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: ${cluster}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: ${user}}]\n`;
const execUser = (command: string) => withUser(`{exec: {apiVersion: client.authentication.k8s.io/v1, command: '${command}'}}`);
const credentialNotes: { name: string; kubeconfig: (dir: string) => string; note: RegExp }[] = [
  { name: 'an exec plugin that needs a terminal', kubeconfig: (d) => withUser(`{exec: {apiVersion: client.authentication.k8s.io/v1, command: '${script(d, 'login', 'exit 0')}', interactiveMode: Always}}`), note: /^krew-wasm: exec credential plugin .*\/login needs a terminal \(interactiveMode: Always\), which krew-wasm does not give credential plugins: requests of plugin probe fail$/ },
  { name: 'an exec plugin that is not installed', kubeconfig: () => execUser('no-such-credential-plugin'), note: /^krew-wasm: exec credential plugin no-such-credential-plugin was not found when the plugin started: requests of plugin probe fail$/ },
  { name: 'an exec plugin that fails', kubeconfig: (d) => execUser(script(d, 'fails', 'exit 7')), note: /^krew-wasm: exec credential plugin .*\/fails exited with status 7: requests of plugin probe fail$/ },
  { name: 'an exec plugin that prints garbage', kubeconfig: (d) => execUser(script(d, 'garbage', 'echo not-json')), note: /^krew-wasm: exec credential plugin .*\/garbage printed something that is not an ExecCredential: requests of plugin probe fail$/ },
  { name: 'an ExecCredential without status', kubeconfig: (d) => execUser(script(d, 'nostatus', `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}'`)), note: /^krew-wasm: exec credential plugin .*\/nostatus returned no ExecCredential status: requests of plugin probe fail$/ },
  { name: 'a token file that is missing', kubeconfig: (d) => withUser(`{tokenFile: '${d}/no-token'}`), note: /^krew-wasm: cannot read tokenFile .*\/no-token: ENOENT: requests of plugin probe fail$/ },
  { name: 'CA data that is not PEM', kubeconfig: () => withUser('{token: t}', `{server: 'https://127.0.0.1:1', certificate-authority-data: ${Buffer.from('not a certificate').toString('base64')}}`), note: /^krew-wasm: certificate-authority-data is not base64-encoded PEM: requests of plugin probe fail$/ },
];

function script(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** One sandbox with the httpprobe plugin installed as probe, shared by the serial kubeconfig tests. */
let probeSandbox: Sandbox | undefined;
async function probe(): Promise<Sandbox> {
  if (!probeSandbox) {
    probeSandbox = makeSandbox();
    const r = await krewWasm(probeSandbox, ['pull', `file://${path.join(FIXTURES, 'httpprobe.wasm')}`, '--name', 'probe']);
    if (r.exitCode !== 0) throw new Error(r.stderr);
  }
  return probeSandbox;
}
test.after.always(() => probeSandbox?.cleanup());

for (const c of [...kubeCases.map((k) => ({ ...k, noteFor: k.note })), ...credentialNotes.map((k) => ({ ...k, noteFor: () => k.note }))]) {
  test.serial(`a plugin under a broken kubeconfig (${c.name}) gets one note and refused requests`, async (t) => {
    const psb = await probe();
    const dir = fs.mkdtempSync(path.join(psb.home, 'kube-'));
    const text = c.kubeconfig(dir);
    let file = path.join(dir, 'config');
    if (text.startsWith('DIR:')) file = dir;
    else fs.writeFileSync(file, text);
    const r = await kubectl(psb, ['probe', 'get', '/version', 'get', '/api'], { env: { KUBECONFIG: file } });
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.stdout, /^get \/version -> err (destination-not-allowed|runtime-error)\nget \/api -> err (destination-not-allowed|runtime-error)\n$/);
    const lines = r.stderr.split('\n').filter(Boolean);
    t.is(lines.length, 1, r.stderr);
    t.regex(lines[0], c.noteFor(file));
  });
}

test.serial('with KREW_WASM_VERBOSE=1 a failed request names the transport failure', async (t) => {
  const psb = await probe();
  const file = path.join(psb.home, 'refused-config');
  fs.writeFileSync(file, withUser('{token: t}', "{server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}"));
  const r = await kubectl(psb, ['probe', 'get', '/version'], { env: { KUBECONFIG: file, KREW_WASM_VERBOSE: '1' } });
  t.regex(r.stdout, /^get \/version -> err [a-z-]+\n$/);
  t.regex(r.stderr, /^krew-wasm: request to https:\/\/127\.0\.0\.1:1 failed: .+$/m);
});

test("info --wit prints a component's docs, its author's text, with nothing a terminal acts on; the info table its annotations alike (attack 87)", async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  // A component's package docs: a custom section `package-docs`, a version byte then JSON.
  const docs = Buffer.concat([Buffer.from([0]), Buffer.from(JSON.stringify({ docs: `x${FAKE}\u202eevil` }))]);
  const name = Buffer.from('package-docs');
  const payload = Buffer.concat([leb(name.length), name, docs]);
  const file = await wasmFile('documented', Buffer.concat([hello, Buffer.from([0]), leb(payload.length), payload]));
  t.is((await krewWasm(side, ['pull', file, '--name', 'documented'])).exitCode, 0);
  const wit = await krewWasm(side, ['info', 'documented', '--wit']);
  t.is(wit.exitCode, 0, wit.stderr);
  t.true(wit.stdout.includes('/// x??[2K?[32mInstalled plugin "hello" as kubectl-hello?[0m?8m?evil\n'), wit.stdout);
  t.false(/[\x1b\r\u009b\u202e]/.test(wit.stdout));
  const layout = path.join(side.home, 'layout');
  // Annotations that hold what a terminal acts on are not kept (C0 but line breaks and tabs, C1, bidi).
  writeLayout(layout, 'v1', hello, { manifest: {
    'org.opencontainers.image.title': 'annotated',
    'org.opencontainers.image.description': `d\u202eevil\u2066x`,
    'org.opencontainers.image.authors': 'csi\u009b2J',
    'org.opencontainers.image.vendor': 'two\tcolumns\nand lines',
  } });
  t.is((await krewWasm(side, ['pull', `oci-layout://${layout}:v1`])).exitCode, 0);
  const kept = JSON.parse((await krewWasm(side, ['info', 'annotated', '-o', 'json'])).stdout).annotations;
  t.deepEqual(Object.keys(kept).sort(), ['org.opencontainers.image.ref.name', 'org.opencontainers.image.title', 'org.opencontainers.image.vendor']);
  t.is(kept['org.opencontainers.image.vendor'], 'two\tcolumns\nand lines');
  const info = await krewWasm(side, ['info', 'annotated']);
  t.false(/[\u202e\u2066\u009b]/.test(info.stdout));
  // A path the user typed is theirs to keep; in JSON it is escaped, in a table a ?.
  const folder = path.join(side.home, 'odd\u009b2J\u202efolder');
  writeLayout(folder, 'v1', hello, { manifest: { 'org.opencontainers.image.title': 'odd' } });
  t.is((await krewWasm(side, ['pull', `oci-layout://${folder}:v1`])).exitCode, 0);
  const json = (await krewWasm(side, ['list', '-o', 'json'])).stdout;
  t.true(json.includes('odd\\u009b2J\\u202efolder'), json);
  t.is(JSON.parse(json).find((p: { name: string }) => p.name === 'odd').source, `oci-layout://${folder}:v1`, 'the same data');
  const table = (await krewWasm(side, ['info', 'odd'])).stdout;
  t.regex(table, /odd\?2J\?folder/);
  // In YAML every value double-quoted then, those characters YAML's escapes (attack 90).
  const yaml = (await krewWasm(side, ['list', '-o', 'yaml'])).stdout;
  t.true(yaml.includes('odd\\x9B2J\\u202efolder'), yaml);
  const { load } = await import('js-yaml');
  t.is((load(yaml) as { name: string; source: string }[]).find((p) => p.name === 'odd')!.source, `oci-layout://${folder}:v1`, 'the same data');
  t.false(/[\u202e\u009b]/.test(table + json + yaml));
});

function leb(n: number): Buffer {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.from(out);
}

test('annotations past their bounds are dropped: a pull never writes a receipt that would not read back (attack 87)', async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  // 3-byte characters, 4096 of them (the bound of one value, counted in characters), and lone
  // surrogates, which a receipt would write as 6-byte escapes: 1.5 MB of receipt before.
  const annotations: Record<string, string> = { 'org.opencontainers.image.title': 'bounded' };
  for (let i = 0; i < 31; i++) annotations[`org.example.wide${i}`] = '€'.repeat(4096);
  for (let i = 0; i < 32; i++) annotations[`org.example.lone${i}`] = '\ud800'.repeat(4096);
  const layout = path.join(side.home, 'layout');
  writeLayout(layout, 'v1', hello, { manifest: annotations });
  const pulled = await krewWasm(side, ['pull', `oci-layout://${layout}:v1`]);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const file = path.join(side.root, 'receipts/bounded.json');
  t.true(fs.statSync(file).size < 80 * 1024, `${fs.statSync(file).size} bytes`);
  const kept = JSON.parse(fs.readFileSync(file, 'utf8')).annotations as Record<string, string>;
  const wide = Object.keys(kept).filter((k) => k.startsWith('org.example.wide'));
  t.is(wide.length, 5, 'as many whole values as 64 KiB holds, in their order');
  t.true(wide.every((k, i) => k === `org.example.wide${i}` && kept[k] === '€'.repeat(4096)));
  t.false(Object.keys(kept).some((k) => k.startsWith('org.example.lone')), 'no lone surrogate');
  const list = await krewWasm(side, ['list']);
  t.is(list.stderr, '', 'no damaged receipt');
  t.is(list.stdout, 'bounded\n');
  t.is((await krewWasm(side, ['info', 'bounded'])).exitCode, 0);
});

test('a pull whose receipt would not read back is refused before anything is written: a file source longer than a receipt keeps (attack 89)', async (t) => {
  // A path Linux opens (under 4096 bytes) whose file:// source is past the 4096 characters a receipt's reader takes.
  let dir = path.join(sb.home, 'deep');
  while (dir.length < 4096 - 250) dir = path.join(dir, 'd'.repeat(200));
  const file = path.join(dir, `${'f'.repeat(4090 - dir.length - 6)}.wasm`);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(FIXTURES, 'hello.wasm'), file);
  t.true(file.length <= 4090 && `file://${file}`.length > 4096);
  await refused(t, ['pull', file, '--name', 'longsource'], /^krew-wasm: error: the receipt of plugin "longsource" would not read back \(source is not a reference\): nothing was written$/);
});

test("a layout folder whose name a reference would read as a tag is refused; a hint that names a source quotes it for the shell (attack 90)", async (t) => {
  const side = makeSandbox();
  t.teardown(side.cleanup);
  const colon = path.join(side.home, 'rel:2');
  writeLayout(colon, 'v1', hello, { manifest: { 'org.opencontainers.image.title': 'pods' } });
  for (const [args, cwd] of [[['pull', `oci-layout://${colon}/`], side.home], [['pull', 'oci-layout://.'], colon]] as const) {
    const r = await krewWasm(side, [...args], { cwd });
    t.is(r.exitCode, 1, r.stderr);
    t.is(theError(r.stderr), `krew-wasm: error: the OCI layout folder ${colon} has a ":" or "@" in its name, which a reference cannot tell from a tag or a digest (rename the folder, or give it through a symbolic link whose name has neither)`);
  }
  // Following the hint: a link without one.
  fs.symlinkSync(colon, path.join(side.home, 'rel2'));
  t.is((await krewWasm(side, ['pull', `oci-layout://${side.home}/rel2:v1`])).exitCode, 0);
  // A folder named to run a command where its name is pasted into a shell: quoted in the hint.
  const odd = path.join(side.home, 'pods$(touch${IFS}PWNED)');
  writeLayout(odd, 'v1', hello, { manifest: { 'org.opencontainers.image.title': 'pods' } });
  const r = await krewWasm(side, ['pull', '--force', `oci-layout://${odd}:v1`]);
  t.is(theError(r.stderr), `krew-wasm: error: the artifact names itself "pods", and plugin "pods" is installed from oci-layout://${side.home}/rel2:v1: --force replaces a plugin of that name only when you give the name (to replace it: krew-wasm pull --force --name pods 'oci-layout://${odd}:v1'; or install this one under another --name)`);
  const hint = /\(to replace it: (krew-wasm pull .*); or install/.exec(r.stderr)![1];
  const pasted = await runProcess('bash', ['-c', hint.replace(/^krew-wasm /, `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} `)], { env: side.env, cwd: side.home });
  t.is(pasted.exitCode, 0, pasted.stderr);
  t.false(fs.existsSync(path.join(side.home, 'PWNED')), 'nothing ran');
});

test('started in a folder that was removed: a command says so in one line, and does its work again from a folder that exists; a plugin runs with no cwd', async (t) => {
  const box = makeSandbox();
  t.teardown(() => box.cleanup());
  const pulled = await krewWasm(box, ['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--name', 'hello']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const gone = path.join(box.home, 'gone');
  fs.mkdirSync(gone);
  // A shell that stands in the folder, removes it, then starts the command there.
  const inRemoved = (...argv: string[]) => runProcess('sh', ['-c', 'cd "$0" && rmdir "$0" && exec "$@"', gone, ...argv], { cwd: box.home, env: box.env });
  const listed = await inRemoved(process.execPath, BIN, 'list');
  t.is(listed.exitCode, 1);
  const error = theError(listed.stderr);
  t.is(error, 'krew-wasm: error: the folder krew-wasm was started in no longer exists (cd to a folder that exists and run it again)');
  // The hint, followed: from HOME, which exists.
  const again = await krewWasm(box, ['list']);
  t.is(again.exitCode, 0, again.stderr);
  t.regex(again.stdout, /^hello\b/m);
  fs.mkdirSync(gone);
  const ran = await inRemoved(path.join(box.root, 'bin', 'kubectl-hello'));
  t.is(ran.exitCode, 0, ran.stderr);
  t.is(ran.stdout, 'hello from wasm\n');
  // Paths the environment gives relative to the removed folder: a relative KUBECONFIG (read for
  // a plugin granted --fs kubeconfig) or KREW_WASM_ROOT. Each gave Node's own `uv_cwd` failure
  // with a stack trace.
  t.is((await krewWasm(box, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'kprobe', '--fs', 'kubeconfig'])).exitCode, 0);
  fs.mkdirSync(path.join(box.home, '.kube'), { recursive: true });
  fs.writeFileSync(path.join(box.home, '.kube', 'config'), "current-context: s\nclusters: [{name: s, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: s, user: {token: t}}]\ncontexts: [{name: s, context: {cluster: s, user: s}}]\n");
  const kprobe = path.join(box.root, 'bin', 'kubectl-kprobe');
  const inRemovedWith = (env: NodeJS.ProcessEnv, ...argv: string[]) => {
    fs.mkdirSync(gone);
    return runProcess('sh', ['-c', 'cd "$0" && rmdir "$0" && exec "$@"', gone, ...argv], { cwd: box.home, env: { ...box.env, ...env } });
  };
  // A relative KUBECONFIG names no file there, as client-go finds none (its open fails): the
  // plugin sees no kubeconfig, as without one.
  const config = path.join(box.home, '.kube', 'config');
  const unseen = await inRemovedWith({ KUBECONFIG: '.kube/config' }, kprobe, 'read', config);
  t.is(unseen.exitCode, 0, unseen.stderr);
  t.is(unseen.stderr, '');
  t.is(unseen.stdout, `read ${config}: ERR Capabilities insufficient\n`);
  // (A relative HOME there ends Node itself before any script runs: its module paths need it.)
  for (const [env, argv] of [
    [{ KREW_WASM_ROOT: 'store' }, [kprobe]],
    [{ KREW_WASM_ROOT: 'store' }, [process.execPath, BIN, 'list']],
  ] as const) {
    const r = await inRemovedWith(env, ...argv);
    t.is(r.exitCode, 1, `${JSON.stringify(env)} ${r.stdout}`);
    t.is(r.stderr, 'krew-wasm: error: the folder krew-wasm was started in no longer exists (cd to a folder that exists and run it again)\n', JSON.stringify(env));
  }
  // From HOME, .kube/config names the kubeconfig.
  const read = await runProcess(kprobe, ['read', config], { cwd: box.home, env: { ...box.env, KUBECONFIG: '.kube/config' } });
  t.is(read.exitCode, 0, read.stderr);
  t.regex(read.stdout, /: OK \{[\s\S]*"current-context": "s"/);
});
