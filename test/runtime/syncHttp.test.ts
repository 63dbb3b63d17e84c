import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SyncWorker, type Call } from '../../src/runtime/hosts/syncHttp.js';

/**
 * The main thread's side of the HTTP worker. A worker that cannot boot says so only on the event
 * loop, which the main thread does not turn while a guest waits for a request: it is waited for
 * once, up to its start limit, and not again.
 */

const get = (url: string): Call => ({
  kind: 'http',
  call: { url, method: 'GET', headers: [], tls: { rejectUnauthorized: true, checkHostname: true }, timeoutMs: 10_000, maxResponseBytes: 1 << 20 },
});

test('a worker that never becomes ready: the first call waits for it, every later call fails at once', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-syncworker-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'broken.mjs');
  fs.writeFileSync(script, 'throw new Error("this worker cannot boot");\n');
  const worker = new SyncWorker(pathToFileURL(script), 300);
  t.teardown(() => worker.close());
  t.deepEqual(worker.call(get('http://127.0.0.1:1/'), 60_000), { ok: false, why: 'no-worker' });
  t.deepEqual(worker.call(get('http://127.0.0.1:1/'), 60_000), { ok: false, why: 'worker-failed' });
  t.is(worker.openStream({ url: 'http://127.0.0.1:1/', method: 'GET', headers: [], tls: { rejectUnauthorized: true, checkHostname: true }, bodyFollows: false, connectTimeoutMs: 1000, firstByteTimeoutMs: 1000 }, 60_000), undefined);
});

test('a start cut short by the call\'s own limit is no failed start: the next call waits for the worker and is answered', async (t) => {
  // In a process of its own: this thread blocks while it waits for the answer.
  const server = spawn(process.execPath, ['-e', "require('http').createServer((q, s) => s.end('pong')).listen(0, '127.0.0.1', function () { console.log(this.address().port); })"], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => server.kill());
  const port = await new Promise<string>((resolve) => server.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
  const url = `http://127.0.0.1:${port}/`;
  const worker = new SyncWorker();
  t.teardown(() => worker.close());
  t.deepEqual(worker.call(get(url), 0), { ok: false, why: 'no-worker' });
  const answered = worker.call(get(url), 60_000);
  t.true(answered.ok);
  const reply = (answered as { result: { ok: boolean; status?: number; body?: Uint8Array } }).result;
  t.like(reply, { ok: true, status: 200 });
  t.is(Buffer.from(reply.body!).toString(), 'pong');
});

test('a wasi:http request-options timeout is at least 1 ms and at most what a Node timer can wait (a longer one fired at once)', async (t) => {
  const { timeoutMs } = await import('../../src/runtime/hosts/wasiHttp/index.js');
  t.is(timeoutMs(undefined), undefined);
  t.is(timeoutMs(1n), 1);
  t.is(timeoutMs(2_500_000_000n), 2500);
  t.is(timeoutMs(10_000_000_000_000_000_000n), 2 ** 31 - 1);
});
