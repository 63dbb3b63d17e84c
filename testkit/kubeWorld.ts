import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { startFakeApiServer, type FakeApiServer } from './kubeApiServer.js';
import { createPki, type TestPki } from './pki.js';

/**
 * The world the network tests of every plugin ABI share: two fake API servers (`api` and `other`)
 * with the test PKI, a bystander HTTP server that no request may reach, and a kubeconfig in
 * HOME/.kube/config with one context per credential kind (token, token-file, cert-file, cert-data,
 * basic, exec), plus `other` and `insecure`; files are referred to by relative path.
 */
export interface KubeWorld {
  pki: TestPki;
  api: FakeApiServer;
  other: FakeApiServer;
  bystanderUrl: string;
  /** Requests the bystander received. */
  bystanderHits(): number;
  bob: { cert: string; key: string };
  dave: { cert: string; key: string };
  stop(): Promise<void>;
}

/** Context name -> the user the fake API server sees for it. */
export const CREDENTIAL_KINDS: [string, string][] = [
  ['token', 'alice'],
  ['token-file', 'file-user'],
  ['cert-file', 'bob'],
  ['cert-data', 'dave'],
  ['basic', 'carol'],
  ['exec', 'exec-user'],
];

/** Spellings of "not the API server" a plugin may try (`__BYSTANDER__` stands for the bystander's URL). */
export const bypasses = (port: number): [string, string][] => [
  ['another host', 'https://example.com/api'],
  ['localhost instead of 127.0.0.1', `https://localhost:${port}/api`],
  ['another port on the same host', `https://127.0.0.1:${port + 1}/api`],
  ['another scheme', `http://127.0.0.1:${port}/api`],
  ['a bystander server', '__BYSTANDER__/'],
  ['userinfo', `https://alice:pw@127.0.0.1:${port}/api`],
  ['userinfo smuggling the host', `https://127.0.0.1:${port}@example.com/api`],
  ['decimal IP', `https://2130706433:${port}/api`],
  ['hex IP', `https://0x7f000001:${port}/api`],
  ['short IP', `https://127.1:${port}/api`],
  ['IPv6 loopback', `https://[::1]:${port}/api`],
  ['IPv4-mapped IPv6', `https://[::ffff:127.0.0.1]:${port}/api`],
  ['percent-encoded host', `https://%31%32%37.0.0.1:${port}/api`],
  ['encoded dot segments', `https://127.0.0.1:${port}/api/%2e%2e/x`],
  ['file scheme', 'file:///etc/passwd'],
];

/** Starts the servers and writes the kubeconfig into `home`. */
export async function startKubeWorld(home: string): Promise<KubeWorld> {
  let bystanderHits = 0;
  const pki = createPki();
  const tls = { ...pki.server('apiserver'), ca: pki.caCert };
  const opts = {
    tls,
    tokens: { 'tok-alice': 'alice', 'tok-file': 'file-user', 'tok-exec': 'exec-user', 'tok-guest': 'guest-user', 'tok-other': 'other-user' },
    basic: { 'carol:pw': 'carol' },
    forbidden: ['nobody'],
    pods: [{ namespace: 'default', name: 'web-1', labels: { app: 'web' } }, { namespace: 'default', name: 'db-1', labels: { app: 'db' } }, { namespace: 'kube-system', name: 'dns-1' }],
  };
  const api = await startFakeApiServer(opts);
  const other = await startFakeApiServer(opts);
  const bystander = http.createServer((_req, res) => { bystanderHits++; res.end('bystander'); });
  await new Promise<void>((resolve) => bystander.listen(0, '127.0.0.1', resolve));
  const bystanderUrl = `http://127.0.0.1:${(bystander.address() as AddressInfo).port}`;
  const bob = pki.client('bob', ['devs']);
  const dave = pki.client('dave');
  // The kubeconfig lives in HOME, refers to files by relative path, and has one context per credential kind.
  const kube = path.join(home, '.kube');
  fs.mkdirSync(kube, { recursive: true });
  fs.copyFileSync(pki.caCert, path.join(kube, 'ca.crt'));
  fs.writeFileSync(path.join(kube, 'token'), 'tok-file\n');
  fs.copyFileSync(bob.cert, path.join(kube, 'bob.crt'));
  fs.copyFileSync(bob.key, path.join(kube, 'bob.key'));
  const execScript = path.join(kube, 'exec-cred.sh');
  fs.writeFileSync(execScript, `#!/bin/sh\necho run >> "${path.join(kube, 'exec-runs')}"\nprintf '%s' "$KUBERNETES_EXEC_INFO" > "${path.join(kube, 'exec-info')}"\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-exec","expirationTimestamp":"2099-01-01T00:00:00Z"}}'\n`, { mode: 0o755 });
  const b64 = (f: string) => fs.readFileSync(f).toString('base64');
  fs.writeFileSync(path.join(kube, 'config'), `apiVersion: v1
kind: Config
current-context: token
clusters:
- name: fake
  cluster: {server: '${api.url}', certificate-authority: ca.crt}
- name: fake-data
  cluster: {server: '${api.url}', certificate-authority-data: ${b64(pki.caCert)}}
- name: other
  cluster: {server: '${other.url}', certificate-authority: ca.crt}
- name: insecure
  cluster: {server: '${api.url}', insecure-skip-tls-verify: true}
users:
- {name: alice, user: {token: tok-alice}}
- {name: file-user, user: {tokenFile: token}}
- {name: bob, user: {client-certificate: bob.crt, client-key: bob.key}}
- {name: dave, user: {client-certificate-data: ${b64(dave.cert)}, client-key-data: ${b64(dave.key)}}}
- {name: carol, user: {username: carol, password: pw}}
- name: exec-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./exec-cred.sh
      env: [{name: EXTRA, value: '1'}]
      provideClusterInfo: true
- {name: other-user, user: {token: tok-other}}
contexts:
- {name: token, context: {cluster: fake, user: alice}}
- {name: token-file, context: {cluster: fake-data, user: file-user}}
- {name: cert-file, context: {cluster: fake, user: bob}}
- {name: cert-data, context: {cluster: fake, user: dave}}
- {name: basic, context: {cluster: fake, user: carol}}
- {name: exec, context: {cluster: fake, user: exec-user}}
- {name: other, context: {cluster: other, user: other-user}}
- {name: insecure, context: {cluster: insecure, user: alice}}
`);
  return {
    pki, api, other, bystanderUrl, bob, dave,
    bystanderHits: () => bystanderHits,
    stop: async () => {
      await api.stop();
      await other.stop();
      bystander.close();
      fs.rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}
