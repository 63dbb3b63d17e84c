import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuthError } from '../../src/errors.js';
import { dockerCredentials } from '../../src/oci/auth/credentials.js';

function dockerDir(config: unknown, helpers: Record<string, string> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-docker-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  for (const [name, script] of Object.entries(helpers)) fs.writeFileSync(path.join(bin, `docker-credential-${name}`), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return { env: { DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH}`, HOME: dir }, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('auths: auth (user:password), identitytoken, and the keys docker writes for Docker Hub', (t) => {
  const d = dockerDir({
    auths: {
      'r.example:5000': { auth: b64('alice:pa:ss') },
      'https://tok.example': { identitytoken: 'refresh-me' },
      'https://index.docker.io/v1/': { auth: b64('hub:pw') },
    },
  });
  t.teardown(d.cleanup);
  const creds = dockerCredentials(d.env);
  t.deepEqual(creds('r.example:5000'), { username: 'alice', password: 'pa:ss' });
  t.deepEqual(creds('tok.example'), { identityToken: 'refresh-me', username: undefined });
  t.deepEqual(creds('docker.io'), { username: 'hub', password: 'pw' });
  t.is(creds('unknown.example'), undefined);
});

test('credHelpers win over auths; credsStore is the fallback; <token> means an identity token', (t) => {
  const d = dockerDir(
    { credHelpers: { 'h.example': 'pass' }, auths: { 'h.example': { auth: b64('ignored:x') } }, credsStore: 'store' },
    {
      pass: 'read host; echo "{\\"Username\\":\\"helper-user\\",\\"Secret\\":\\"s-$host\\"}"',
      store: 'read host; [ "$host" = "s.example" ] || { echo "credentials not found in native keychain"; exit 1; }; echo "{\\"Username\\":\\"<token>\\",\\"Secret\\":\\"idtok\\"}"',
    },
  );
  t.teardown(d.cleanup);
  const creds = dockerCredentials(d.env);
  t.deepEqual(creds('h.example'), { username: 'helper-user', password: 's-h.example' });
  t.deepEqual(creds('s.example'), { identityToken: 'idtok' });
  t.is(creds('other.example'), undefined, 'a helper that knows nothing means anonymous');
});

test('a broken helper or config is an AuthError, not a crash', (t) => {
  const d = dockerDir({ credHelpers: { 'x.example': 'broken' } }, { broken: 'echo oops >&2; exit 3' });
  t.teardown(d.cleanup);
  t.throws(() => dockerCredentials(d.env)('x.example'), { instanceOf: AuthError, message: /docker-credential-broken exited with 3: oops/ });
  fs.writeFileSync(path.join(d.env.DOCKER_CONFIG, 'config.json'), '{not json');
  t.throws(() => dockerCredentials(d.env)('x.example'), { instanceOf: AuthError, message: /cannot read docker config/ });
});

const badHelperNames = ['x/../../evil', '../evil', 'a b', 'x;id', 'x\n', '/usr/bin/id'];
for (const name of badHelperNames) {
  test(`a helper name that is not docker's helper naming is refused before anything runs (13.5): ${JSON.stringify(name)}`, (t) => {
    for (const config of [{ credHelpers: { 'h.example': name } }, { credsStore: name }]) {
      const d = dockerDir(config);
      t.teardown(d.cleanup);
      const error = t.throws(() => dockerCredentials(d.env)('h.example'), { instanceOf: AuthError });
      t.regex(error!.message, /names the credential helper .*, which is not a helper name \(letters, digits, '\.', '_' and '-' only\)$/);
      t.false(error!.message.includes('\n'));
    }
  });
}

test('docker config that is a FIFO or /dev/zero is refused in one line, without hanging or reading forever', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const d = dockerDir({});
  t.teardown(d.cleanup);
  const file = path.join(d.env.DOCKER_CONFIG, 'config.json');
  fs.rmSync(file);
  execFileSync('mkfifo', [file]);
  t.throws(() => dockerCredentials(d.env)('x.example'), { instanceOf: AuthError, message: /^cannot read docker config: .*config\.json is a FIFO, not a regular file$/ });
  fs.rmSync(file);
  fs.symlinkSync('/dev/zero', file);
  t.throws(() => dockerCredentials(d.env)('x.example'), { instanceOf: AuthError, message: /^cannot read docker config: .*config\.json is a character device, not a regular file$/ });
  fs.rmSync(file);
  fs.writeFileSync(file, JSON.stringify({ auths: { big: { auth: 'x'.repeat(2 * 1024 * 1024) } } }));
  t.throws(() => dockerCredentials(d.env)('x.example'), { instanceOf: AuthError, message: /is \d+ bytes, more than the limit of 1048576$/ });
});

test('hostile field types in docker config are ignored or refused, never a crash', (t) => {
  const d = dockerDir({ auths: { 'a.example': { auth: 5, username: ['x'] }, 'b.example': 'nope' } });
  t.teardown(d.cleanup);
  const creds = dockerCredentials(d.env);
  t.is(creds('a.example'), undefined);
  t.is(creds('b.example'), undefined);
});
