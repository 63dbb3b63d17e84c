import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pushArtifact } from '../../testkit/artifacts.js';
import { ended, krewWasm, kubectl, makeSandbox, ROOT, type Sandbox } from '../helpers/cli.js';
import { startFakeApiServer, type FakeApiServer } from '../../testkit/kubeApiServer.js';
import { createPki, type TestPki } from '../../testkit/pki.js';
import { startRegistry, type TestRegistry } from '../../testkit/registry.js';

let pki: TestPki;
let api: FakeApiServer;
let registry: TestRegistry;
let sb: Sandbox;

test.before(async () => {
  pki = createPki();
  api = await startFakeApiServer({
    tls: { ...pki.server('apiserver'), ca: pki.caCert },
    tokens: { 'tok-admin': 'admin', 'tok-nobody': 'nobody' },
    forbidden: ['nobody'],
    pods: [
      { namespace: 'default', name: 'web-1', labels: { app: 'web' }, node: 'n1' },
      { namespace: 'default', name: 'db-1', labels: { app: 'db' }, phase: 'Pending', node: 'n2' },
      { namespace: 'kube-system', name: 'dns-1', node: 'n1' },
    ],
  });
  registry = await startRegistry();
  await pushArtifact({ url: registry.url, repo: 'examples/pods', tag: '1.0' }, 'cncf', fs.readFileSync(path.join(ROOT, 'examples/build/pods.wasm')));
  sb = makeSandbox();
  fs.mkdirSync(path.join(sb.home, '.kube'));
  fs.writeFileSync(path.join(sb.home, '.kube/config'), `apiVersion: v1
kind: Config
current-context: admin
clusters: [{name: fake, cluster: {server: '${api.url}', certificate-authority: '${pki.caCert}'}}]
users: [{name: admin, user: {token: tok-admin}}, {name: nobody, user: {token: tok-nobody}}]
contexts: [{name: admin, context: {cluster: fake, user: admin}}, {name: nobody, context: {cluster: fake, user: nobody}}]
`);
  const r = await krewWasm(sb, ['pull', '--plain-http', `${registry.host}/examples/pods:1.0`]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
});

test.after.always(async () => {
  await api?.stop();
  await registry?.stop();
  sb?.cleanup();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

/** `kubectl pods ...` through real kubectl (no fallback: without kubectl these tests fail). */
function kubectlPods(args: string[]) {
  return kubectl(sb, ['pods', ...args]);
}

test.serial('kubectl pods lists the pods of the default namespace from the API server', async (t) => {
  const r = await kubectlPods([]);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'NAME    STATUS    NODE\nweb-1   Running   n1\ndb-1    Pending   n2\n');
  t.is(api.requests.at(-1)?.user, 'admin');
});

test.serial('kubectl pods -A and -n and -l', async (t) => {
  const all = await kubectlPods(['-A']);
  t.is(all.stdout, 'NAMESPACE     NAME    STATUS    NODE\ndefault       web-1   Running   n1\ndefault       db-1    Pending   n2\nkube-system   dns-1   Running   n1\n');
  const ns = await kubectlPods(['-n', 'kube-system']);
  t.is(ns.stdout, 'NAME    STATUS    NODE\ndns-1   Running   n1\n');
  const sel = await kubectlPods(['--selector=app=db']);
  t.is(sel.stdout, 'NAME   STATUS    NODE\ndb-1   Pending   n2\n');
  const empty = await kubectlPods(['-n', 'empty']);
  t.is(empty.exitCode, 0);
  t.is(empty.stderr, 'No resources found in empty namespace.\n');
});

test.serial('a forbidden user gets the server Status message and exit 1, as kubectl prints it', async (t) => {
  const r = await kubectlPods(['--context', 'nobody']);
  t.is(r.exitCode, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, 'Error from server (Forbidden): pods is forbidden: User "nobody" cannot list resource "pods" in API group "" in the namespace "default"\n');
});

test.serial('kubectl pods-watch (fetch, streaming) lists, then prints each change as the server reports it, until Ctrl-C', async (t) => {
  const layout = `oci-layout://${path.join(ROOT, 'examples/build/pods-watch-layout')}:1.0`;
  const pulled = await krewWasm(sb, ['pull', layout, '--name', 'pods-watch']);
  t.is(pulled.exitCode, 0, pulled.stderr);
  const child = spawn('kubectl', ['pods-watch'], { cwd: sb.home, env: { ...sb.env, PATH: `${path.join(sb.root, 'bin')}${path.delimiter}${sb.env.PATH}` } });
  let stdout = '';
  const printed = (text: string) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not printed within 20 s: ${text}; so far: ${stdout}`)), 20_000);
    const check = () => stdout.includes(text) && (clearTimeout(timer), resolve());
    child.stdout.on('data', check);
    check();
  });
  child.stdout.on('data', (d) => (stdout += d));
  const exited = ended(child).then(({ code }) => code);
  await printed('EXISTING  db-1');
  for (let waited = 0; api.openWatches() === 0 && waited < 20_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  api.emit('ADDED', { namespace: 'default', name: 'web-2', phase: 'Pending' });
  await printed('ADDED     web-2');
  api.emit('MODIFIED', { namespace: 'default', name: 'web-2', phase: 'Running' });
  await printed('MODIFIED  web-2');
  child.kill('SIGINT');
  t.is(await exited, 130);
  t.deepEqual(stdout.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')), [
    'EXISTING web-1 Running',
    'EXISTING db-1 Pending',
    'ADDED web-2 Pending',
    'MODIFIED web-2 Running',
  ]);
  t.is(api.requests.filter((q) => q.query.includes('watch=1')).at(-1)?.user, 'admin');
});
