import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runProcess } from '../helpers/cli.js';

test('scripts and benchmarks depend on testkit/, never on the compiled tests (dist/test)', (t) => {
  const files = ['scripts', 'bench'].flatMap((dir) => fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.mjs')).map((f) => path.join(dir, f)));
  t.true(files.includes('scripts/demo.mjs') && files.includes('scripts/build-example.mjs') && files.includes('bench/run.mjs'));
  for (const file of files) t.false(fs.readFileSync(path.join(ROOT, file), 'utf8').includes('dist/test/'), file);
  t.true(fs.readFileSync(path.join(ROOT, 'scripts/demo.mjs'), 'utf8').includes('../dist/testkit/kubeApiServer.js'));
});

/**
 * install-system-deps.sh on a machine where kubectl is missing, with every other tool present:
 * a PATH of stand-ins, and `id` / `apt-get` stand-ins for "not root" and "the package is not there".
 */
function fakeMachine(t: import('ava').ExecutionContext, { root, aptWorks }: { root: boolean; aptWorks: boolean }): NodeJS.ProcessEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-sysdeps-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tool = (name: string, body: string) => fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  for (const name of ['docker-registry', 'clang', 'wasm-ld', 'htpasswd', 'skopeo', 'hyperfine', 'zsh', 'fish']) tool(name, 'exit 0');
  tool('id', `echo ${root ? 0 : 1000}`);
  tool('apt-get', aptWorks ? 'exit 0' : 'echo "E: Unable to locate package $*" >&2; exit 100');
  for (const name of ['ls', 'sh']) fs.symlinkSync(`/bin/${name}`, path.join(dir, name));
  return { PATH: dir, HOME: dir };
}

test('install-system-deps.sh fails loudly when it cannot install kubectl (not root)', async (t) => {
  const r = await runProcess('/bin/sh', [path.join(ROOT, 'scripts/install-system-deps.sh')], { env: fakeMachine(t, { root: false, aptWorks: true }) });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /^krew-wasm: error: missing system packages: kubectl$/m);
});

test('install-system-deps.sh fails loudly when apt has no kubectl package', async (t) => {
  const r = await runProcess('/bin/sh', [path.join(ROOT, 'scripts/install-system-deps.sh')], { env: fakeMachine(t, { root: true, aptWorks: false }) });
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /^krew-wasm: error: kubectl could not be installed /m);
});
