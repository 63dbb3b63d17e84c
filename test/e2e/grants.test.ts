import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, krewWasm, kubectl, makeSandbox, theError, type Sandbox } from '../helpers/cli.js';

let sb: Sandbox;
const pull = async (file: string, name: string, flags: string[] = []) => {
  const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, file)}`, '--name', name, ...flags]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return r;
};

test.before(async () => {
  sb = makeSandbox();
  const kube = path.join(sb.home, '.kube');
  fs.mkdirSync(path.join(kube, 'cache'), { recursive: true });
  fs.writeFileSync(path.join(kube, 'cache/discovery.json'), 'not referenced');
  fs.writeFileSync(path.join(kube, 'ca.crt'), 'THE CA');
  fs.writeFileSync(path.join(sb.home, 'token'), 'THE TOKEN');
  fs.writeFileSync(path.join(kube, 'config'), `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', certificate-authority: ca.crt}}]
users: [{name: u, user: {tokenFile: ../token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
`);
  fs.writeFileSync(path.join(sb.home, 'private.txt'), 'PRIVATE');
});

test.after.always(() => sb?.cleanup());

/** Runs a plugin through real kubectl (the grants must hold there). */
function viaKubectl(name: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return kubectl(sb, [name, ...args], { env });
}

test.serial('pull prints the grants; the default is HOME read-write, all env, the API server', async (t) => {
  const r = await pull('fsprobe.core.wasm', 'probe-home');
  t.regex(r.stderr, /Granted \(change with krew-wasm grant \/ revoke\):\n {2}files: home directory \(read-write: it can change files other programs run or trust, such as ~\/\.bashrc and ~\/\.kube\/config; --fs kubeconfig or none to restrict\)\n {2}environment: all variables\n {2}network: the Kubernetes API server of your kubeconfig\n/);
  const run = await viaKubectl('probe-home', ['read', path.join(sb.home, 'private.txt')]);
  t.is(run.stdout, `read ${path.join(sb.home, 'private.txt')}: OK PRIVATE\n`);
});

test.serial('--fs kubeconfig: the kubeconfig and the files it references, read-only, nothing else', async (t) => {
  await pull('fsprobe.core.wasm', 'probe-kube', ['--fs', 'kubeconfig']);
  const kube = path.join(sb.home, '.kube');
  const r = await viaKubectl('probe-kube', [
    'read', path.join(kube, 'config'),
    'read', path.join(kube, 'ca.crt'),
    'read', path.join(sb.home, 'token'),
    'read', path.join(sb.home, 'private.txt'),
    'read', path.join(kube, 'cache/discovery.json'),
    'write', path.join(kube, 'config'), 'overwritten',
    'write', path.join(kube, 'new-file'), 'x',
    'unlink', path.join(kube, 'ca.crt'),
    'ls', kube,
  ]);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[0], /config: OK \{$/);
  t.true(lines.includes('  "apiVersion": "v1",'), 'the copy as krew-wasm reads the kubeconfig');
  t.is(lines[lines.findIndex((l) => l.includes('ca.crt: OK'))], `read ${path.join(kube, 'ca.crt')}: OK THE CA`);
  t.true(r.stdout.includes(`read ${path.join(sb.home, 'token')}: OK THE TOKEN`));
  t.regex(r.stdout, new RegExp(`read ${path.join(sb.home, 'private.txt')}: ERR`));
  t.regex(r.stdout, /cache\/discovery\.json: ERR/);
  t.regex(r.stdout, /write .*\.kube\/config: ERR Read-only file system/);
  t.regex(r.stdout, /write .*new-file: ERR Read-only file system/);
  t.regex(r.stdout, /unlink .*ca\.crt: ERR Read-only file system/);
  t.regex(r.stdout, /ls .*\.kube: OK (config ca\.crt|ca\.crt config)\n/);
  t.regex(fs.readFileSync(path.join(kube, 'config'), 'utf8'), /^apiVersion: v1/);
  t.true(fs.existsSync(path.join(kube, 'ca.crt')));
  t.false(fs.existsSync(path.join(kube, 'new-file')));
  t.deepEqual(fs.readdirSync(path.join(sb.root, 'tmp')), [], 'the private copies are removed after the run');
});

test.serial('--fs none and --allow-dir PATH:ro / PATH', async (t) => {
  const ro = path.join(sb.home, 'ro');
  const rw = path.join(sb.home, 'rw');
  fs.mkdirSync(ro);
  fs.mkdirSync(rw);
  fs.writeFileSync(path.join(ro, 'in.txt'), 'READ ME');
  await pull('fsprobe.core.wasm', 'probe-dirs', ['--fs', 'none', '--allow-dir', `${ro}:ro`, '--allow-dir', rw]);
  const r = await viaKubectl('probe-dirs', [
    'read', path.join(sb.home, 'private.txt'),
    'read', path.join(ro, 'in.txt'),
    'write', path.join(ro, 'planted'), 'x',
    'rename', path.join(ro, 'in.txt'), path.join(rw, 'moved.txt'),
    'write', path.join(rw, 'out.txt'), 'written',
    'rename', path.join(rw, 'out.txt'), path.join(ro, 'moved-in.txt'),
  ]);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[0], /private\.txt: ERR/);
  t.is(lines[1], `read ${path.join(ro, 'in.txt')}: OK READ ME`);
  t.regex(lines[2], /planted: ERR Read-only file system/);
  t.regex(lines[3], /moved\.txt: ERR/);
  t.is(lines[4], `write ${path.join(rw, 'out.txt')}: OK`);
  t.regex(lines[5], /moved-in\.txt: ERR/);
  t.deepEqual(fs.readdirSync(ro), ['in.txt']);
  t.is(fs.readFileSync(path.join(rw, 'out.txt'), 'utf8'), 'written');
});

test.serial('--data-dir gives a private folder named in KREW_WASM_DATA_DIR; rm removes it', async (t) => {
  await pull('fsprobe.core.wasm', 'probe-data', ['--fs', 'none', '--data-dir']);
  const dataDir = path.join(sb.root, 'data/probe-data');
  const r = await viaKubectl('probe-data', ['env', 'KREW_WASM_DATA_DIR', 'write', path.join(dataDir, 'state'), 'kept']);
  t.is(r.stdout, `env KREW_WASM_DATA_DIR: ${dataDir}\nwrite ${path.join(dataDir, 'state')}: OK\n`);
  t.is(fs.readFileSync(path.join(dataDir, 'state'), 'utf8'), 'kept');
  t.is((await krewWasm(sb, ['rm', 'probe-data'])).exitCode, 0);
  t.false(fs.existsSync(dataDir));
});

test.serial('--env allow-list: only the named variables reach the plugin', async (t) => {
  await pull('echo.wasm', 'echo-env', ['--env', 'ONLY_THIS,HOME']);
  const r = await viaKubectl('echo-env', [], { ONLY_THIS: 'yes', SECRET_TOKEN: 'no' });
  const env = r.stdout.split('--\n')[1].trim().split('\n').sort();
  t.deepEqual(env, [`HOME=${sb.home}`, 'ONLY_THIS=yes']);
});

test.serial('grant and revoke change grants without re-pulling; info shows them with the imports', async (t) => {
  await pull('exitcode.wasm', 'limited');
  const before = JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/limited.json'), 'utf8'));
  const g = await krewWasm(sb, ['grant', 'limited', '--timeout', '1', '--network', 'none', '--env', 'A,B']);
  t.is(g.exitCode, 0, g.stderr);
  t.regex(g.stderr, /network: none\n {2}time limit: 1 s\n/);
  const after = JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/limited.json'), 'utf8'));
  t.is(after.layerDigest, before.layerDigest);
  t.deepEqual(after.grants, { filesystem: 'home', dirs: [], dataDir: false, env: { mode: 'only', names: ['A', 'B'] }, network: 'none', timeoutSeconds: 1 });
  const info = await krewWasm(sb, ['info', 'limited']);
  t.regex(info.stdout, /^Name: +limited\n/);
  t.regex(info.stdout, /Imports:\n {2}wasi:cli\/environment\n {2}wasi:cli\/exit\n/);
  t.regex(info.stdout, /Exports:\n {2}wasi:cli\/run@0\.2\.12\n/);
  t.regex(info.stdout, /Granted:\n {2}files: home directory \(read-write: it can change files other programs run or trust, such as ~\/\.bashrc and ~\/\.kube\/config; --fs kubeconfig or none to restrict\)\n {2}environment: A, B\n {2}network: none\n {2}time limit: 1 s\n$/);
  const wit = await krewWasm(sb, ['info', 'limited', '--wit']);
  t.regex(wit.stdout, /import wasi:cli\/exit@0\.2\.12;/);
  t.regex(wit.stdout, /export wasi:cli\/run@0\.2\.12;/);
  const json = JSON.parse((await krewWasm(sb, ['list', '-o', 'json'])).stdout);
  t.is(json.find((p: { name: string }) => p.name === 'limited').grants.network, 'none');
  const rv = await krewWasm(sb, ['revoke', 'limited', '--limits', '--env', 'A']);
  t.is(rv.exitCode, 0, rv.stderr);
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts/limited.json'), 'utf8')).grants.env, { mode: 'only', names: ['B'] });
  const unknown = await krewWasm(sb, ['grant', 'ghost', '--fs', 'none']);
  t.is(unknown.exitCode, 1);
  t.is(theError(unknown.stderr), 'krew-wasm: error: plugin "ghost" is not installed (see krew-wasm list, or install it with krew-wasm pull <reference> --name ghost)');
  const bad = await krewWasm(sb, ['grant', 'limited', '--timeout', 'soon']);
  t.is(bad.exitCode, 2);
});

test.serial('a time limit ends an endless plugin with one line and exit 124', async (t) => {
  await pull('exitcode.wasm', 'spinner', ['--timeout', '1']);
  const r = await viaKubectl('spinner', ['spin']);
  t.is(r.exitCode, 124);
  t.is(theError(r.stderr), 'krew-wasm: error: plugin spinner exceeded its time limit of 1 s (krew-wasm grant spinner --timeout <seconds>)');
});

test.serial('a memory limit ends a plugin whose heap outgrows it with one line and exit 125', async (t) => {
  await pull('grow.wasm', 'grower', ['--max-memory', '4']);
  const ok = await viaKubectl('grower', ['2']);
  t.is(ok.exitCode, 0);
  t.is(ok.stdout, 'grew\n');
  const r = await viaKubectl('grower', ['16']);
  t.is(r.exitCode, 125);
  t.is(theError(r.stderr), 'krew-wasm: error: plugin grower exceeded its memory limit of 4 MiB (krew-wasm grant grower --max-memory <MiB>)');
  await krewWasm(sb, ['revoke', 'grower', '--limits']);
  t.is((await viaKubectl('grower', ['16'])).stdout, 'grew\n');
});

test.serial('--network none: every outbound-http request is refused, with one note', async (t) => {
  await pull('httpprobe.wasm', 'offline', ['--network', 'none']);
  const r = await viaKubectl('offline', ['get', '/version', 'get', '/api']);
  t.is(r.stdout, 'get /version -> err destination-not-allowed\nget /api -> err destination-not-allowed\n');
  t.is(r.stderr, 'krew-wasm: network access is not granted to plugin offline (krew-wasm grant offline --network api-server)\n');
});

test.serial('a read-write folder that holds the kubeconfig is said to be able to change it; the :ro the line suggests makes it read-only', async (t) => {
  // A kubeconfig names commands kubectl and krew-wasm run on the host (exec credentials).
  const kube = path.join(sb.home, '.kube');
  const r = await pull('fsprobe.core.wasm', 'probe-kubedir', ['--fs', 'none', '--allow-dir', kube]);
  const line = `  files: ${kube} (read-write: it can change your kubeconfig ${path.join(kube, 'config')}, whose exec credentials kubectl and krew-wasm run; add :ro to restrict)\n`;
  t.true(r.stderr.includes(line), r.stderr);
  const info = await krewWasm(sb, ['info', 'probe-kubedir']);
  t.true(info.stdout.includes(line), info.stdout);
  const fixed = await krewWasm(sb, ['grant', 'probe-kubedir', '--allow-dir', `${kube}:ro`]);
  t.is(fixed.exitCode, 0, fixed.stderr);
  t.true(fixed.stderr.includes(`  files: ${kube} (read-only)\n`), fixed.stderr);
  const write = await viaKubectl('probe-kubedir', ['write', path.join(kube, 'config'), 'overwritten']);
  t.regex(write.stdout, /config: ERR Read-only file system/);
  // A folder that holds no kubeconfig is plain read-write.
  const other = await krewWasm(sb, ['grant', 'probe-kubedir', '--allow-dir', path.join(kube, 'cache')]);
  t.true(other.stderr.includes(`  files: ${path.join(kube, 'cache')} (read-write)\n`), other.stderr);
});
