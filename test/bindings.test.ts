import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers/cli.js';

const listFiles = (dir: string): string[] =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();

test('generated/ is what `make bindings` produces from wit/ (regenerate and diff)', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-bindings-'));
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/bindings.mjs'), out], { stdio: 'pipe' });
  const committed = path.join(ROOT, 'generated');
  t.deepEqual(listFiles(out), listFiles(committed));
  for (const file of listFiles(out)) {
    t.is(fs.readFileSync(path.join(committed, file), 'utf8'), fs.readFileSync(path.join(out, file), 'utf8'), `${file} is stale: run make bindings`);
  }
});
