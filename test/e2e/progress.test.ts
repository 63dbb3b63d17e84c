import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, FIXTURES, krewWasm, makeSandbox, runProcess, type Sandbox } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../../testkit/registry.js';
import { writeLayout } from '../../testkit/artifacts.js';

// Issue 9: on a terminal, pulls, pushes and upgrades show progress on stderr (which blob, bytes,
// rate; transpiling as its own phase); nothing of it when stderr is not a terminal or with --quiet.
// `script` (util-linux) gives the command a pseudo-terminal, as a user's shell would.
const helloFile = path.join(FIXTURES, 'hello.wasm');
let registry: TestRegistry;

test.before(async () => {
  registry = await startRegistry();
  const sb = makeSandbox();
  const r = await krewWasm(sb, ['push', '--plain-http', helloFile, `${registry.host}/progress/hello:1`]);
  sb.cleanup();
  if (r.exitCode !== 0) throw new Error(r.stderr);
});

test.after.always(async () => {
  await registry?.stop();
});

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** krew-wasm on a pseudo-terminal: what the terminal showed (stdout and stderr together). */
async function onTerminal(sb: Sandbox, args: string[]): Promise<{ exitCode: number | null; screen: string }> {
  const command = [process.execPath, BIN, ...args].map(quote).join(' ');
  const r = await runProcess('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...sb.env, TERM: 'xterm', COLUMNS: '200' }, cwd: sb.home });
  return { exitCode: r.exitCode, screen: r.stdout };
}

const TRANSFER = /hello\.wasm: [\d.]+ (B|KiB) \/ 2\.2 KiB \d+% [\d.]+ (B|KiB|MiB)\/s/;
const TRANSFERRED = /hello\.wasm: 2\.2 KiB in [\d.]+ s \([\d.]+ (B|KiB|MiB)\/s\)\r?\n/;
const TRANSPILING = /transpiling hello\.wasm \(2289 bytes\)…/;

test('pull on a terminal: the blob with bytes, percentage and rate, then transpiling as its own phase', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const r = await onTerminal(sb, ['pull', '--plain-http', `${registry.host}/progress/hello:1`]);
  t.is(r.exitCode, 0, r.screen);
  t.regex(r.screen, TRANSFER);
  t.regex(r.screen, TRANSFERRED);
  t.regex(r.screen, TRANSPILING);
  t.regex(r.screen, /transpiling hello\.wasm \(2289 bytes\): done in [\d.]+ s/);
  t.true(r.screen.includes('\r\x1b[K'), 'the progress line is redrawn in place');
});

test('pull piped or with --quiet: no progress at all', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const piped = await krewWasm(sb, ['pull', '--plain-http', `${registry.host}/progress/hello:1`]);
  t.is(piped.exitCode, 0, piped.stderr);
  t.false(/\r|\x1b|B\/s|transpiling/.test(piped.stderr), piped.stderr);
  t.regex(piped.stderr, /Installed plugin "hello"/, 'status lines stay');
  const quiet = await onTerminal(sb, ['pull', '--quiet', '--force', '--plain-http', `${registry.host}/progress/hello:1`]);
  t.is(quiet.exitCode, 0, quiet.screen);
  t.false(/B\/s|transpiling|Installed/.test(quiet.screen), quiet.screen);
});

test('push and upgrade on a terminal show their transfers too', async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const pushed = await onTerminal(sb, ['push', '--plain-http', helloFile, `${registry.host}/progress/up:1`]);
  t.is(pushed.exitCode, 0, pushed.screen);
  t.regex(pushed.screen, TRANSFERRED);
  t.is((await krewWasm(sb, ['pull', '--plain-http', `${registry.host}/progress/up:1`, '--name', 'up'])).exitCode, 0);
  const echo = await krewWasm(sb, ['push', '--plain-http', path.join(FIXTURES, 'echo.wasm'), `${registry.host}/progress/up:1`]);
  t.is(echo.exitCode, 0, echo.stderr);
  const upgraded = await onTerminal(sb, ['upgrade']);
  t.is(upgraded.exitCode, 0, upgraded.screen);
  t.regex(upgraded.screen, /echo\.wasm: 3\.4 KiB in [\d.]+ s/);
  t.regex(upgraded.screen, /transpiling echo\.wasm \(\d+ bytes\)…/);
  t.true(fs.existsSync(path.join(sb.root, 'receipts/up.json')));
});

test("a layer's title is drawn as one printable line: its line breaks and escapes fake no line of krew-wasm's (attack 87)", async (t) => {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  const layout = path.join(sb.home, 'layout');
  // Line breaks and tabs: what an annotation may hold (one holding ESC, CR, C1 or bidi controls is not kept).
  const title = 'hello.wasm\nGranted (change with krew-wasm grant / revoke):\n  files: none\tevil';
  writeLayout(layout, 'v1', fs.readFileSync(helloFile), { manifest: { 'org.opencontainers.image.title': 'titled' }, layerTitle: title });
  const r = await onTerminal(sb, ['pull', `oci-layout://${layout}:v1`]);
  t.is(r.exitCode, 0, r.screen);
  t.regex(r.screen, /\x1b\[Khello\.wasm Granted \(change with krew-wasm grant \/ revoke\): files: none\?evil/, 'the transfer: one line, a tab a ?');
  t.false(/^\s*files: none/m.test(r.screen), 'no line of its own');
});
