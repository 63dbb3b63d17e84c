#!/usr/bin/env node
// make demo: the main job on a built-in example, in a throw-away HOME so nothing of yours changes.
//   1. start a loopback Kubernetes API server (the test fake: TLS, token auth, a few pods)
//   2. write a kubeconfig for it
//   3. krew-wasm pull oci-layout://examples/build/layout:1.0 --name pods
//   4. kubectl pods ; kubectl pods -A      (through the kubectl-pods link krew-wasm created)
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

try {
  console.log(`Demo: a loopback API server at ${api.url}, HOME=${home}`);
  const krew = path.join(root, 'bin/krew-wasm.js');
  await step(`krew-wasm pull oci-layout://examples/build/layout:1.0 --name pods`, krew, ['pull', `oci-layout://${path.join(root, 'examples/build/layout')}:1.0`, '--name', 'pods']);
  await step('krew-wasm list -o table', krew, ['list', '-o', 'table']);
  const hasKubectl = spawnSync('kubectl', ['version', '--client'], { env, stdio: 'ignore' }).status === 0;
  const kubectl = hasKubectl ? 'kubectl' : path.join(bin, 'kubectl-pods');
  const prefix = hasKubectl ? ['pods'] : [];
  if (!hasKubectl) console.log('\n(kubectl is not installed here: running the kubectl-pods link directly, as kubectl would)');
  await step("kubectl pods", kubectl, [...prefix]);
  await step('kubectl pods -A', kubectl, [...prefix, '-A']);
  await step('kubectl pods -l app=web', kubectl, [...prefix, '-l', 'app=web']);
  console.log('\nDemo done: the plugin was pulled, verified, transpiled once, and run in the sandbox through kubectl.');
} finally {
  await api.stop();
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(pki.dir, { recursive: true, force: true });
}
