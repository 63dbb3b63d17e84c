import test from 'ava';
import path from 'node:path';
import { FIXTURES, krewWasm, krewWasmInTerminal, makeSandbox, theError } from '../helpers/cli.js';

const ANSI = /\x1b\[/;
const COMMANDS = ['pull', 'list', 'rm', 'run', 'info', 'grant', 'revoke', 'push', 'tags', 'upgrade', 'outdated', 'version'];

/** A usage error: exit 2, exactly this one line on stderr, nothing on stdout, no clipanion text. */
async function usageError(t: import('ava').ExecutionContext, args: string[], line: string) {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, args);
  t.is(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
  t.is(r.stdout, '');
  t.is(r.stderr, `${line}\n`);
  t.is(theError(r.stderr), line);
}

const usageErrors: [string[], string][] = [
  [['pul'], 'krew-wasm: error: unknown command "pul" (did you mean pull?)'],
  [['lst'], 'krew-wasm: error: unknown command "lst" (did you mean list?)'],
  [['revok', 'foo'], 'krew-wasm: error: unknown command "revok" (did you mean revoke?)'],
  [['xyzzy'], 'krew-wasm: error: unknown command "xyzzy" (see krew-wasm --help for the commands)'],
  [['help', 'pul'], 'krew-wasm: error: unknown command "pul" (did you mean pull?)'],
  [['--bogus'], 'krew-wasm: error: unknown option "--bogus" (see krew-wasm --help)'],
  [['pull'], 'krew-wasm: error: pull needs <reference> (e.g. krew-wasm pull ghcr.io/org/plugins/foo:1.0)'],
  [['rm'], 'krew-wasm: error: rm needs <name> (e.g. krew-wasm rm foo)'],
  [['list', 'extra'], 'krew-wasm: error: unexpected argument "extra" for list (see krew-wasm list --help)'],
  [['list', '--forse'], 'krew-wasm: error: unknown option "--forse" for list (see krew-wasm list --help)'],
  [['pull', '--forse', 'x'], 'krew-wasm: error: unknown option "--forse" for pull (did you mean --force?)'],
  [['list', '-o', 'xml'], 'krew-wasm: error: invalid --output "xml": expected one of table, json, yaml, name (e.g. --output table)'],
  [['list', '-o'], 'krew-wasm: error: option -o needs a value: -o, --output <table|json|yaml|name> (see krew-wasm list --help)'],
  [['grant', 'foo', '--timeout', 'abc'], 'krew-wasm: error: invalid --timeout "abc": expected a whole number of seconds from 1 to 2147483, or none (e.g. --timeout 30)'],
  [['grant', 'foo', '--timeout', '0'], 'krew-wasm: error: invalid --timeout "0": expected a whole number of seconds from 1 to 2147483, or none (e.g. --timeout 30)'],
  [['grant', 'foo', '--timeout', '-5'], 'krew-wasm: error: invalid --timeout "-5": expected a whole number of seconds from 1 to 2147483, or none (e.g. --timeout 30)'],
  [['grant', 'foo', '--timeout', '1.5'], 'krew-wasm: error: invalid --timeout "1.5": expected a whole number of seconds from 1 to 2147483, or none (e.g. --timeout 30)'],
  [['pull', 'x', '--timeout=99999999'], 'krew-wasm: error: invalid --timeout "99999999": expected a whole number of seconds from 1 to 2147483, or none (e.g. --timeout 30)'],
  [['grant', 'foo', '--max-memory', '5000'], 'krew-wasm: error: invalid --max-memory "5000": expected a whole number of MiB from 1 to 4096, or none (e.g. --max-memory 256)'],
  [['grant', 'foo', '--timeout'], 'krew-wasm: error: option --timeout needs a value: --timeout <seconds|none> (see krew-wasm grant --help)'],
  [['grant', 'foo', '--fs', 'all'], 'krew-wasm: error: invalid --fs "all": expected one of home, kubeconfig, none (e.g. --fs home)'],
  [['grant', 'foo', '--network', 'any'], 'krew-wasm: error: invalid --network "any": expected one of api-server, none (e.g. --network api-server)'],
  [['grant', 'foo', '--env', 'A=1'], 'krew-wasm: error: invalid environment variable name "A=1" (give names only, comma-separated, e.g. --env KUBECONFIG,HOME)'],
  [['revoke', 'foo', '--env', 'A,B C'], 'krew-wasm: error: invalid environment variable name "B C" (give names only, comma-separated, e.g. --env KUBECONFIG,HOME)'],
];

for (const [args, line] of usageErrors) {
  test(`usage error, one line and exit 2: krew-wasm ${args.join(' ')}`, (t) => usageError(t, args, line));
}

test('a usage error is checked before anything is downloaded or looked up', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  // The plugin does not exist and the registry is unreachable: the bad value is still what is reported.
  const r = await krewWasm(sb, ['pull', '--plain-http', '127.0.0.1:1/x:1', '--timeout', '0']);
  t.is(r.exitCode, 2);
  t.regex(theError(r.stderr), /^krew-wasm: error: invalid --timeout "0"/);
  t.is((await krewWasm(sb, ['grant', 'nope', '--max-memory', 'lots'])).exitCode, 2);
});

test('help: every command, placeholders named, no ANSI escapes when piped', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  for (const args of [[], ['--help'], ['-h'], ['help']]) {
    const r = await krewWasm(sb, args);
    t.is(r.exitCode, 0);
    t.is(r.stderr, '');
    t.false(ANSI.test(r.stdout));
    for (const c of COMMANDS) t.regex(r.stdout, new RegExp(`^  ${c} +\\S`, 'm'), `${c} listed`);
  }
  for (const c of COMMANDS) {
    for (const args of [[c, '--help'], ['help', c], [c, '-h']]) {
      const r = await krewWasm(sb, args);
      t.is(r.exitCode, 0, `${args.join(' ')}: ${r.stderr}`);
      t.false(ANSI.test(r.stdout), args.join(' '));
      t.false(r.stdout.includes('#0'), args.join(' '));
      t.regex(r.stdout, new RegExp(`^Usage:\\n  krew-wasm ${c}`, 'm'));
    }
  }
  const pull = (await krewWasm(sb, ['pull', '--help'])).stdout;
  t.regex(pull, /^ {2}--fs <home\|kubeconfig\|none> +Files the plugin sees/m);
  t.regex(pull, /^ {2}--timeout <seconds\|none> +Wall-clock limit/m);
  t.regex(pull, /^ {2}--max-memory <MiB\|none> /m);
  t.regex(pull, /^ {2}--allow-dir <path\[:ro\]> /m);
  t.regex((await krewWasm(sb, ['list', '--help'])).stdout, /^ {2}-o, --output <table\|json\|yaml\|name> /m);
});

test('run passes --help after the plugin name on to the plugin', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const r = await krewWasm(sb, ['run', path.join(FIXTURES, 'echo.wasm'), '--help']);
  t.is(r.exitCode, 0, r.stderr);
  t.true(r.stdout.startsWith('kubectl-echo\n--help\n'), r.stdout);
});

test('help on a terminal is coloured, and not with NO_COLOR', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const tty = await krewWasmInTerminal(sb, ['pull', '--help']);
  t.is(tty.exitCode, 0, tty.stderr);
  t.true(ANSI.test(tty.stdout));
  t.regex(tty.stdout, /\x1b\[1mUsage:\x1b\[22m/);
  const noColor = await krewWasmInTerminal(sb, ['pull', '--help'], { NO_COLOR: '1' });
  t.is(noColor.exitCode, 0);
  t.false(ANSI.test(noColor.stdout));
  t.regex(noColor.stdout, /^Usage:\n {2}krew-wasm pull \[options\] <reference>\.\.\.$/m);
  const dumb = await krewWasmInTerminal(sb, ['--help'], { TERM: 'dumb' });
  t.false(ANSI.test(dumb.stdout));
});

test('the fixes usage errors suggest work when followed', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  t.is((await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`])).exitCode, 0);
  const hintOf = (stderr: string) => /\(([^()]*(?:\([^()]*\))?[^()]*)\)$/.exec(theError(stderr))![1];
  // "did you mean X?": X is a command (or an option) that exists.
  for (const [typo, args] of [[['instal'], ['--help']], [['grnat', 'hello'], []], [['list', '--outptu', 'name'], null]] as const) {
    const hint = hintOf((await krewWasm(sb, [...typo])).stderr);
    const suggested = /^did you mean (\S+)\?$/.exec(hint)![1];
    const followed = args === null ? [typo[0], suggested, ...typo.slice(2)] : [suggested, ...typo.slice(1), ...args];
    const r = await krewWasm(sb, followed);
    t.is(r.exitCode, 0, `${followed.join(' ')}: ${r.stderr}`);
  }
  // "e.g. --flag value": the example is accepted.
  for (const bad of [['--timeout', '0'], ['--max-memory', '-1'], ['--fs', 'all'], ['--network', 'any'], ['--env', 'A=1']]) {
    const hint = hintOf((await krewWasm(sb, ['grant', 'hello', ...bad])).stderr);
    const example = /e\.g\. (--\S+ \S+)$/.exec(hint)![1].split(' ');
    const r = await krewWasm(sb, ['grant', 'hello', ...example]);
    t.is(r.exitCode, 0, `grant hello ${example.join(' ')}: ${r.stderr}`);
  }
  // "see krew-wasm <command> --help": that help exists.
  const see = /^see (.*)$/.exec(hintOf((await krewWasm(sb, ['list', 'extra'])).stderr))![1].split(' ').slice(1);
  t.is((await krewWasm(sb, see)).exitCode, 0);
});
