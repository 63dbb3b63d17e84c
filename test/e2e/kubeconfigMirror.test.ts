import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, krewWasm, makeSandbox, runLink, type Sandbox } from '../helpers/cli.js';

// `--fs kubeconfig` (issue 8, item 9): the plugin sees the kubeconfig files in use and only the
// files the SELECTED context's cluster and user name, read-only; never another user's key or token,
// in a file or written inline in the kubeconfig.

let sb: Sandbox;
const files: Record<string, string> = {};

test.before(async () => {
  sb = makeSandbox();
  const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'kprobe', '--fs', 'kubeconfig']);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  const put = (name: string, rel: string, text: string) => {
    files[name] = path.join(sb.home, rel);
    fs.mkdirSync(path.dirname(files[name]), { recursive: true });
    fs.writeFileSync(files[name], text);
  };
  put('devCa', '.kube/dev-ca.crt', 'DEV-CA');
  put('prodCa', '.kube/prod-ca.crt', 'PROD-CA');
  put('prodKey', '.ssh/id_rsa', 'PROD-KEY');
  put('prodCert', '.ssh/prod.crt', 'PROD-CERT');
  put('otherToken', 'secrets/other-token', 'OTHER-TOKEN');
  put('unrelated', '.kube/unrelated.txt', 'UNRELATED');
  const config = (current: string) => `apiVersion: v1
kind: Config
current-context: ${current}
clusters:
- {name: dev, cluster: {server: 'https://127.0.0.1:1', certificate-authority: dev-ca.crt}}
- {name: prod, cluster: {server: 'https://127.0.0.1:2', certificate-authority: prod-ca.crt}}
users:
- {name: dev, user: {token: tok-dev}}
- {name: prod-admin, user: {client-certificate: ../.ssh/prod.crt, client-key: ../.ssh/id_rsa, password: PROD-INLINE-PASSWORD}}
- {name: other, user: {tokenFile: ${files.otherToken}, client-key-data: OTHER-INLINE-KEY}}
contexts:
- {name: dev, context: {cluster: dev, user: dev}}
- {name: prod, context: {cluster: prod, user: prod-admin}}
- {name: other, context: {cluster: dev, user: other}}
`;
  put('config', '.kube/config', config('dev'));
  put('prodConfig', '.kube/prod-config', config('prod'));
  put('otherConfig', '.kube/other-config', config('other'));
});

test.after.always(() => sb?.cleanup());

/** fsprobe reads each file and reports `read PATH: OK <text>` or `read PATH: ERR ...`. */
async function readable(env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const names = Object.keys(files);
  const r = await runLink(sb, 'kprobe', names.flatMap((n) => ['read', files[n]]), { env });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  // A file's text may span lines: each file's result is the line that starts with its path.
  const lines = r.stdout.trim().split('\n');
  return names.filter((n) => lines.some((line) => line.startsWith(`read ${files[n]}: OK`)));
}

/** A kubeconfig of one context `s`, its user's body (YAML) and, when given, its cluster's CA. */
function writeOneContext(file: string, user: string, certificateAuthority?: string): void {
  const ca = certificateAuthority ? `, certificate-authority: ${certificateAuthority}` : '';
  fs.writeFileSync(file, `current-context: s
clusters: [{name: s, cluster: {server: 'https://127.0.0.1:1'${ca}}}]
users: [{name: s, user: ${user}}]
contexts: [{name: s, context: {cluster: s, user: s}}]
`);
}

/** The kubeconfig file at `file` as the plugin reads it. */
async function seen(file: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await runLink(sb, 'kprobe', ['read', file], { env });
  if (r.exitCode !== 0 || !r.stdout.startsWith(`read ${file}: OK `)) throw new Error(r.stdout + r.stderr);
  return r.stdout.slice(`read ${file}: OK `.length);
}

test.serial('current context dev (a token user): the kubeconfig and the dev CA, not prod-admin\'s key nor another user\'s token file', async (t) => {
  t.deepEqual(await readable(), ['devCa', 'config']);
});

test.serial('context prod selected: its CA, client certificate and key (kubectl would read them), no other user\'s token', async (t) => {
  t.deepEqual(await readable({ KUBECONFIG: files.prodConfig }), ['prodCa', 'prodKey', 'prodCert', 'prodConfig']);
});

test.serial('context other selected: its token file, and the dev CA of its cluster', async (t) => {
  t.deepEqual(await readable({ KUBECONFIG: files.otherConfig }), ['devCa', 'otherToken', 'otherConfig']);
});

test.serial("the kubeconfig copy shows the selected user's inline credentials, and every other user's as kubectl config view does", async (t) => {
  const users = (text: string): Record<string, Record<string, string>> => Object.fromEntries((JSON.parse(text) as { users: { name: string; user: Record<string, string> }[] }).users.map((u) => [u.name, u.user]));
  const dev = await seen(files.config);
  for (const secret of ['PROD-INLINE-PASSWORD', 'OTHER-INLINE-KEY']) t.false(dev.includes(secret), secret);
  t.deepEqual(users(dev), {
    dev: { token: 'tok-dev' },
    'prod-admin': { 'client-certificate': '../.ssh/prod.crt', 'client-key': '../.ssh/id_rsa', password: 'REDACTED' },
    other: { tokenFile: files.otherToken, 'client-key-data': 'DATA+OMITTED' },
  });
  const prod = await seen(files.prodConfig, { KUBECONFIG: files.prodConfig });
  t.is(users(prod)['prod-admin'].password, 'PROD-INLINE-PASSWORD');
  t.false(prod.includes('tok-dev'));
  t.false(prod.includes('OTHER-INLINE-KEY'));
});

test.serial('a kubeconfig in use named as the token file, through a hard link, is still the copy with the other users hidden', async (t) => {
  const self = path.join(sb.home, '.kube', 'self-config');
  const link = path.join(sb.home, '.kube', 'self-token');
  fs.writeFileSync(self, `apiVersion: v1
kind: Config
current-context: s
clusters: [{name: s, cluster: {server: 'https://127.0.0.1:1'}}]
users: [{name: s, user: {tokenFile: self-token}}, {name: x, user: {token: SELF-OTHER-TOKEN}}]
contexts: [{name: s, context: {cluster: s, user: s}}]
`);
  fs.rmSync(link, { force: true });
  fs.linkSync(self, link);
  const text = await seen(self, { KUBECONFIG: self });
  t.regex(text, /"tokenFile": "self-token"/);
  t.false(text.includes('SELF-OTHER-TOKEN'));
  const r = await runLink(sb, 'kprobe', ['read', link], { env: { KUBECONFIG: self } });
  t.regex(r.stdout, /: ERR /, 'the hard link is not copied');
});

test.serial("a credential file whose path lands on the kubeconfig copy's own name ('..' after a symlink) is left out, and the run goes on", async (t) => {
  const kube = path.join(sb.home, '.kube');
  const config = path.join(kube, 'clash-config');
  fs.mkdirSync(path.join(sb.home, 'elsewhere', 'sub'), { recursive: true });
  fs.mkdirSync(path.join(sb.home, 'elsewhere', 'clash-config'), { recursive: true });
  fs.writeFileSync(path.join(sb.home, 'elsewhere', 'clash-config', 'x'), 'TOKEN-X');
  fs.rmSync(path.join(kube, 'd'), { force: true });
  fs.symlinkSync('../elsewhere/sub', path.join(kube, 'd'));
  writeOneContext(config, `{tokenFile: ${path.join(kube, 'd')}/../clash-config/x}`);
  const r = await runLink(sb, 'kprobe', ['read', config], { env: { KUBECONFIG: config } });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /clash-config: OK \{/);
  t.is(r.stderr, '');
});

test.serial("a kernel file named as the token file (/proc/self/environ) is not copied: it would show the variables --env keeps from the plugin", async (t) => {
  const config = path.join(sb.home, '.kube', 'proc-config');
  writeOneContext(config, `{tokenFile: /proc/self/environ}`);
  const r = await runLink(sb, 'kprobe', ['read', '/proc/self/environ'], { env: { KUBECONFIG: config, KREW_WASM_TEST_SECRET: 'hunter2' } });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /read \/proc\/self\/environ: ERR /);
  t.false(r.stdout.includes('hunter2'));
});

test.serial("a credential path that climbs out by text where the kernel follows a symlink ('L/../..') is mirrored at its real path, never outside the mirror", async (t) => {
  // By text the path below ends at /tmp/<name>/tok, which the mirror made (and gave the plugin) when
  // it joined paths as written; the kernel reads <home>/tmp/<name>/tok through the link.
  const name = `krew-wasm-escape-${process.pid}-${Date.now()}`;
  const deep = path.join(sb.home, ...Array(40).fill('d'));
  fs.mkdirSync(deep, { recursive: true });
  fs.mkdirSync(path.join(sb.home, 'tmp', name), { recursive: true });
  const real = path.join(sb.home, 'tmp', name, 'tok');
  fs.writeFileSync(real, 'TOK');
  fs.rmSync(path.join(sb.home, 'L'), { force: true });
  fs.symlinkSync(deep, path.join(sb.home, 'L'));
  t.teardown(() => fs.rmSync(path.join('/tmp', name), { recursive: true, force: true }));
  const config = path.join(sb.home, '.kube', 'climb-config');
  writeOneContext(config, `{tokenFile: "${path.join(sb.home, 'L')}/${'../'.repeat(40)}tmp/${name}/tok"}`);
  const r = await runLink(sb, 'kprobe', ['read', path.join('/tmp', name, 'tok'), 'read', real, 'ls', '/tmp'], { env: { KUBECONFIG: config } });
  t.is(r.exitCode, 0, r.stderr);
  t.false(fs.existsSync(path.join('/tmp', name)), 'nothing was written outside the mirror');
  t.regex(r.stdout, new RegExp(`read /tmp/${name}/tok: ERR `));
  t.true(r.stdout.includes(`read ${real}: OK TOK`), 'the token file is seen where the kernel reads it');
  t.regex(r.stdout, /ls \/tmp: ERR /);
});

test.serial("a kernel file reached through a symlink to / and '..' is not copied either", async (t) => {
  fs.rmSync(path.join(sb.home, 'R'), { force: true });
  fs.symlinkSync('/', path.join(sb.home, 'R'));
  const config = path.join(sb.home, '.kube', 'proc2-config');
  writeOneContext(config, `{tokenFile: ${path.join(sb.home, 'R')}/../proc/self/environ}`);
  const r = await runLink(sb, 'kprobe', ['read', `${path.join(sb.home, 'R')}/../proc/self/environ`, 'read', '/proc/self/environ'], { env: { KUBECONFIG: config, KREW_WASM_TEST_SECRET: 'hunter2' } });
  t.is(r.exitCode, 0, r.stderr);
  // (fsprobe prints up to the first NUL: the refusal is what tells.)
  t.regex(r.stdout, /R\/\.\.\/proc\/self\/environ: ERR /);
  t.regex(r.stdout, /read \/proc\/self\/environ: ERR /);
  t.false(r.stdout.includes('hunter2'), r.stdout);
});

test.serial("a token file behind a symlink (a service account's token -> ..data/token) is seen at the path the kubeconfig names and at its real path", async (t) => {
  const sa = path.join(sb.home, 'sa');
  fs.mkdirSync(path.join(sa, '..data'), { recursive: true });
  fs.writeFileSync(path.join(sa, '..data', 'token'), 'SA-TOKEN');
  fs.rmSync(path.join(sa, 'token'), { force: true });
  fs.symlinkSync('..data/token', path.join(sa, 'token'));
  const config = path.join(sb.home, '.kube', 'sa-config');
  writeOneContext(config, `{tokenFile: ${path.join(sa, 'token')}}`);
  const r = await runLink(sb, 'kprobe', ['read', path.join(sa, 'token'), 'read', path.join(sa, '..data', 'token')], { env: { KUBECONFIG: config } });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, `read ${path.join(sa, 'token')}: OK SA-TOKEN\nread ${path.join(sa, '..data', 'token')}: OK SA-TOKEN\n`);
});

test.serial('a credential file 300 folders deep is left out of the mirror: the run goes on and leaves nothing behind', async (t) => {
  const deep = path.join(sb.home, 'deep', ...Array(300).fill('a'));
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'key'), 'DEEP-KEY');
  const config = path.join(sb.home, '.kube', 'deep-config');
  writeOneContext(config, `{tokenFile: ${path.join(deep, 'key')}}`);
  const r = await runLink(sb, 'kprobe', ['read', path.join(deep, 'key'), 'read', config], { env: { KUBECONFIG: config } });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stderr, '');
  t.regex(r.stdout, /deep\/.*\/key: ERR /);
  t.regex(r.stdout, /deep-config: OK \{/);
  t.deepEqual(fs.readdirSync(path.join(sb.root, 'tmp')).filter((f) => f.startsWith('kube-')), []);
});

test.serial('a credential file in a folder the plugin may write is not copied for it: a symlink it put there would copy whatever it points at', async (t) => {
  const w = path.join(sb.home, 'w');
  fs.mkdirSync(w, { recursive: true });
  fs.writeFileSync(path.join(w, 'token'), 'W-TOKEN');
  fs.mkdirSync(path.join(sb.home, 'outside'), { recursive: true });
  const secret = path.join(sb.home, 'outside', 'secret');
  fs.writeFileSync(secret, 'OUTSIDE-SECRET');
  const config = path.join(sb.home, '.kube', 'w-config');
  writeOneContext(config, `{tokenFile: ${path.join(w, 'token')}}`);
  const pulled = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'fsprobe.core.wasm')}`, '--name', 'wprobe', '--fs', 'kubeconfig', '--allow-dir', w]);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const env = { KUBECONFIG: config };
  const first = await runLink(sb, 'wprobe', ['read', path.join(w, 'token'), 'unlink', path.join(w, 'token'), 'symlink', '../outside/secret', path.join(w, 'token')], { env });
  t.regex(first.stdout, /token: OK W-TOKEN\n/, 'its own grant shows it the token');
  t.regex(first.stdout, /symlink .*: OK/);
  const next = await runLink(sb, 'wprobe', ['read', secret, 'read', path.join(w, 'token')], { env });
  t.is(next.exitCode, 0, next.stderr);
  t.false(next.stdout.includes('OUTSIDE-SECRET'), next.stdout);
  t.regex(next.stdout, new RegExp(`read ${secret}: ERR `));
});

test.serial("a credential path that enters the plugin's writable folder through a symlink and '..', or a kubeconfig in that folder, copies nothing the plugin chose", async (t) => {
  // wprobe has --fs kubeconfig --allow-dir <home>/w (the test above pulled it).
  const w = path.join(sb.home, 'w');
  const secret = path.join(sb.home, 'outside', 'secret');
  fs.mkdirSync(path.join(w, 'd'), { recursive: true });
  fs.mkdirSync(path.join(sb.home, 'sec'), { recursive: true });
  fs.rmSync(path.join(sb.home, 'sec', 'lnk'), { force: true });
  fs.symlinkSync(path.join(w, 'd'), path.join(sb.home, 'sec', 'lnk'));
  const config = path.join(sb.home, '.kube', 'lnk-config');
  writeOneContext(config, `{}`, `${path.join(sb.home, 'sec', 'lnk')}/../ca`);
  const planted = await runLink(sb, 'wprobe', ['symlink', '../outside/secret', path.join(w, 'ca')], { env: { KUBECONFIG: config } });
  t.regex(planted.stdout, /symlink .*: OK/);
  const byLink = await runLink(sb, 'wprobe', ['read', secret], { env: { KUBECONFIG: config } });
  t.regex(byLink.stdout, new RegExp(`read ${secret}: ERR `), 'through sec/lnk/..');
  // A kubeconfig in the folder it may write: the plugin names the files.
  const own = path.join(w, 'kc');
  const env = { KUBECONFIG: `${own}:${config}` };
  const wrote = await runLink(sb, 'wprobe', ['write', own, `{"current-context": "x", "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:1"}}], "users": [{"name": "x", "user": {"client-key": "${secret}"}}], "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}`], { env });
  t.regex(wrote.stdout, /write .*kc: OK/);
  const byConfig = await runLink(sb, 'wprobe', ['read', secret], { env });
  t.regex(byConfig.stdout, new RegExp(`read ${secret}: ERR `), 'through its own kubeconfig');
  t.false(byLink.stdout.includes('OUTSIDE-SECRET') || byConfig.stdout.includes('OUTSIDE-SECRET'));
});

test.serial('a credential file named through /proc/self/root is seen at its real path only, never at a /proc path', async (t) => {
  const ca = path.join(sb.home, 'proc-ca');
  fs.writeFileSync(ca, 'PROC-ROOT-CA');
  const config = path.join(sb.home, '.kube', 'procroot-config');
  writeOneContext(config, `{}`, `/proc/self/root${ca}`);
  const r = await runLink(sb, 'kprobe', ['read', `/proc/self/root${ca}`, 'read', ca], { env: { KUBECONFIG: config } });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`read /proc/self/root${ca}: ERR `));
  t.true(r.stdout.includes(`read ${ca}: OK PROC-ROOT-CA`), r.stdout);
});

test.serial('a KUBECONFIG path through a symlink and .. is copied where the kernel read it, not where its text leads', async (t) => {
  const k = path.join(sb.home, 'K');
  fs.mkdirSync(path.join(k, 'kc', 'sub'), { recursive: true });
  fs.rmSync(path.join(k, 'kl'), { force: true });
  fs.symlinkSync(path.join(k, 'kc', 'sub'), path.join(k, 'kl'));
  const read = path.join(k, 'kc', 'config');
  fs.writeFileSync(read, `current-context: s
clusters: [{name: s, cluster: {server: 'https://read-by-the-kernel:1'}}]
users: [{name: s, user: {tokenFile: ${path.join(k, 'config')}}}]
contexts: [{name: s, context: {cluster: s, user: s}}]
`);
  fs.writeFileSync(path.join(k, 'config'), 'TOKEN-AT-K');
  const r = await runLink(sb, 'kprobe', ['read', read, 'read', path.join(k, 'config')], { env: { KUBECONFIG: `${path.join(k, 'kl')}/../config` } });
  t.is(r.exitCode, 0, r.stderr);
  t.true(r.stdout.includes(`read ${read}: OK {`), r.stdout);
  t.true(r.stdout.includes('read-by-the-kernel'));
  t.true(r.stdout.includes(`read ${path.join(k, 'config')}: OK TOKEN-AT-K`), 'the token file keeps its own place');
});

test.serial('a credential file whose real path is not UTF-8 is left out, never met with another in the mirror', async (t) => {
  const u = path.join(sb.home, 'U');
  fs.mkdirSync(u, { recursive: true });
  const ff = Buffer.concat([Buffer.from(`${u}/`), Buffer.from([0xff])]);
  fs.mkdirSync(ff, { recursive: true });
  fs.writeFileSync(Buffer.concat([ff, Buffer.from('/x')]), 'CA-FROM-FF');
  fs.rmSync(path.join(u, 'lff'), { force: true });
  fs.symlinkSync(Buffer.from([0xff]), path.join(u, 'lff'));
  fs.mkdirSync(path.join(u, '\ufffd'), { recursive: true });
  fs.writeFileSync(path.join(u, '\ufffd', 'x'), 'TOKEN-FROM-FFFD');
  const config = path.join(sb.home, '.kube', 'u-config');
  writeOneContext(config, `{tokenFile: ${path.join(u, '\ufffd', 'x')}}`, `${path.join(u, 'lff', 'x')}`);
  const r = await runLink(sb, 'kprobe', ['read', path.join(u, '\ufffd', 'x'), 'read', path.join(u, 'lff', 'x')], { env: { KUBECONFIG: config } });
  t.is(r.exitCode, 0, r.stderr);
  t.true(r.stdout.includes(`read ${path.join(u, '\ufffd', 'x')}: OK TOKEN-FROM-FFFD`), r.stdout);
  t.false(r.stdout.includes('CA-FROM-FF'), r.stdout);
});

test.serial('the mirrored files are read-only', async (t) => {
  const r = await runLink(sb, 'kprobe', ['write', files.devCa, 'changed', 'write', files.prodKey, 'planted']);
  t.regex(r.stdout, /write .*dev-ca\.crt: ERR Read-only file system/);
  t.regex(r.stdout, /write .*id_rsa: ERR/);
  t.is(fs.readFileSync(files.devCa, 'utf8'), 'DEV-CA');
  t.is(fs.readFileSync(files.prodKey, 'utf8'), 'PROD-KEY');
});

test.serial("a kubeconfig naming a file of krew-wasm's store is not a way into it: that file is not mirrored", async (t) => {
  const receipt = path.join(sb.root, 'receipts', 'kprobe.json');
  const storeConfig = path.join(sb.home, '.kube', 'store-config');
  writeOneContext(storeConfig, `{tokenFile: ${receipt}}`, receipt);
  const r = await runLink(sb, 'kprobe', ['read', receipt, 'read', storeConfig], { env: { KUBECONFIG: storeConfig } });
  const [receiptLine, configLine] = r.stdout.trim().split('\n');
  t.regex(receiptLine, /: ERR /);
  t.false(r.stdout.includes('apiVersion": "krew-wasm'), 'the receipt was read');
  t.regex(configLine, /store-config: OK \{/);
});

test('a run removes the kubeconfig copies that ended runs left behind (killed, or Ctrl-C before plugin code), and only those', async (t) => {
  const tmp = path.join(sb.root, 'tmp');
  const ended = spawnSync(process.execPath, ['-e', '0']).pid; // a pid whose process is gone
  const left = path.join(tmp, `kube-${ended}-x1`);
  const running = path.join(tmp, `kube-${process.pid}-x2`); // this test's own process is alive
  for (const dir of [left, running]) {
    fs.mkdirSync(path.join(dir, '.ssh'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.ssh/id_rsa'), 'PROD-KEY');
  }
  t.teardown(() => fs.rmSync(running, { recursive: true, force: true }));
  const r = await runLink(sb, 'kprobe', ['read', files.devCa]);
  t.is(r.exitCode, 0, r.stderr);
  t.false(fs.existsSync(left), 'the copy of an ended run is gone');
  t.true(fs.existsSync(path.join(running, '.ssh/id_rsa')), 'a running one is kept');
});
