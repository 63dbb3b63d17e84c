import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mirrorKubeconfigFiles } from '../../src/kube/mirror.js';

/** Every file under `dir`, as text. */
function textsUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => fs.readFileSync(path.join(e.parentPath, e.name), 'utf8'));
}

test('a token file swapped for a link to the kubeconfig while the mirror is made is never copied raw: it is judged by the file it opened', async (t) => {
  // Another plugin with a writable grant over the token's folder flips it between a regular file and
  // a symlink to the kubeconfig in use, whose other users' inline credentials the copy hides. A
  // check made by path, then a read by path, lost that race (found by an attack).
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-mirror-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  const creds = path.join(d, 'creds');
  fs.mkdirSync(creds);
  fs.mkdirSync(path.join(d, 'tmp'));
  const config = path.join(d, 'config');
  fs.writeFileSync(config, `current-context: s
clusters: [{name: s, cluster: {server: 'https://127.0.0.1:1'}}]
users: [{name: s, user: {tokenFile: ${path.join(creds, 'tok')}}}, {name: admin, user: {token: ADMIN-SECRET}}]
contexts: [{name: s, context: {cluster: s, user: s}}]
`);
  fs.writeFileSync(path.join(creds, 'tok'), 'TOK');
  const flipper = spawn(process.execPath, ['-e', `
const fs = require('fs'); const dir = ${JSON.stringify(creds)};
for (const end = Date.now() + 20000; Date.now() < end;) {
  fs.writeFileSync(dir + '/tok.r', 'TOK'); fs.renameSync(dir + '/tok.r', dir + '/tok');
  try { fs.unlinkSync(dir + '/tok.s'); } catch {}
  fs.symlinkSync('../config', dir + '/tok.s'); fs.renameSync(dir + '/tok.s', dir + '/tok');
}`], { stdio: 'ignore' });
  t.teardown(() => flipper.kill());
  process.setMaxListeners(0); // each mirror adds its exit cleanup
  let copied = 0;
  let leftOut = 0;
  const leaks: string[] = [];
  for (let i = 0; i < 1500; i++) {
    const mirror = (await mirrorKubeconfigFiles({ KUBECONFIG: config }, [], path.join(d, 'tmp')))!;
    const texts = Object.values(mirror.preopens).flatMap(textsUnder);
    if (texts.some((text) => text.includes('ADMIN-SECRET'))) leaks.push(texts.find((text) => text.includes('ADMIN-SECRET'))!);
    if (texts.includes('TOK')) copied++;
    else leftOut++;
    mirror.cleanup();
  }
  flipper.kill();
  t.deepEqual(leaks, []);
  t.true(copied > 0, 'the token file was copied when it was itself');
  t.true(leftOut > 0, 'and left out when the link to the kubeconfig was opened: the race was run');
});
