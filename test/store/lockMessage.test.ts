import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StoreConflictError } from '../../src/errors.js';
import { withStoreLock } from '../../src/store/lock.js';

test('a store lock held by a live process: after the wait, one error that says what to do', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-lock-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const lockDir = path.join(root, 'lock');
  fs.mkdirSync(lockDir);
  fs.writeFileSync(path.join(lockDir, 'owner'), String(process.ppid)); // alive: the process that runs this test
  let ran = false;
  const error = await t.throwsAsync(withStoreLock(lockDir, () => { ran = true; }, 200), { instanceOf: StoreConflictError });
  t.is(error?.message, `the store is locked by another krew-wasm process (${lockDir})`);
  t.is(error?.hint, 'wait for it to finish, or remove the lock folder if no krew-wasm is running');
  t.false(ran);
  t.true(fs.existsSync(lockDir), 'a live holder keeps its lock');
});
