import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, FIXTURES, krewWasm, makeSandbox, runProcess, type Sandbox } from '../helpers/cli.js';

let sb: Sandbox;
/** A PATH on which `krew-wasm` is this build, as after npm install -g. */
let env: NodeJS.ProcessEnv;

test.before(async () => {
  sb = makeSandbox();
  const bin = path.join(sb.home, 'path-bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(BIN, path.join(bin, 'krew-wasm'));
  env = { ...sb.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` };
  for (const [file, name] of [['hello.wasm', 'hello'], ['echo.wasm', 'echo-args']]) {
    const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, file)}`, '--name', name]);
    if (r.exitCode !== 0) throw new Error(r.stderr);
  }
});

test.after.always(() => sb?.cleanup());

/**
 * Loads `krew-wasm completion bash` into a real bash, asks `complete -p` which function completes
 * krew-wasm, and calls it the way bash's completion does for the line typed so far (the cursor at its end).
 */
async function bashComplete(line: string): Promise<string[]> {
  const script = `
source <(krew-wasm completion bash) || exit 3
spec=$(complete -p krew-wasm) || exit 4
fn=$(sed -E 's/.*-F ([^ ]+).*/\\1/' <<<"$spec")
COMP_LINE=$1; COMP_POINT=\${#COMP_LINE}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
"$fn" krew-wasm "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"
`;
  const r = await runProcess('bash', ['-c', script, 'bash', line], { env, cwd: sb.home });
  if (r.exitCode !== 0) throw new Error(`bash exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

test('bash: the script registers a completion function for krew-wasm', async (t) => {
  const r = await runProcess('bash', ['-c', 'source <(krew-wasm completion bash) && complete -p krew-wasm'], { env });
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^complete .*-F _krew_wasm krew-wasm$/m);
});

const bashCases: [string, string[]][] = [
  ['krew-wasm ', ['pull', 'list', 'rm', 'run', 'info', 'grant', 'revoke', 'push', 'tags', 'upgrade', 'outdated', 'completion', 'setup', 'version', 'help']],
  ['krew-wasm re', ['revoke']],
  ['krew-wasm rm ', ['echo-args', 'hello']],
  ['krew-wasm rm hello ', ['echo-args']],
  ['krew-wasm info h', ['hello']],
  ['krew-wasm grant ', ['echo-args', 'hello']],
  ['krew-wasm revoke e', ['echo-args']],
  ['krew-wasm run ', ['echo-args', 'hello']],
  ['krew-wasm grant hello --fs ', ['home', 'kubeconfig', 'none']],
  ['krew-wasm grant hello --network n', ['none']],
  ['krew-wasm list -o ', ['table', 'json', 'yaml', 'name']],
  ['krew-wasm pull --pl', ['--plain-http']],
  ['krew-wasm grant hello --ti', ['--timeout']],
  ['krew-wasm completion ', ['bash', 'zsh', 'fish']],
  ['krew-wasm help gr', ['grant']],
  ['krew-wasm list ', []],
];

for (const [line, want] of bashCases) {
  test(`bash completes "${line}"`, async (t) => {
    t.deepEqual((await bashComplete(line)).sort(), [...want].sort());
  });
}

test('bash: a wasm file is completed from the disk for pull and run', async (t) => {
  fs.writeFileSync(path.join(sb.home, 'plugin-build.wasm'), '');
  t.deepEqual(await bashComplete('krew-wasm pull ./plugin-b'), ['./plugin-build.wasm']);
});

test('zsh: the script offers the same candidates, with descriptions, through _describe', async (t) => {
  const script = `
source <(krew-wasm completion zsh) || exit 3
_describe() { print -rl -- "\${(@P)2}" }
_files() { print -r -- FILES }
words=(krew-wasm grant ''); CURRENT=3; _krew_wasm
words=(krew-wasm gr); CURRENT=2; _krew_wasm
words=(krew-wasm pull ''); CURRENT=3; _krew_wasm
`;
  const r = await runProcess('zsh', ['-f', '-c', script], { env });
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(r.stdout.split('\n').filter(Boolean), [
    'echo-args:installed plugin',
    'hello:installed plugin',
    'grant:Change what an installed plugin may touch',
    'FILES',
  ]);
});

test('fish: complete -C answers with the candidates and their descriptions', async (t) => {
  const r = await runProcess('fish', ['--no-config', '-c', 'krew-wasm completion fish | source; complete -C"krew-wasm grant "; complete -C"krew-wasm list -o y"; complete -C"krew-wasm v"'], { env });
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(r.stdout.split('\n').filter(Boolean), ['echo-args\tinstalled plugin', 'hello\tinstalled plugin', 'yaml', 'version\tPrint the krew-wasm version']);
});

test('completion of an unknown shell is a usage error', async (t) => {
  const r = await krewWasm(sb, ['completion', 'tcsh']);
  t.is(r.exitCode, 2);
  t.is(r.stderr, 'krew-wasm: error: unsupported shell "tcsh": expected one of bash, zsh, fish (e.g. krew-wasm completion bash)\n');
});
