import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NotInstalledError } from '../../src/errors.js';
import { startCompiling } from '../../src/runtime/compile.js';
import { transpileInto } from '../../src/runtime/transpile.js';
import { readEntryMeta } from '../../src/store/entry.js';
import { FIXTURES } from '../helpers/cli.js';
import { scratchFolders } from '../helpers/scratch.js';

const scratch = scratchFolders('read');

/**
 * How a run reads its entry's core modules (runtime/compile.ts, startCompiling): a module that is not
 * a regular file any more is refused without blocking on it, and a big module, read in pieces on
 * Node's thread pool, that changes while it is read is the entry's damage, in one line.
 */

async function helloEntry(): Promise<string> {
  const dir = path.join(scratch(), 'entry');
  await transpileInto(fs.readFileSync(path.join(FIXTURES, 'hello.wasm')), dir);
  return dir;
}

function compiling(entryDir: string) {
  return startCompiling({ entryDir, pluginName: 'p', repairHint: 'reinstall it', limits: {} }, readEntryMeta(entryDir));
}

test('a core module that became a FIFO is refused at once, naming it, not waited on', async (t) => {
  const dir = await helloEntry();
  const core = path.join(dir, 'plugin.core.wasm');
  fs.rmSync(core);
  execFileSync('mkfifo', [core]);
  t.throws(() => compiling(dir), { instanceOf: NotInstalledError, message: 'plugin p is damaged: cannot read plugin.core.wasm: is a FIFO, not a regular file' });
});

test('a core module that is gone is refused at once, naming it and why', async (t) => {
  const dir = await helloEntry();
  fs.rmSync(path.join(dir, 'plugin.core2.wasm'));
  t.throws(() => compiling(dir), { instanceOf: NotInstalledError, message: 'plugin p is damaged: cannot read plugin.core2.wasm: ENOENT' });
});

/**
 * A FIFO's write end, opened without blocking once a reader has opened it: until then the open
 * fails with ENXIO, and on a slow machine the pool's threads may not have reached their opens yet.
 */
async function openWriterOnceRead(fifo: string): Promise<number> {
  for (;;) {
    try {
      return fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

test('a big core module that changes while it is read in pieces is the entry\'s damage, when the run awaits it', async (t) => {
  const dir = await helloEntry();
  const core = path.join(dir, 'plugin.core.wasm');
  fs.writeFileSync(core, Buffer.alloc(2 * 1024 * 1024, 0x61));
  // Every thread of Node's pool blocked in opening a FIFO no one writes to: the pieces' reads wait
  // behind them until the file has been cut short.
  const fifo = path.join(path.dirname(dir), 'block');
  execFileSync('mkfifo', [fifo]);
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const blocked = Array.from({ length: threads }, () => fs.promises.open(fifo, 'r'));
  const run = compiling(dir);
  fs.truncateSync(core, 1024 * 1024);
  const writer = await openWriterOnceRead(fifo);
  for (const handle of await Promise.all(blocked)) await handle.close();
  fs.closeSync(writer);
  await t.throwsAsync(run.modules.get('plugin.core.wasm')!, { instanceOf: NotInstalledError, message: 'plugin p is damaged: cannot read plugin.core.wasm: changed while it was read' });
});

test('a core module swapped for a link after the entry check is not followed', async (t) => {
  const dir = await helloEntry();
  const core = path.join(dir, 'plugin.core.wasm');
  const elsewhere = path.join(path.dirname(dir), 'elsewhere.wasm');
  fs.renameSync(core, elsewhere);
  fs.symlinkSync(elsewhere, core);
  t.throws(() => compiling(dir), { instanceOf: NotInstalledError, message: 'plugin p is damaged: cannot read plugin.core.wasm: is a symbolic link, not a regular file' });
});

test('a core module bigger than V8 compiles is refused before it is read', async (t) => {
  const dir = await helloEntry();
  const core = path.join(dir, 'plugin.core.wasm');
  fs.truncateSync(core, 1024 * 1024 * 1024 + 1); // sparse: nothing to read, were it read
  t.throws(() => compiling(dir), { instanceOf: NotInstalledError, message: 'plugin p is damaged: cannot read plugin.core.wasm: is 1073741825 bytes, more than V8 compiles in one module' });
});

test('a big core module is read at once, off the thread pool, when the run asks so (its HTTP worker boots meanwhile)', async (t) => {
  const dir = await helloEntry();
  fs.writeFileSync(path.join(dir, 'plugin.core.wasm'), Buffer.alloc(2 * 1024 * 1024, 0x61));
  const fifo = path.join(path.dirname(dir), 'block');
  execFileSync('mkfifo', [fifo]);
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const blocked = Array.from({ length: threads }, () => fs.promises.open(fifo, 'r'));
  try {
    const run = startCompiling({ entryDir: dir, pluginName: 'p', repairHint: 'reinstall it', limits: {} }, readEntryMeta(dir), { readOnPool: false });
    // Its bytes were read already: V8 refuses them while every thread of the pool is still held.
    await t.throwsAsync(run.modules.get('plugin.core.wasm')!, { instanceOf: WebAssembly.CompileError });
  } finally {
    const writer = await openWriterOnceRead(fifo);
    for (const handle of await Promise.all(blocked)) await handle.close();
    fs.closeSync(writer);
  }
});
