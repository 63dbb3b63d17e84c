#!/usr/bin/env node
// krew-wasm is in wrapper mode exactly when it was started through a `kubectl-<name>` link
// (the basename of argv[1]) other than `kubectl-krew_wasm`, which is krew-wasm itself run by
// kubectl (`kubectl krew-wasm list`); anything else, an absolute path to krew-wasm included, is
// direct mode. Wrapper mode loads one CommonJS bundle and nothing of the CLI.
//
// CommonJS, not an ES module (bin/package.json): wrapper mode is start-up time of every plugin run,
// and on Node 20 an ES module entry costs its loader (~6 ms) and ES wrappers of each built-in it
// imports (bench/RESULTS.md). Both bundles are CommonJS files compiled with a V8 code cache.
'use strict';
const { basename } = require('node:path');

const invokedAs = basename(process.argv[1] ?? '');
const wrapperMode = /^kubectl-./.test(invokedAs) && !/^kubectl-krew_wasm(\.js)?$/.test(invokedAs);

function notBuilt(error) {
  if (error?.code === OLD_BUILD) {
    process.stderr.write('krew-wasm: error: krew-wasm was built by an older version of itself (run make build in its source folder)\n');
    process.exit(1);
  }
  const missing = error?.code === 'MODULE_NOT_FOUND' || error?.code === 'ERR_MODULE_NOT_FOUND' || error?.code === 'ENOENT';
  if (!missing || !String(error.message).includes('/dist/')) throw error;
  process.stderr.write('krew-wasm: error: krew-wasm is not built (run make build in its source folder)\n');
  process.exit(1);
}

/** How every bundle loadWithCodeCache loads begins (scripts/bundle.mjs); one that does not is of an older build. */
const MODULE_FUNCTION = '(function (exports, require, module, __filename, __dirname) {';
const OLD_BUILD = 'KREW_WASM_OLD_BUILD';

// import() in code restored from a V8 code cache fails on Node 20 ("A dynamic import callback was
// not specified"): the bundles import ES modules through this one (src/builtin.ts, importModule).
globalThis[Symbol.for('krew-wasm.import')] = (specifier) => import(specifier);
// A sibling file of a bundle that only some runs load (the kubeconfig loader) is loaded with a code
// cache too; `variant` names the V8 flags the run had set by then (src/builtin.ts, requireSibling).
globalThis[Symbol.for('krew-wasm.load')] = (file, variant) => loadWithCodeCache(file, variant);

/** What writes each loaded file's code cache at exit, if it must (see loadWithCodeCache). */
const cacheWriters = [];
process.once('exit', writeCodeCaches);

const dist = require('node:path').join(__dirname, '../dist');
// Each plugin, and each command, keeps a code cache of the bundle of its own: one shared by all
// held the code of every kind of run, and the smallest plugins paid ~1 ms to deserialize what only
// C plugins run (bench/RESULTS.md).
// kubectl's completion runs `kubectl_complete-krew_wasm <words being typed>`: one cache for all.
const completing = /^kubectl_complete-/.test(invokedAs);
const user = wrapperMode ? invokedAs.slice('kubectl-'.length) : completing ? '__complete' : process.argv[2] ?? '';
let bundle;
try {
  // Completion loads every command, whatever word is being completed: main.js (found by an attack).
  bundle = loadWithCodeCache(wrapperMode ? `${dist}/wrapper/wrapper.js` : cliBundle(completing ? '' : process.argv[2] ?? ''), '', /^[\w-]{1,64}$/.test(user) ? user : '');
} catch (error) {
  notBuilt(error);
}
bundle.main();

/**
 * The CLI bundle for a command word: `command-<word>.js` when the build made one (`list`: see
 * scripts/bundle.mjs), the whole CLI otherwise.
 */
function cliBundle(word) {
  const own = `${dist}/bundle/command-${word}.js`;
  return /^[a-z]{1,32}$/.test(word) && require('node:fs').existsSync(own) ? own : `${dist}/bundle/main.js`;
}

/**
 * Loads a CommonJS bundle with a V8 code cache beside it: Node 20 keeps no compiled code between
 * runs, and compiling the bundles was ~6 ms of every plugin run and ~15 ms of every command
 * (bench/RESULTS.md). V8 checks only that a cache was made from a source of the same length, so
 * the cache is named by the bundle's build (a hash of its contents, its last line: see
 * scripts/bundle.mjs), its mtime (a bundle edited in place), V8's version (two Node versions
 * sharing an installation keep their own) and, for the bundles, the plugin or command it serves
 * (`user`); one V8 rejects anyway is ignored. When missing or rejected it is written at exit, if
 * the folder is writable, holding all the code the run compiled (what a start needs is then
 * compiled by no later one: ~4 ms of a plugin run). Its first line names the code paths it was
 * made from (the bundle's codePathsTaken: a plugin's kind, a command), and a run that took one more
 * (a plugin granted a filesystem since) makes it again, holding what both compiled. A file loaded
 * after a run changed V8's flags (a big plugin) names them by `variant`, and keeps one cache per set
 * of flags. It is code as trusted as the bundle beside it, in krew-wasm's own folder, which no
 * plugin may reach.
 */
function loadWithCodeCache(file, variant = '', user = '') {
  const fs = require('node:fs');
  const path = require('node:path');
  const vm = require('node:vm');
  // node:module's createRequire, without loading node:module (~0.4 ms; Node does not at start-up).
  const { createRequire } = module.constructor;
  const source = fs.readFileSync(file, 'utf8');
  if (!source.startsWith(MODULE_FUNCTION)) throw Object.assign(new Error(`${file} was built by an older version of krew-wasm (run make build in its source folder)`), { code: OLD_BUILD });
  const build = /\/\/ krew-wasm build ([0-9a-f]{16})\n$/.exec(source.slice(-40))?.[1] ?? 'unknown';
  const suffix = `-v8-${process.versions.v8}.cache`;
  const mtime = Math.trunc(fs.statSync(file).mtimeMs);
  const target = `${file}.${build}-${mtime}${/^[0-9a-f]{8}$/.test(variant) ? `-${variant}` : ''}${user ? `-for-${user}` : ''}${suffix}`;
  // What the names of this build's and mtime's caches begin with, and no other's (each goes on with
  // `-` after the mtime). A cache of another mtime is removed once one of this mtime is written
  // (writeCache): a bundle's time can be set through a hard link of it, one cache more each time
  // (attack 67).
  const stem = `${path.basename(file)}.${build}-${mtime}-`;
  const cache = readCache(fs, target);
  // The file is the module's function already (scripts/bundle.mjs).
  const script = new vm.Script(source, { filename: file, cachedData: cache?.data });
  const mod = { exports: {} };
  // Node's built-ins through this file's require; a require of the bundle's own, which resolves
  // its siblings, made only when a run asks for something else (~0.1 ms of each start).
  let own;
  const bundleRequire = (id) => (id.startsWith('node:') ? require(id) : (own ??= createRequire(file))(id));
  script.runInThisContext()(mod.exports, bundleRequire, mod, file, path.dirname(file));
  const accepted = cache !== undefined && !script.cachedDataRejected;
  // What the runs it was made from did, for a run to prepare for it (src/builtin.ts, tookBefore).
  if (accepted) mod.exports.rememberCachedCodePaths?.(cache.paths);
  cacheWriters.push({
    // Made under V8's default flags, as this file was compiled: it is loaded before any flag is set.
    atDefaultFlags: variant === '',
    /** The code paths the cache would name, when it must be written; else undefined. */
    pathsToWrite() {
      const taken = mod.exports.codePathsTaken?.() ?? [];
      if (accepted) return taken.every((p) => cache.paths.includes(p)) ? undefined : [...new Set([...cache.paths, ...taken])];
      return user && taken.length === 0 ? undefined : taken; // no command or plugin ran (a typo): no file named for it
    },
    write: (paths) => writeCache({ file, target, stem, suffix }, paths, script.createCachedData()),
  });
  return mod.exports;
}

/**
 * At exit: the caches of files loaded after a run changed V8's flags first, under those flags;
 * then the others, under V8's defaults put back (src/builtin.ts, restoreDefaultV8Flags), as the
 * next start will compare them with: a big plugin's run sets flags early (--liftoff-only), and a
 * cache made before then held too little (~1 ms of each of its runs). When they cannot be put back
 * (a flag of KREW_WASM_V8_FLAGS), those caches are not written.
 */
function writeCodeCaches() {
  const due = cacheWriters.map((writer) => [writer, writer.pathsToWrite()]).filter(([, paths]) => paths);
  if (due.length === 0) return;
  for (const [writer, paths] of due) if (!writer.atDefaultFlags) writer.write(paths);
  if (bundle?.restoreDefaultV8Flags?.() === false) return;
  for (const [writer, paths] of due) if (writer.atDefaultFlags) writer.write(paths);
}

/** Writes a code cache whose first line names the code paths it holds; never through a planted name. */
function writeCache({ file, target, stem, suffix }, paths, data) {
  const fs = require('node:fs');
  const path = require('node:path');
  const temp = `${target}.${process.pid}.tmp`;
  try {
    // Padded so that V8's data starts 8-byte aligned.
    const header = `krew-wasm code cache: ${paths.join(',')}`;
    fs.writeFileSync(temp, Buffer.concat([Buffer.from(`${header.padEnd(Math.ceil((header.length + 1) / 8) * 8 - 1)}\n`), data]), { flag: 'wx' });
    fs.renameSync(temp, target);
    // Caches of earlier builds of this bundle (or of its earlier mtimes) for this V8 are of no use
    // any more, nor the temporary file of a run that ended while it wrote one (Ctrl-C at exit).
    for (const name of fs.readdirSync(path.dirname(file))) {
      if (!name.startsWith(`${path.basename(file)}.`)) continue;
      const writer = /\.cache\.(\d+)\.tmp$/.exec(name)?.[1];
      if ((name.endsWith(suffix) && !name.startsWith(stem)) || (writer && !isRunning(Number(writer)))) fs.rmSync(path.join(path.dirname(file), name), { force: true });
    }
  } catch {
    try {
      fs.rmSync(temp, { force: true });
    } catch {}
  }
}

/** Whether a process with this pid exists (one of another user's counts: EPERM). */
function isRunning(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error?.code === 'EPERM';
  }
}

/**
 * A cache file's V8 data and the code paths it was made from, when it is a regular file of a sane
 * size (never a FIFO or a device to block on) that starts with its header line.
 */
function readCache(fs, cacheFile) {
  let fd;
  try {
    fd = fs.openSync(cacheFile, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
    const stat = fs.fstatSync(fd);
    const size = stat.size;
    if (!stat.isFile() || size > 64 * 1024 * 1024) return undefined;
    const bytes = Buffer.allocUnsafe(size);
    if (fs.readSync(fd, bytes, 0, size, 0) !== size) return undefined;
    const end = bytes.indexOf(10);
    const header = /^krew-wasm code cache: ([\w,-]*) *$/.exec(end > 0 && end < 4096 ? bytes.toString('latin1', 0, end) : '');
    return header ? { data: bytes.subarray(end + 1), paths: header[1] ? header[1].split(',') : [] } : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
