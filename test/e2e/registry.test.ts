import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { pushArtifact, type Layout } from '../../testkit/artifacts.js';
import { FIXTURES, krewWasm, makeSandbox, runLink, storeSnapshot, theError } from '../helpers/cli.js';
import { createPki, type TestPki } from '../../testkit/pki.js';
import { blobDataPath, startRegistry, type TestRegistry } from '../../testkit/registry.js';
import { startTokenServer, type TokenServer } from '../helpers/tokenServer.js';

const hello = fs.readFileSync(path.join(FIXTURES, 'hello.wasm'));
const creds = { user: 'alice', password: 's3cret' };
let pki: TestPki;
let plain: TestRegistry;
let tls: TestRegistry;
let basic: TestRegistry;
let tokenRegistry: TestRegistry;
let tokens: TokenServer;

test.before(async () => {
  pki = createPki();
  plain = await startRegistry();
  tls = await startRegistry({ tls: pki.server('registry') });
  basic = await startRegistry({ htpasswd: creds });
  const signer = pki.signer('token-signer');
  tokens = await startTokenServer(signer, creds);
  tokenRegistry = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: signer.cert } });
  for (const layout of ['cncf', 'wasm-to-oci', 'oci11', 'docker', 'index', 'container-image'] as Layout[]) {
    await pushArtifact({ url: plain.url, repo: `layouts/${layout}`, tag: 'v1' }, layout, hello);
  }
  await pushArtifact({ url: plain.url, repo: 'bad/not-wasm', tag: 'v1' }, 'cncf', Buffer.from('#!/bin/sh\necho not wasm\n'));
  await pushArtifact({ url: tls.url, repo: 'plugins/hello', tag: 'v1', ca: pki.caCert }, 'cncf', hello);
  await pushArtifact({ url: basic.url, repo: 'plugins/hello', tag: 'v1', auth: creds }, 'cncf', hello);
  await pushArtifact({ url: tokenRegistry.url, repo: 'plugins/hello', tag: 'v1', auth: creds }, 'cncf', hello);
});

test.after.always(async () => {
  await Promise.all([plain, tls, basic, tokenRegistry].map((r) => r?.stop()));
  await tokens?.stop();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

for (const layout of ['cncf', 'wasm-to-oci', 'oci11', 'docker', 'index'] as const) {
  test(`pulls the ${layout} artifact layout and runs it`, async (t) => {
    const sb = makeSandbox();
    t.teardown(sb.cleanup);
    const r = await krewWasm(sb, ['pull', '--plain-http', '--name', 'hello', `${plain.host}/layouts/${layout}:v1`]);
    t.is(r.exitCode, 0, r.stderr);
    const run = await runLink(sb, 'hello', []);
    t.is(run.stdout, 'hello from wasm\n');
    const receipt = JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/hello.json'), 'utf8'));
    if (layout === 'oci11') t.is(receipt.mediaTypes.artifactType, 'application/vnd.krew-wasm.plugin.v1+wasm');
    if (layout === 'index') t.is(receipt.mediaTypes.config, 'application/vnd.wasm.config.v0+json');
  });
}

test('pull by digest verifies the manifest against that digest', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const pushed = await pushArtifact({ url: plain.url, repo: 'bydigest/hello', tag: 'v1' }, 'cncf', hello);
  const r = await krewWasm(sb, ['pull', '--plain-http', `${plain.host}/bydigest/hello@${pushed.manifestDigest}`]);
  t.is(r.exitCode, 0, r.stderr);
  const receipt = JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/hello.json'), 'utf8'));
  t.is(receipt.manifestDigest, pushed.manifestDigest);
});

test('TLS registry: refused without the CA, accepted with --ca-file or --insecure', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const ref = `${tls.host}/plugins/hello:v1`;
  const refused = await krewWasm(sb, ['pull', ref]);
  t.is(refused.exitCode, 1);
  t.regex(theError(refused.stderr), /^krew-wasm: error: TLS verification of https:\/\/127\.0\.0\.1:\d+ failed: .*--ca-file.*$/);
  t.deepEqual(storeSnapshot(sb.root), []);
  const withCa = await krewWasm(sb, ['pull', '--ca-file', pki.caCert, ref]);
  t.is(withCa.exitCode, 0, withCa.stderr);
  const insecure = await krewWasm(sb, ['pull', '--insecure', '--force', ref]);
  t.is(insecure.exitCode, 0, insecure.stderr);
  t.is((await runLink(sb, 'hello', [])).stdout, 'hello from wasm\n');
});

test('--plain-http against a TLS registry says so in one line, and following the hint works', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const ref = `${tls.host}/plugins/hello:v1`;
  const plainHttp = await krewWasm(sb, ['pull', '--plain-http', '--ca-file', pki.caCert, ref]);
  t.is(plainHttp.exitCode, 1);
  t.regex(theError(plainHttp.stderr), /^krew-wasm: error: manifest .*: 127\.0\.0\.1:\d+ speaks HTTPS, and --plain-http sent it plain HTTP \(status 400\) \(drop --plain-http\)$/);
  const followed = await krewWasm(sb, ['pull', '--ca-file', pki.caCert, ref]);
  t.is(followed.exitCode, 0, followed.stderr);
});

test('Basic auth: anonymous is refused with a login hint; docker config auths are used', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const ref = `${basic.host}/plugins/hello:v1`;
  const anonymous = await krewWasm(sb, ['pull', '--plain-http', ref]);
  t.is(anonymous.exitCode, 1);
  t.is(theError(anonymous.stderr), `krew-wasm: error: ${basic.host}: authentication required (log in first: docker login ${basic.host})`);
  fs.mkdirSync(path.join(sb.home, '.docker'), { recursive: true });
  const auth = Buffer.from(`${creds.user}:${creds.password}`).toString('base64');
  fs.writeFileSync(path.join(sb.home, '.docker/config.json'), JSON.stringify({ auths: { [basic.host]: { auth } } }));
  const r = await krewWasm(sb, ['pull', '--plain-http', ref]);
  t.is(r.exitCode, 0, r.stderr);
});

test('wrong credentials are refused with one line', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  fs.mkdirSync(path.join(sb.home, '.docker'), { recursive: true });
  const auth = Buffer.from(`${creds.user}:wrong`).toString('base64');
  fs.writeFileSync(path.join(sb.home, '.docker/config.json'), JSON.stringify({ auths: { [basic.host]: { auth } } }));
  const r = await krewWasm(sb, ['pull', '--plain-http', `${basic.host}/plugins/hello:v1`]);
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /^krew-wasm: error: 127\.0\.0\.1:\d+: access denied for repository:plugins\/hello:pull \(status 401\)/);
});

test('token auth: credentials from a docker credential helper are exchanged for a bearer token', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const helperDir = path.join(sb.home, 'helpers');
  fs.mkdirSync(helperDir);
  const helper = path.join(helperDir, 'docker-credential-krewtest');
  fs.writeFileSync(helper, `#!/bin/sh\nread host\n[ "$host" = "${tokenRegistry.host}" ] || { echo "credentials not found in native keychain"; exit 1; }\necho '{"ServerURL":"'$host'","Username":"${creds.user}","Secret":"${creds.password}"}'\n`, { mode: 0o755 });
  fs.mkdirSync(path.join(sb.home, '.docker'), { recursive: true });
  fs.writeFileSync(path.join(sb.home, '.docker/config.json'), JSON.stringify({ credHelpers: { [tokenRegistry.host]: 'krewtest' } }));
  const before = tokens.issued();
  const r = await krewWasm(sb, ['pull', '--plain-http', `${tokenRegistry.host}/plugins/hello:v1`], { env: { PATH: `${helperDir}:${process.env.PATH}` } });
  t.is(r.exitCode, 0, r.stderr);
  t.is(tokens.issued() - before, 1, 'one token serves the manifest and the blob requests');
  t.is((await runLink(sb, 'hello', [])).stdout, 'hello from wasm\n');
});

test('token auth without credentials: a clear refusal', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['pull', '--plain-http', `${tokenRegistry.host}/plugins/hello:v1`]);
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), /^krew-wasm: error: 127\.0\.0\.1:\d+: token server 127\.0\.0\.1:\d+ refused \(status 401\) \(log in first: docker login .*\)$/);
  t.deepEqual(storeSnapshot(sb.root), []);
});

test('a blob altered in the registry storage is rejected and nothing is installed', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const wasm = fs.readFileSync(path.join(FIXTURES, 'exitcode.wasm'));
  const pushed = await pushArtifact({ url: plain.url, repo: 'tampered/exitcode', tag: 'v1' }, 'cncf', wasm);
  const data = blobDataPath(plain.storageDir, pushed.layerDigest);
  const altered = Buffer.from(fs.readFileSync(data));
  altered[altered.length - 1] ^= 0xff;
  fs.writeFileSync(data, altered);
  const r = await krewWasm(sb, ['pull', '--plain-http', `${plain.host}/tampered/exitcode:v1`]);
  t.is(r.exitCode, 1);
  t.regex(theError(r.stderr), new RegExp(`^krew-wasm: error: blob ${pushed.layerDigest}: digest mismatch, expected ${pushed.layerDigest}, got sha256:[0-9a-f]{64}$`));
  t.deepEqual(storeSnapshot(sb.root).filter((e) => !e.endsWith('/')), []);
});

const badInputs: { title: string; args: (host: string) => string[]; message: RegExp }[] = [
  { title: 'malformed reference', args: () => ['pull', 'Not A Ref'], message: /^krew-wasm: error: invalid reference "Not A Ref": contains white space/ },
  { title: 'bad tag', args: (h) => ['pull', `${h}/x:bad tag!`], message: /^krew-wasm: error: invalid reference .*/ },
  { title: 'bad digest', args: (h) => ['pull', `${h}/x@sha256:1234`], message: /^krew-wasm: error: invalid reference ".*": bad digest "sha256:1234"/ },
  { title: 'unknown registry host', args: () => ['pull', 'no-such-host.invalid/x:1'], message: /^krew-wasm: error: cannot resolve registry host no-such-host\.invalid/ },
  { title: 'nothing listening', args: () => ['pull', '--plain-http', '127.0.0.1:1/x:1'], message: /^krew-wasm: error: cannot connect to http:\/\/127\.0\.0\.1:1: connection refused/ },
  { title: '404 repository', args: (h) => ['pull', '--plain-http', `${h}/no/such:v1`], message: /^krew-wasm: error: manifest 127\.0\.0\.1:\d+\/no\/such:v1: not found on 127\.0\.0\.1:\d+ \((NAME|MANIFEST)_UNKNOWN/ },
  { title: 'a container image, not a wasm artifact', args: (h) => ['pull', '--plain-http', `${h}/layouts/container-image:v1`], message: /^krew-wasm: error: .*not a wasm plugin artifact \(no wasm layer; found config application\/vnd\.oci\.image\.config\.v1\+json, layer application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip;/ },
  { title: 'a wasm layer that is not wasm', args: (h) => ['pull', '--plain-http', `${h}/bad/not-wasm:v1`], message: /^krew-wasm: error: not a WebAssembly binary \(bad magic number\)/ },
  { title: 'invalid --name', args: (h) => ['pull', '--plain-http', '--name', '../evil', `${h}/layouts/cncf:v1`], message: /^krew-wasm: error: invalid plugin name "\.\.\/evil"/ },
  { title: 'rm of an unknown name', args: () => ['rm', 'nope'], message: /^krew-wasm: error: plugin "nope" is not installed \(see krew-wasm list, or install it with krew-wasm pull <reference> --name nope\)$/ },
  { title: 'rm of two unknown names', args: () => ['rm', 'keep', 'nope', 'nada'], message: /^krew-wasm: error: plugins "nope", "nada" are not installed \(see krew-wasm list\)$/ },
  { title: 'run of an unknown plugin', args: () => ['run', 'nope'], message: /^krew-wasm: error: plugin "nope" is not installed \(see krew-wasm list, or install it with krew-wasm pull <reference> --name nope\)$/ },
];

for (const bad of badInputs) {
  test(`bad input, one line and exit 1, store unchanged: ${bad.title}`, async (t) => {
    const sb = makeSandbox();
    t.teardown(sb.cleanup);
    const setup = await krewWasm(sb, ['pull', '--plain-http', '--name', 'keep', `${plain.host}/layouts/cncf:v1`]);
    t.is(setup.exitCode, 0, setup.stderr);
    t.true(fs.existsSync(path.join(sb.root, 'receipts/keep.json')));
    const before = storeSnapshot(sb.root);
    const r = await krewWasm(sb, bad.args(plain.host));
    t.is(r.exitCode, 1);
    t.regex(theError(r.stderr), bad.message);
    t.deepEqual(storeSnapshot(sb.root), before);
  });
}

test('name clash: refused without --force, replaced with --force; a foreign kubectl-<name> is never overwritten', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const ref = `${plain.host}/layouts/cncf:v1`;
  t.is((await krewWasm(sb, ['pull', '--plain-http', '--name', 'hello', ref])).exitCode, 0);
  const before = storeSnapshot(sb.root);
  const clash = await krewWasm(sb, ['pull', '--plain-http', '--name', 'hello', `${plain.host}/layouts/oci11:v1`]);
  t.is(clash.exitCode, 1);
  t.is(theError(clash.stderr), 'krew-wasm: error: plugin "hello" is already installed (use --force to replace it, or --name to install under another name)');
  t.deepEqual(storeSnapshot(sb.root), before);
  const forced = await krewWasm(sb, ['pull', '--plain-http', '--force', '--name', 'hello', `${plain.host}/layouts/oci11:v1`]);
  t.is(forced.exitCode, 0, forced.stderr);
  t.is(JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/hello.json'), 'utf8')).source, `${plain.host}/layouts/oci11:v1`);
  fs.writeFileSync(path.join(sb.root, 'bin/kubectl-mine'), '#!/bin/sh\necho mine\n', { mode: 0o755 });
  const foreign = await krewWasm(sb, ['pull', '--plain-http', '--force', '--name', 'mine', ref]);
  t.is(foreign.exitCode, 1);
  t.regex(theError(foreign.stderr), /kubectl-mine exists and was not created by krew-wasm; refusing to overwrite it$/);
  t.is(fs.readFileSync(path.join(sb.root, 'bin/kubectl-mine'), 'utf8'), '#!/bin/sh\necho mine\n');
});
