import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LocalFileError, openRegularFile, readOpenedFile, readOpenedFileInPieces, removeWritableTree } from '../../src/store/fsutil.js';
import { execFileSync } from 'node:child_process';
import { scratchFolders } from '../helpers/scratch.js';

const scratch = scratchFolders('fsutil');

/**
 * Reading an opened regular file whole (store/fsutil.ts): at once, or in pieces on Node's thread
 * pool (a run's big core modules). Serial: each test checks that the descriptor it read from is
 * closed, and a concurrent open could take its number meanwhile.
 */

function fileOf(size: number): { file: string; bytes: Buffer } {
  const dir = scratch();
  const file = path.join(dir, `f${size}`);
  const bytes = crypto.randomBytes(size);
  fs.writeFileSync(file, bytes);
  return { file, bytes };
}

function isClosed(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EBADF';
  }
}

for (const size of [0, 1, 2, 3, 4097, 1024 * 1024 + 1]) {
  for (const pieces of [1, 2, 3, 7]) {
    test.serial(`${size} bytes in ${pieces} piece(s) read as the file holds them, and the file is closed`, async (t) => {
      const { file, bytes } = fileOf(size);
      const { fd, size: opened } = openRegularFile(file);
      t.is(opened, size);
      const read = await readOpenedFileInPieces(file, fd, opened, pieces);
      t.true(read.equals(bytes));
      t.true(isClosed(fd));
    });
  }
  test.serial(`${size} bytes read at once as the file holds them, and the file is closed`, (t) => {
    const { file, bytes } = fileOf(size);
    const { fd, size: opened } = openRegularFile(file);
    t.true(readOpenedFile(file, fd, opened).equals(bytes));
    t.true(isClosed(fd));
  });
}

test.serial('a file that ends before the size it had when opened is refused as changed, and closed (in pieces)', async (t) => {
  const { file } = fileOf(3 * 1024 * 1024);
  const { fd, size } = openRegularFile(file);
  fs.truncateSync(file, size - 10);
  const error = await t.throwsAsync(readOpenedFileInPieces(file, fd, size, 2), { instanceOf: LocalFileError });
  t.is(error?.reason, 'io');
  t.is(error?.message, `${file} changed while it was read`);
  t.true(isClosed(fd));
});

test.serial('a file that ends before the size it had when opened is refused as changed, and closed (at once)', (t) => {
  const { file } = fileOf(5000);
  const { fd, size } = openRegularFile(file);
  fs.truncateSync(file, 100);
  const error = t.throws(() => readOpenedFile(file, fd, size), { instanceOf: LocalFileError });
  t.is(error?.reason, 'io');
  t.true(isClosed(fd));
});

test.serial('bytes beyond the size it had when opened are not read (a file that grew)', async (t) => {
  const { file, bytes } = fileOf(2 * 1024 * 1024);
  const { fd, size } = openRegularFile(file);
  fs.appendFileSync(file, Buffer.alloc(4096, 1));
  t.true((await readOpenedFileInPieces(file, fd, size, 2)).equals(bytes));
});

test.serial('a read that fails is an io failure naming its cause, every piece settled before it is reported', async (t) => {
  const { file } = fileOf(2 * 1024 * 1024);
  const { fd, size } = openRegularFile(file);
  fs.closeSync(fd); // every read of this descriptor fails with EBADF
  const error = await t.throwsAsync(readOpenedFileInPieces(file, fd, size, 4), { instanceOf: LocalFileError });
  t.is(error?.reason, 'io');
  t.is(error?.message, `${file} cannot be read (EBADF)`);
  t.is((error?.cause as NodeJS.ErrnoException).code, 'EBADF');
});

test.serial('a size no buffer can hold is refused as too large, and the file is closed', async (t) => {
  const { file } = fileOf(10);
  const { fd } = openRegularFile(file);
  const error = await t.throwsAsync(readOpenedFileInPieces(file, fd, Number.MAX_SAFE_INTEGER, 2), { instanceOf: LocalFileError });
  t.is(error?.reason, 'too-large');
  t.is(error?.message, `${file} is ${Number.MAX_SAFE_INTEGER} bytes, more than one buffer holds`);
  t.true(isClosed(fd));
});

test.serial('a link is followed, unless links are not to be followed (a file of a store entry)', (t) => {
  const { file, bytes } = fileOf(100);
  const link = `${file}.link`;
  fs.symlinkSync(file, link);
  const { fd, size } = openRegularFile(link);
  t.true(readOpenedFile(link, fd, size).equals(bytes));
  const error = t.throws(() => openRegularFile(link, { followLinks: false }), { instanceOf: LocalFileError });
  t.is(error?.message, `${link} is a symbolic link, not a regular file`);
  t.is(error?.reason, 'not-regular');
});

/** A chain of `depth` folders named `dd` under `dir`, made a step at a time from the one above (its path is longer than PATH_MAX), with a file at the bottom. */
function deepChain(dir: string, depth: number): void {
  const before = process.cwd();
  try {
    process.chdir(dir);
    for (let i = 0; i < depth; i++) {
      fs.mkdirSync('dd');
      process.chdir('dd');
    }
    fs.writeFileSync('bottom', 'x');
  } finally {
    process.chdir(before);
  }
}

test.serial("a plugin's writable folder is removed through handles: deeper than PATH_MAX, with links to outside left where they point, and nothing left behind (attack 105)", (t) => {
  const base = scratch();
  const data = path.join(base, 'data');
  const tmp = path.join(base, 'tmp');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(path.join(outside, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(outside, 'sub', 'precious'), 'kept');
  fs.mkdirSync(path.join(data, 'a'), { recursive: true });
  deepChain(path.join(data, 'a'), 3000);
  fs.symlinkSync(outside, path.join(data, 'to-outside'));
  fs.symlinkSync('../outside/sub', path.join(data, 'a', 'relative'));
  fs.symlinkSync(path.join(outside, 'sub', 'precious'), path.join(data, 'to-file'));
  execFileSync('mkfifo', [path.join(data, 'fifo')]);
  t.throws(() => fs.readdirSync(path.join(data, 'a', ...Array(3000).fill('dd'))), { code: 'ENAMETOOLONG' }, 'a path to its bottom is longer than the system takes');
  t.true(removeWritableTree(data, tmp));
  t.false(fs.existsSync(data));
  t.deepEqual(fs.readdirSync(tmp), [], 'nothing left aside');
  t.is(fs.readFileSync(path.join(outside, 'sub', 'precious'), 'utf8'), 'kept');
  t.true(removeWritableTree(data, tmp), 'a folder already gone is removed');
  t.deepEqual(fs.readdirSync(tmp), []);
});
