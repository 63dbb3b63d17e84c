import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pushWithCurl, request, writeLayoutOf } from '../../testkit/artifacts.js';
import { FIXTURES, krewWasm, makeSandbox, runLink, theError, type Sandbox } from '../helpers/cli.js';
import { startFaultProxy, type FaultProxy } from '../helpers/faultProxy.js';
import { createPki, type TestPki } from '../../testkit/pki.js';
import { startRegistry, type TestRegistry } from '../../testkit/registry.js';
import { startTokenServer, type TokenServer } from '../helpers/tokenServer.js';

// Issue 9 "push" and "tags", proven against the real registry (Debian docker-registry) and an
// independent client (skopeo): what krew-wasm pushes, skopeo pulls; what skopeo or curl push in
// each supported layout, krew-wasm pulls.
const helloFile = path.join(FIXTURES, 'hello.wasm');
const hello = fs.readFileSync(helloFile);
const creds = { user: 'alice', password: 's3cret' };
let pki: TestPki;
let plain: TestRegistry;
let proxy: FaultProxy;
let basic: TestRegistry;
let tls: TestRegistry;
let tokens: TokenServer;
let tokenRegistry: TestRegistry;
let sb: Sandbox;

test.before(async () => {
  pki = createPki();
  plain = await startRegistry();
  proxy = await startFaultProxy(plain.url);
  basic = await startRegistry({ htpasswd: creds });
  tls = await startRegistry({ tls: pki.server('registry') });
  const signer = pki.signer('token-signer');
  tokens = await startTokenServer(signer, creds);
  tokenRegistry = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: signer.cert } });
  sb = makeSandbox();
});

test.after.always(async () => {
  await proxy?.stop();
  await Promise.all([plain, basic, tls, tokenRegistry].map((r) => r?.stop()));
  await tokens?.stop();
  sb?.cleanup();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

async function ok(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await krewWasm(sb, args, { env });
  if (r.exitCode !== 0) throw new Error(`krew-wasm ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** Requests the proxy saw while `fn` ran. */
async function seen(fn: () => Promise<unknown>): Promise<string[]> {
  const before = proxy.requests.length;
  await fn();
  return proxy.requests.slice(before);
}

const getJson = async (url: string, accept = 'application/vnd.oci.image.manifest.v1+json') =>
  JSON.parse((await request(new URL(url), 'GET', undefined, { Accept: accept })).body.toString());

test.serial('push then pull: the plugin round-trips, with its annotations; stdout is the reference pinned by digest', async (t) => {
  const push = await ok(['push', '--plain-http', helloFile, `${plain.host}/plugins/hello:1.0`, '--version', '1.0', '--description', 'Says hello', '--source', 'https://example.com/hello', '--annotation', 'org.opencontainers.image.licenses=Apache-2.0']);
  t.regex(push.stdout, new RegExp(`^${plain.host}/plugins/hello@sha256:[0-9a-f]{64}\\n$`));
  t.regex(push.stderr, /Pushed 127\.0\.0\.1:\d+\/plugins\/hello:1\.0 \(sha256:[0-9a-f]{12}\)/);
  const digest = push.stdout.trim().split('@')[1];
  await ok(['pull', '--plain-http', `${plain.host}/plugins/hello:1.0`, '--name', 'roundtrip']);
  t.is((await runLink(sb, 'roundtrip', [])).stdout, 'hello from wasm\n');
  const info = JSON.parse((await ok(['info', 'roundtrip', '-o', 'json'])).stdout);
  t.is(info.manifestDigest, digest);
  t.is(info.annotations['org.opencontainers.image.version'], '1.0');
  t.is(info.annotations['org.opencontainers.image.licenses'], 'Apache-2.0');
  t.regex((await ok(['info', 'roundtrip'])).stdout, /Description: Says hello\nVersion: {5}1\.0\nProject: {5}https:\/\/example\.com\/hello\nLicenses: {4}Apache-2\.0\n/);
});

test.serial('push writes the CNCF wasm layout exactly: config, WIT world, one titled application/wasm layer', async (t) => {
  await ok(['push', '--plain-http', helloFile, `${plain.host}/plugins/layout:1.0`]);
  const manifest = await getJson(`${plain.url}/v2/plugins/layout/manifests/1.0`);
  t.is(manifest.schemaVersion, 2);
  t.is(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  t.is(manifest.config.mediaType, 'application/vnd.wasm.config.v0+json');
  t.is(manifest.layers.length, 1);
  t.deepEqual(manifest.layers[0].annotations, { 'org.opencontainers.image.title': 'hello.wasm' });
  t.is(manifest.layers[0].mediaType, 'application/wasm');
  t.is(manifest.layers[0].size, hello.length);
  const config = JSON.parse((await request(new URL(`${plain.url}/v2/plugins/layout/blobs/${manifest.config.digest}`), 'GET')).body.toString());
  t.is(config.architecture, 'wasm');
  t.is(config.os, 'wasip2');
  t.deepEqual(config.layerDigests, [manifest.layers[0].digest]);
  t.deepEqual(config.component, { exports: ['wasi:cli/run@0.2.12'], imports: ['wasi:io/error@0.2.12', 'wasi:io/streams@0.2.12', 'wasi:cli/stdout@0.2.12'], target: null });
  t.truthy(Date.parse(config.created));
  // A WASI preview1 command module: os wasip1, no component world.
  await ok(['push', '--plain-http', path.join(FIXTURES, 'fsprobe.core.wasm'), `${plain.host}/plugins/fsprobe:1.0`]);
  const p1 = await getJson(`${plain.url}/v2/plugins/fsprobe/manifests/1.0`);
  const p1config = JSON.parse((await request(new URL(`${plain.url}/v2/plugins/fsprobe/blobs/${p1.config.digest}`), 'GET')).body.toString());
  t.is(p1config.os, 'wasip1');
  t.is(p1config.component, undefined);
});

test.serial('skopeo, an independent client, pulls what krew-wasm pushed, byte for byte', async (t) => {
  const pushed = (await ok(['push', '--plain-http', helloFile, `${plain.host}/plugins/forskopeo:1.0`])).stdout.trim();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-skopeo-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${plain.host}/plugins/forskopeo:1.0`, `oci:${dir}:1.0`], { stdio: 'pipe' });
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  t.is(index.manifests[0].digest, pushed.split('@')[1], 'skopeo kept the manifest digest krew-wasm printed');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  t.deepEqual(fs.readFileSync(path.join(dir, 'blobs/sha256', manifest.layers[0].digest.slice(7))), hello);
  const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--config', '--raw', `docker://${plain.host}/plugins/forskopeo:1.0`], { encoding: 'utf8' }));
  t.is(inspected.architecture, 'wasm');
  // And back: the layout skopeo wrote installs by its title annotation-less layer file name.
  await ok(['pull', `oci-layout://${dir}:1.0`]);
  t.is((await runLink(sb, 'hello', [])).stdout, 'hello from wasm\n');
});

for (const layout of ['cncf', 'wasm-to-oci', 'oci11', 'index'] as const) {
  test.serial(`an artifact skopeo pushed in the ${layout} layout is pulled by krew-wasm`, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-layout-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    writeLayoutOf(dir, layout, 'v1', hello);
    execFileSync('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${dir}:v1`, `docker://${plain.host}/byskopeo/${layout}:v1`], { stdio: 'pipe' });
    await ok(['pull', '--plain-http', `${plain.host}/byskopeo/${layout}:v1`, '--name', `skopeo-${layout}`]);
    t.is((await runLink(sb, `skopeo-${layout}`, [])).stdout, 'hello from wasm\n');
  });
}

test.serial('an artifact curl pushed as a Docker v2 manifest is pulled by krew-wasm', async (t) => {
  pushWithCurl({ url: plain.url, repo: 'bycurl/docker', tag: 'v1' }, 'docker', hello);
  await ok(['pull', '--plain-http', `${plain.host}/bycurl/docker:v1`, '--name', 'curl-docker']);
  t.is((await runLink(sb, 'curl-docker', [])).stdout, 'hello from wasm\n');
});

test.serial('upload: monolithic by default, chunked (PATCH with Content-Range) above --chunk-size; a blob the repository has is not sent again', async (t) => {
  const mono = await seen(() => ok(['push', '--plain-http', helloFile, `${proxy.host}/up/mono:1`]));
  t.false(mono.some((l) => l.startsWith('PATCH')));
  t.is(mono.filter((l) => /^PUT \/v2\/up\/mono\/blobs\/uploads\/.*digest=sha256/.test(l)).length, 2, 'config and layer, each one PUT');
  const chunked = await seen(() => ok(['push', '--plain-http', '--chunk-size', '1024', helloFile, `${proxy.host}/up/chunked:1`]));
  t.is(chunked.filter((l) => l.startsWith('PATCH /v2/up/chunked/blobs/uploads/')).length, Math.ceil(hello.length / 1024));
  await ok(['pull', '--plain-http', `${proxy.host}/up/chunked:1`, '--name', 'chunked']);
  t.is((await runLink(sb, 'chunked', [])).stdout, 'hello from wasm\n');
  const again = await krewWasm(sb, ['push', '--plain-http', helloFile, `${proxy.host}/up/chunked:2`]);
  t.is(again.exitCode, 0, again.stderr);
  t.regex(again.stderr, /hello\.wasm: already in the repository/);
});

test.serial('an upload location on another origin is refused: credentials go only to the registry', async (t) => {
  const rewriting = await startFaultProxy(plain.url, { rewriteHost: true });
  t.teardown(() => rewriting.stop());
  const r = await krewWasm(sb, ['push', '--plain-http', helloFile, `${rewriting.host}/up/elsewhere:1`]);
  t.is(r.exitCode, 1);
  t.is(theError(r.stderr), `krew-wasm: error: ${rewriting.host}: the registry named an upload location on another origin (${plain.url}); refused, credentials go only to the registry`);
});

test.serial('cross-repository mount: a layer another repository of the registry has is mounted, not uploaded', async (t) => {
  await ok(['push', '--plain-http', helloFile, `${proxy.host}/mount/a:1`]);
  const explicit = await seen(async () => {
    const r = await ok(['push', '--plain-http', '--mount-from', 'mount/a', helloFile, `${proxy.host}/mount/b:1`]);
    t.regex(r.stderr, /hello\.wasm: mounted from mount\/a/);
  });
  t.true(explicit.some((l) => /^POST \/v2\/mount\/b\/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=mount%2Fa$/.test(l)), explicit.join('\n'));
  t.false(explicit.some((l) => /^(PATCH|PUT) \/v2\/mount\/b\/blobs\/uploads\//.test(l) && !/digest=sha256%3A[0-9a-f]{64}$/.test(l)));
  t.is(explicit.filter((l) => /^PUT \/v2\/mount\/b\/blobs\/uploads\//.test(l)).length, 1, 'only the config was uploaded');
  // Without --mount-from: an installed plugin pulled from that registry names the repository.
  const other = makeSandbox();
  t.teardown(other.cleanup);
  t.is((await krewWasm(other, ['pull', '--plain-http', `${proxy.host}/mount/a:1`, '--name', 'mounted-source'])).exitCode, 0);
  const automatic = await krewWasm(other, ['push', '--plain-http', helloFile, `${proxy.host}/mount/c:1`]);
  t.is(automatic.exitCode, 0, automatic.stderr);
  t.regex(automatic.stderr, /hello\.wasm: mounted from mount\/a/);
});

test.serial('push uses the credentials, TLS options and --plain-http of pull', async (t) => {
  const anonymous = await krewWasm(sb, ['push', '--plain-http', helloFile, `${basic.host}/plugins/hello:1`]);
  t.is(anonymous.exitCode, 1);
  t.is(theError(anonymous.stderr), `krew-wasm: error: ${basic.host}: authentication required (log in first: docker login ${basic.host})`);
  const docker = path.join(sb.home, '.docker');
  fs.mkdirSync(docker, { recursive: true });
  fs.writeFileSync(path.join(docker, 'config.json'), JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from(`${creds.user}:${creds.password}`).toString('base64') } } }));
  t.teardown(() => fs.rmSync(path.join(docker, 'config.json'), { force: true }));
  await ok(['push', '--plain-http', helloFile, `${basic.host}/plugins/hello:1`]);
  await ok(['pull', '--plain-http', `${basic.host}/plugins/hello:1`, '--name', 'from-basic']);
  const untrusted = await krewWasm(sb, ['push', helloFile, `${tls.host}/plugins/hello:1`]);
  t.regex(theError(untrusted.stderr), /^krew-wasm: error: TLS verification of https:\/\/127\.0\.0\.1:\d+ failed: .*--ca-file/);
  await ok(['push', '--ca-file', pki.caCert, helloFile, `${tls.host}/plugins/hello:1`]);
  await ok(['pull', '--ca-file', pki.caCert, `${tls.host}/plugins/hello:1`, '--name', 'from-tls']);
  t.is((await runLink(sb, 'from-tls', [])).stdout, 'hello from wasm\n');
});

test.serial('push through token auth: a token scoped pull,push from the docker credentials', async (t) => {
  const docker = path.join(sb.home, '.docker');
  fs.mkdirSync(docker, { recursive: true });
  fs.writeFileSync(path.join(docker, 'config.json'), JSON.stringify({ auths: { [tokenRegistry.host]: { auth: Buffer.from(`${creds.user}:${creds.password}`).toString('base64') } } }));
  t.teardown(() => fs.rmSync(path.join(docker, 'config.json'), { force: true }));
  await ok(['push', '--plain-http', helloFile, `${tokenRegistry.host}/plugins/hello:1`]);
  await ok(['pull', '--plain-http', `${tokenRegistry.host}/plugins/hello:1`, '--name', 'from-token']);
  t.is((await runLink(sb, 'from-token', [])).stdout, 'hello from wasm\n');
});

const refusals: { title: string; args: () => string[]; message: RegExp }[] = [
  { title: 'a file that is not wasm', args: () => ['push', '--plain-http', path.join(FIXTURES, '..', 'src', 'hello.wat'), `${plain.host}/x/y:1`], message: /^krew-wasm: error: not a WebAssembly binary \(bad magic number\)/ },
  { title: 'a reference with a digest', args: () => ['push', '--plain-http', helloFile, `${plain.host}/x/y@sha256:${'a'.repeat(64)}`], message: /^krew-wasm: error: cannot push to .*: a digest names content that already exists \(push to a tag, e.g\. registry\/repo:1\.0\)$/ },
  { title: 'a folder', args: () => ['push', '--plain-http', FIXTURES, `${plain.host}/x/y:1`], message: /^krew-wasm: error: cannot push .*\/fixtures\/build: it is a directory, not a regular file$/ },
  { title: 'a component that does not parse', args: () => ['push', '--plain-http', brokenComponent(), `${plain.host}/x/y:1`], message: /^krew-wasm: error: not a valid component: / },
  { title: 'a malformed annotation', args: () => ['push', '--plain-http', helloFile, `${plain.host}/x/y:1`, '--annotation', 'novalue'], message: /^krew-wasm: error: invalid --annotation "novalue": expected key=value/ },
];

/** The component magic and version, then garbage. */
function brokenComponent(): string {
  const file = path.join(sb.home, 'broken.wasm');
  fs.writeFileSync(file, Buffer.concat([Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]), Buffer.from('garbage garbage garbage')]));
  return file;
}

for (const c of refusals) {
  test.serial(`push refuses ${c.title} in one line`, async (t) => {
    const r = await krewWasm(sb, c.args());
    t.not(r.exitCode, 0);
    t.regex(theError(r.stderr), c.message);
    t.is(r.stdout, '');
  });
}

test.serial('tags: every tag of a repository, page by page along the Link header', async (t) => {
  for (const tag of ['1.0', '1.1', '2.0', 'beta', 'latest']) await ok(['push', '-q', '--plain-http', helloFile, `${plain.host}/tagged/hello:${tag}`]);
  // Debian's registry sends every tag at once whatever ?n= says; the proxy serves them the way the
  // distribution spec allows registries to: n at a time, with a Link to the next page.
  proxy.rules = [{ match: /\/tags\/list/, fault: 'paginate-tags', times: Infinity }];
  t.teardown(() => { proxy.rules = []; });
  const requests = await seen(async () => {
    const r = await ok(['tags', '--plain-http', '--page-size', '2', `${proxy.host}/tagged/hello`]);
    t.deepEqual(r.stdout, '1.0\n1.1\n2.0\nbeta\nlatest\n');
  });
  t.deepEqual(requests.filter((l) => l.startsWith('GET /v2/tagged/hello/tags/list')), [
    'GET /v2/tagged/hello/tags/list?n=2',
    'GET /v2/tagged/hello/tags/list?n=2&last=1.1',
    'GET /v2/tagged/hello/tags/list?n=2&last=beta',
  ]);
  proxy.rules = [];
  const json = JSON.parse((await ok(['tags', '--plain-http', '-o', 'json', `${plain.host}/tagged/hello`])).stdout);
  t.is(json.repository, `${plain.host}/tagged/hello`);
  t.is(json.tags.length, 5);
  const missing = await krewWasm(sb, ['tags', '--plain-http', `${plain.host}/no/such`]);
  t.is(missing.exitCode, 1);
  t.regex(theError(missing.stderr), /^krew-wasm: error: tags of 127\.0\.0\.1:\d+\/no\/such: not found on .* \(NAME_UNKNOWN/);
});
