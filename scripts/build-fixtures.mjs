#!/usr/bin/env node
// Builds the test plugins from source (make fixtures): component-model WAT via jco's wasm-tools
// (embed + new), C via Debian's clang for wasm32-wasi (left as a preview1 core module: pull wraps
// it with the adapter), and JS via `jco componentize`. Outputs go to test/fixtures/build/ and are
// rebuilt only when a source is newer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { componentizeJs, ROOT, upToDate, watToComponent } from './lib/wasm-build.mjs';

const src = path.join(ROOT, 'test/fixtures/src');
const out = path.join(ROOT, 'test/fixtures/build');
const fixturesWit = path.join(ROOT, 'test/fixtures/wit/fixtures.wit');
const pluginWit = path.join(ROOT, 'wit/outbound-http.wit');
fs.mkdirSync(out, { recursive: true });

/** A WIT folder with the fixture worlds and the vendored WASI packages side by side. */
function witDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-fixtures-wit-'));
  fs.copyFileSync(fixturesWit, path.join(dir, 'fixtures.wit'));
  fs.cpSync(path.join(ROOT, 'wit/deps'), path.join(dir, 'deps'), { recursive: true });
  return dir;
}

const sources = (ext) => fs.readdirSync(src).filter((f) => f.endsWith(ext));
const wit = witDir();
const built = [];
try {
  // Component-model WAT (`*.component.wat`), for shapes no WIT world describes: parsed as is.
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  for (const file of sources('.component.wat')) {
    const target = path.join(out, file.replace(/\.component\.wat$/, '.wasm'));
    if (upToDate(target, path.join(src, file))) continue;
    fs.writeFileSync(target, await parse(fs.readFileSync(path.join(src, file), 'utf8')));
    built.push(target);
  }
  for (const file of sources('.wat').filter((f) => !f.endsWith('.component.wat'))) {
    const target = path.join(out, file.replace(/\.wat$/, '.wasm'));
    if (upToDate(target, path.join(src, file), fixturesWit)) continue;
    // `;; krew-wasm-world: NAME` picks another world of fixtures.wit (default: cli).
    const world = /^;; krew-wasm-world: (\S+)/.exec(fs.readFileSync(path.join(src, file), 'utf8'))?.[1] ?? 'cli';
    await watToComponent(path.join(src, file), target, { witPath: wit, world });
    built.push(target);
  }
  // A big plugin (over 1 MiB of wasm) with more functions than a run records (runtime/compileHints.ts,
  // MAX_RECORDED_FUNCTIONS): hello.wat with 50,001 more functions and a 1.1 MB passive data segment
  // (an active one would move to an image beside the module at pull, runtime/dataImage.ts).
  const many = path.join(out, 'manyfunctions.wasm');
  if (!upToDate(many, path.join(src, 'hello.wat'), fixturesWit, path.join(ROOT, 'scripts/build-fixtures.mjs'))) {
    const hello = fs.readFileSync(path.join(src, 'hello.wat'), 'utf8');
    const extra = Array.from({ length: 50_001 }, (_, i) => `(func (result i32) (i32.const ${i}))`).join('\n');
    const text = hello.trimEnd().replace(/\)$/, `\n(data "${'\\00'.repeat(1_100_000)}")\n${extra})\n`).replace('(memory (export "memory") 1)', '(memory (export "memory") 18)');
    const generated = path.join(wit, 'manyfunctions.wat');
    fs.writeFileSync(generated, text);
    await watToComponent(generated, many, { witPath: wit, world: 'cli' });
    built.push(many);
  }
  // Big plugins of one core module that imports nothing (so jco gives it no other), big by a passive
  // data segment of `fill`, which stays in the module (runtime/dataImage.ts); `funcs` are the rest.
  const bigModule = async (name, fill, funcs) => {
    const target = path.join(out, `${name}.wasm`);
    if (upToDate(target, fixturesWit, path.join(ROOT, 'scripts/build-fixtures.mjs'))) return;
    const generated = path.join(wit, `${name}.wat`);
    fs.writeFileSync(generated, `(module
  (memory (export "memory") 18)
  (data "${fill.repeat(1_100_000)}")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
${funcs})
`);
    await watToComponent(generated, target, { witPath: wit, world: 'cli' });
    built.push(target);
  };
  // One whose core module cannot take a recording form: it exports RECORDING_EXPORT itself (runtime/compileHints.ts).
  await bigModule('exportscompiled', '\\01', `  (func (export "krew-wasm:compiled") (result i32) (i32.const 7))
  (func (export "wasi:cli/run@0.2.12#run") (result i32) (i32.const 0))`);
  // One whose run returns `err` (exit code 1), which its first run records all the same.
  await bigModule('bigrunerr', '\\02', `  (func $fails (result i32) (i32.const 1))
  (func (export "wasi:cli/run@0.2.12#run") (result i32) (call $fails))`);
  // One whose run never ends: a first run cut short by --timeout records nothing.
  await bigModule('bigloop', '\\03', `  (func (export "wasi:cli/run@0.2.12#run") (result i32) (loop $forever (br $forever)) (i32.const 0))`);
  // The host must accept components built against any WASI 0.2.x: the echo plugin again, against 0.2.0.
  const echo020 = path.join(out, 'echo-wasi-0.2.0.wasm');
  if (!upToDate(echo020, path.join(src, 'echo.wat'), fixturesWit)) {
    const old = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-wasi020-'));
    try {
      fs.cpSync(wit, path.join(old, 'wit'), { recursive: true });
      for (const f of fs.readdirSync(path.join(old, 'wit'), { recursive: true })) {
        const file = path.join(old, 'wit', String(f));
        if (file.endsWith('.wit')) fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replaceAll('@0.2.12', '@0.2.0').replaceAll('@0.2.10', '@0.2.0'));
      }
      fs.writeFileSync(path.join(old, 'echo.wat'), fs.readFileSync(path.join(src, 'echo.wat'), 'utf8').replaceAll('@0.2.12', '@0.2.0'));
      await watToComponent(path.join(old, 'echo.wat'), echo020, { witPath: path.join(old, 'wit'), world: 'cli' });
      built.push(echo020);
    } finally {
      fs.rmSync(old, { recursive: true, force: true });
    }
  }
  for (const file of sources('.c')) {
    const target = path.join(out, file.replace(/\.c$/, '.core.wasm'));
    if (upToDate(target, path.join(src, file))) continue;
    // A 1 MiB stack: wasi-libc's poll() keeps its subscriptions on the stack (fsprobe polls 4,097 fds).
    execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-Oz', '-Wl,--strip-all', '-Wl,-z,stack-size=1048576', '-o', target, path.join(src, file)], { stdio: 'inherit' });
    built.push(target);
  }
  for (const file of sources('.js')) {
    const target = path.join(out, file.replace(/\.js$/, '.wasm'));
    if (upToDate(target, path.join(src, file), pluginWit, fixturesWit)) continue;
    // `// krew-wasm-world: plugin` builds against the real plugin world in wit/; `// krew-wasm-features: http` keeps fetch().
    const text = fs.readFileSync(path.join(src, file), 'utf8');
    const usesPluginWorld = /^\/\/ krew-wasm-world: plugin/m.test(text);
    const http = /^\/\/ krew-wasm-features: http/m.test(text);
    await componentizeJs(path.join(src, file), target, usesPluginWorld ? { witPath: path.join(ROOT, 'wit'), world: 'plugin', http } : { witPath: wit, world: 'js', http });
    built.push(target);
  }
} finally {
  fs.rmSync(wit, { recursive: true, force: true });
}
console.log(built.length ? `built ${built.map((b) => path.relative(ROOT, b)).join(', ')}` : 'fixtures up to date');
