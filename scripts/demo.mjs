#!/usr/bin/env node
// make demo: the main job on a built-in example, in a throw-away HOME so nothing of yours changes.
//   1. start a loopback Kubernetes API server (the test fake: TLS, token auth, a few pods)
//   2. write a kubeconfig for it
//   3. krew-wasm pull oci-layout://examples/build/pods-layout:1.0 (and pods-watch-layout)
//   4. kubectl pods ; kubectl pods -A      (through the kubectl-pods link krew-wasm created)
//   5. kubectl pods-watch, while the API server reports changes, then Ctrl-C
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { createPki } = await import('../dist/testkit/pki.js');
const { startFakeApiServer } = await import('../dist/testkit/kubeApiServer.js');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-demo-'));
const home = path.join(work, 'home');
fs.mkdirSync(path.join(home, '.kube'), { recursive: true });
const pki = createPki('krew-wasm-demo');
const api = await startFakeApiServer({
  tls: { ...pki.server('apiserver'), ca: pki.caCert },
  tokens: { 'demo-token': 'demo-user' },
  pods: [
    { namespace: 'default', name: 'web-7d9f8c6b5-abcde', labels: { app: 'web' }, node: 'node-1' },
    { namespace: 'default', name: 'web-7d9f8c6b5-fghij', labels: { app: 'web' }, node: 'node-2' },
    { namespace: 'default', name: 'batch-job-x1', phase: 'Succeeded', node: 'node-2' },
    { namespace: 'kube-system', name: 'coredns-5d78c9869d-q2w3e', node: 'node-1' },
  ],
});
fs.writeFileSync(path.join(home, '.kube/config'), `apiVersion: v1
kind: Config
current-context: demo
clusters:
- name: demo
  cluster:
    server: ${api.url}
    certificate-authority: ${pki.caCert}
users:
- name: demo-user
  user:
    token: demo-token
contexts:
- name: demo
  context: {cluster: demo, user: demo-user}
`);

const bin = path.join(home, '.krew-wasm', 'bin');
const env = { ...process.env, HOME: home, KREW_WASM_ROOT: path.join(home, '.krew-wasm'), PATH: `${bin}:${process.env.PATH}` };
delete env.KUBECONFIG;
// Asynchronous on purpose: the API server lives in this process and must keep answering.
const step = async (title, file, args) => {
  console.log(`\n$ ${title}`);
  const code = await new Promise((resolve) => spawn(file, args, { env, cwd: home, stdio: 'inherit' }).on('exit', resolve));
  if (code !== 0) throw new Error(`${title} exited with ${code}`);
};

/** kubectl pods-watch for a few seconds while pods change on the server, then Ctrl-C. */
async function watchBriefly(file, args) {
  console.log('\n$ kubectl pods-watch      (pods change on the server meanwhile, then Ctrl-C)');
  const child = spawn(file, args, { env, cwd: home, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const later = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let waited = 0; api.openWatches() === 0 && waited < 30_000; waited += 100) await later(100);
  await later(300);
  api.emit('ADDED', { namespace: 'default', name: 'web-7d9f8c6b5-klmno', labels: { app: 'web' }, phase: 'Pending' });
  await later(700);
  api.emit('MODIFIED', { namespace: 'default', name: 'web-7d9f8c6b5-klmno', labels: { app: 'web' }, phase: 'Running' });
  await later(700);
  api.emit('DELETED', { namespace: 'default', name: 'batch-job-x1', phase: 'Succeeded' });
  await later(600);
  child.kill('SIGINT');
  const code = await exited;
  if (code !== 130) throw new Error(`kubectl pods-watch ended with ${code}, expected 130 (Ctrl-C)`);
  console.log('^C');
}

try {
  console.log(`Demo: a loopback API server at ${api.url}, HOME=${home}`);
  const krew = path.join(root, 'bin/krew-wasm.js');
  for (const name of ['pods', 'pods-watch']) {
    await step(`krew-wasm pull oci-layout://examples/build/${name}-layout:1.0 --name ${name}`, krew, ['pull', `oci-layout://${path.join(root, `examples/build/${name}-layout`)}:1.0`, '--name', name]);
  }
  await step('krew-wasm list -o table', krew, ['list', '-o', 'table']);
  const hasKubectl = spawnSync('kubectl', ['version', '--client'], { env, stdio: 'ignore' }).status === 0;
  const kubectl = hasKubectl ? 'kubectl' : path.join(bin, 'kubectl-pods');
  const prefix = hasKubectl ? ['pods'] : [];
  if (!hasKubectl) console.log('\n(kubectl is not installed here: running the kubectl-pods link directly, as kubectl would)');
  await step("kubectl pods", kubectl, [...prefix]);
  await step('kubectl pods -A', kubectl, [...prefix, '-A']);
  await step('kubectl pods -l app=web', kubectl, [...prefix, '-l', 'app=web']);
  await watchBriefly(hasKubectl ? 'kubectl' : path.join(bin, 'kubectl-pods_watch'), hasKubectl ? ['pods-watch'] : []);
  console.log('\nDemo done: the plugin was pulled, verified, transpiled once, and run in the sandbox through kubectl.');
} finally {
  await api.stop();
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(pki.dir, { recursive: true, force: true });
}
