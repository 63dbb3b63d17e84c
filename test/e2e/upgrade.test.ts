import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { request, writeLayout } from '../../testkit/artifacts.js';
import { FIXTURES, krewWasm, makeSandbox, runLink, theError, type Sandbox } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../../testkit/registry.js';
import { storeProblems } from '../helpers/storeCheck.js';
import { startFaultProxy } from '../helpers/faultProxy.js';

// Issue 9: keeping plugins current. Versions are published with krew-wasm push to the real
// registry; a "new version" is another plugin pushed under the same tag.
const hello = path.join(FIXTURES, 'hello.wasm');
const echo = path.join(FIXTURES, 'echo.wasm');
const exitcode = path.join(FIXTURES, 'exitcode.wasm');
let registry: TestRegistry;

test.before(async () => {
  registry = await startRegistry();
});

test.after.always(async () => {
  await registry?.stop();
});

function sandbox(t: import('ava').ExecutionContext): Sandbox {
  const sb = makeSandbox();
  t.teardown(sb.cleanup);
  return sb;
}

async function ok(sb: Sandbox, args: string[]) {
  const r = await krewWasm(sb, args);
  if (r.exitCode !== 0) throw new Error(`krew-wasm ${args.join(' ')}: ${r.stderr}`);
  return r;
}

const push = async (sb: Sandbox, file: string, ref: string) => (await ok(sb, ['push', '-q', '--plain-http', file, ref])).stdout.trim().split('@')[1];
const receiptOf = (sb: Sandbox, name: string) => JSON.parse(fs.readFileSync(path.join(sb.root, 'receipts', `${name}.json`), 'utf8'));
const entries = (sb: Sandbox) => fs.readdirSync(path.join(sb.root, 'store')).sort();

test('outdated before and after, upgrade after a new version under the same tag: new digest, grants kept, old entry collected', async (t) => {
  const sb = sandbox(t);
  const ref = `${registry.host}/plugins/greet:stable`;
  const v1 = await push(sb, hello, ref);
  await ok(sb, ['pull', '--plain-http', ref]);
  await ok(sb, ['grant', 'greet', '--env', 'HOME', '--timeout', '30']);
  const grants = receiptOf(sb, 'greet').grants;
  const oldEntry = receiptOf(sb, 'greet').layerDigest.slice(7);

  const current = await ok(sb, ['outdated', '-o', 'json']);
  t.deepEqual(JSON.parse(current.stdout), [{ name: 'greet', source: ref, installed: v1, status: 'up-to-date', available: v1, pin: v1 }]);
  t.is((await ok(sb, ['outdated'])).stdout, '', 'piped: the names of outdated plugins, none');
  t.regex((await ok(sb, ['upgrade'])).stderr, /^greet: already up to date \(sha256:[0-9a-f]{12}\)$/m);

  const v2 = await push(sb, echo, ref);
  t.not(v2, v1);
  t.is((await ok(sb, ['outdated'])).stdout, 'greet\n');
  const table = (await ok(sb, ['outdated', '-o', 'table'])).stdout;
  t.regex(table, new RegExp(`^NAME\\s+INSTALLED\\s+AVAILABLE\\s+STATUS\\s+SOURCE\\ngreet\\s+${v1.slice(0, 19)}\\s+${v2.slice(0, 19)}\\s+outdated\\s+${ref}\\n$`));

  const dry = await ok(sb, ['upgrade', '--dry-run']);
  t.regex(dry.stderr, new RegExp(`^greet: would upgrade ${v1.slice(0, 19)} -> ${v2.slice(0, 19)}$`, 'm'));
  t.is(receiptOf(sb, 'greet').manifestDigest, v1, '--dry-run changed nothing');
  t.is((await runLink(sb, 'greet', [])).stdout, 'hello from wasm\n');

  const up = await ok(sb, ['upgrade', 'greet']);
  t.regex(up.stderr, new RegExp(`^greet: upgraded ${v1.slice(0, 19)} -> ${v2.slice(0, 19)}$`, 'm'));
  const after = receiptOf(sb, 'greet');
  t.is(after.manifestDigest, v2);
  t.is(after.source, ref, 'the receipt keeps the tag it follows');
  t.deepEqual(after.grants, grants, 'grants kept');
  t.false(entries(sb).includes(oldEntry), 'the old entry was collected');
  t.deepEqual(entries(sb), [after.layerDigest.slice(7)]);
  t.true((await runLink(sb, 'greet', ['x'])).stdout.startsWith('kubectl-greet\nx\n--\n'), 'the new version runs');
  t.deepEqual(storeProblems(sb.root), []);

  t.regex((await ok(sb, ['upgrade'])).stderr, /^greet: already up to date/m);
  t.is(JSON.parse((await ok(sb, ['outdated', '-o', 'json'])).stdout)[0].status, 'up-to-date');
});

test('a plugin pinned by digest is never upgraded, and says so', async (t) => {
  const sb = sandbox(t);
  const ref = `${registry.host}/plugins/pinned:1`;
  const v1 = await push(sb, hello, ref);
  await ok(sb, ['pull', '--plain-http', `${registry.host}/plugins/pinned@${v1}`]);
  await push(sb, echo, ref);
  const r = await ok(sb, ['upgrade']);
  t.regex(r.stderr, new RegExp(`^pinned: pinned by digest \\(${registry.host}/plugins/pinned@${v1}\\), not upgraded$`, 'm'));
  t.is(receiptOf(sb, 'pinned').manifestDigest, v1);
  t.is(JSON.parse((await ok(sb, ['outdated', '-o', 'json'])).stdout)[0].status, 'pinned');
});

test('upgrade tries every plugin, reports each failure and exits non-zero', async (t) => {
  const sb = sandbox(t);
  const good = `${registry.host}/plugins/good:1`;
  const gone = `${registry.host}/plugins/gone:1`;
  await push(sb, hello, good);
  const goneDigest = await push(sb, hello, gone);
  await ok(sb, ['pull', '--plain-http', gone, '--name', 'gone']);
  await ok(sb, ['pull', '--plain-http', good, '--name', 'good']);
  await push(sb, exitcode, good);
  // The registry deletes the manifest the tag points at: the source names nothing any more.
  t.is((await request(new URL(`${registry.url}/v2/plugins/gone/manifests/${goneDigest}`), 'DELETE')).status, 202);
  const r = await krewWasm(sb, ['upgrade', 'gone', 'good', 'missing']);
  t.is(r.exitCode, 1);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('krew-wasm: error:'));
  t.is(errors.length, 3, r.stderr);
  t.is(errors[0], 'krew-wasm: error: plugin "missing" is not installed (see krew-wasm list, or install it with krew-wasm pull <reference> --name missing)');
  t.regex(errors[1], /^krew-wasm: error: manifest 127\.0\.0\.1:\d+\/plugins\/gone:1: not found on .*MANIFEST_UNKNOWN/);
  t.is(errors[2], 'krew-wasm: error: 2 plugins not upgraded: missing, gone (each is reported above; the others were tried)');
  t.regex(r.stderr, /^good: upgraded/m, 'the others were upgraded');
  t.is((await runLink(sb, 'good', ['3'])).exitCode, 3);
  const outdated = await krewWasm(sb, ['outdated', '-o', 'json']);
  t.is(outdated.exitCode, 1);
  t.deepEqual(JSON.parse(outdated.stdout).map((c: { name: string; status: string }) => [c.name, c.status]), [['good', 'up-to-date']], 'the others are still shown');
  const outdatedErrors = outdated.stderr.split('\n').filter((l) => l.startsWith('krew-wasm: error:'));
  t.regex(outdatedErrors[0], /^krew-wasm: error: manifest 127\.0\.0\.1:\d+\/plugins\/gone:1: not found/);
  t.is(outdatedErrors[1], 'krew-wasm: error: could not check gone (each is reported above)');
});

test('registry options given to upgrade or outdated apply to the plugins named with them; for every plugin they are refused (attack 87)', async (t) => {
  const sb = sandbox(t);
  const ref = `${registry.host}/plugins/local:1`;
  await push(sb, hello, ref);
  await ok(sb, ['pull', '--plain-http', ref]);
  const layout = path.join(sb.home, 'layout');
  writeLayout(layout, 'v1', fs.readFileSync(hello), { layerTitle: 'greeter.wasm' });
  await ok(sb, ['pull', `oci-layout://${layout}:v1`]);
  const receipts = () => ['local', 'greeter'].map((name) => fs.readFileSync(path.join(sb.root, 'receipts', `${name}.json`), 'utf8'));
  const before = receipts();
  // Given for every plugin, --plain-http sent an HTTPS registry's credentials in clear text, and
  // upgrade wrote it into each receipt.
  for (const [command, option, example] of [['upgrade', ['--plain-http'], '--plain-http'], ['outdated', ['--insecure'], '--insecure'], ['upgrade', ['--ca-file', 'ca.pem'], '--ca-file <file>']] as const) {
    const r = await krewWasm(sb, [command, ...option]);
    t.is(r.exitCode, 2);
    t.is(r.stderr, `krew-wasm: error: ${option[0]} applies to the plugins it is given for, not to every installed plugin (name them: krew-wasm ${command} ${example} <name>...; without it, each plugin uses the registry options its pull recorded)\n`);
    t.is(r.stdout, '');
  }
  t.deepEqual(receipts(), before, 'nothing changed');
  // Following the hint: the options reach the named plugins only.
  t.regex((await ok(sb, ['upgrade', '--plain-http', 'local'])).stderr, /^local: already up to date/m);
  const checked = JSON.parse((await ok(sb, ['outdated', '--plain-http', '-o', 'json', 'local'])).stdout);
  t.deepEqual(checked.map((c: { name: string; status: string }) => [c.name, c.status]), [['local', 'up-to-date']]);
  await push(sb, echo, ref);
  t.regex((await ok(sb, ['upgrade', '--plain-http', 'local'])).stderr, /^local: upgraded/m);
  t.is(receipts()[1], before[1], 'the plugin not named is untouched');
  t.deepEqual(receiptOf(sb, 'local').transport, { plainHttp: true });
  t.is((await ok(sb, ['outdated'])).stdout, '', 'each plugin with the options its pull recorded');
});

test('a revoke, an rm or a pull made while an upgrade downloads stands: the upgrade takes the grants as they are at its commit, and installs nothing for a plugin removed or installed again (attack 87)', async (t) => {
  const sb = sandbox(t);
  const proxy = await startFaultProxy(registry.url);
  t.teardown(proxy.stop);
  const ref = `${proxy.host}/plugins/race:1`;
  await push(sb, hello, `${registry.host}/plugins/race:1`);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'kept']);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'gone']);
  await ok(sb, ['pull', '--plain-http', ref, '--name', 'repulled']);
  await push(sb, echo, `${registry.host}/plugins/race:1`);
  // The new layer's download waits until the test has changed the store.
  proxy.rules.push({ match: /\/blobs\/sha256:/, fault: 'hold', times: Infinity });
  const upgrading = krewWasm(sb, ['upgrade', 'kept', 'gone', 'repulled']);
  await proxy.held();
  await ok(sb, ['revoke', 'kept', '--fs', '--network', '--env', 'all']);
  await ok(sb, ['rm', 'gone']);
  await ok(sb, ['pull', '--force', '--plain-http', `${registry.host}/plugins/race:1`, '--name', 'repulled']);
  const repulled = receiptOf(sb, 'repulled');
  const revoked = receiptOf(sb, 'kept').grants;
  proxy.release();
  const r = await upgrading;
  t.is(r.exitCode, 1, r.stderr);
  t.regex(r.stderr, /^kept: upgraded /m);
  t.regex(r.stderr, /^krew-wasm: error: plugin "gone" was removed while it was upgraded: nothing was installed \(see krew-wasm list\)$/m);
  t.regex(r.stderr, /^krew-wasm: error: plugin "repulled" was installed again while it was upgraded: nothing was installed \(see krew-wasm list, and run krew-wasm upgrade repulled again\)$/m);
  t.deepEqual(receiptOf(sb, 'repulled'), repulled, 'the pull stands');
  t.deepEqual(receiptOf(sb, 'kept').grants, revoked, 'the revoke stands');
  t.like(revoked, { filesystem: 'none', network: 'none', env: { mode: 'only', names: [] } });
  t.true((await runLink(sb, 'kept', [])).stdout.startsWith('kubectl-kept\n'), 'the new version runs');
  t.false(fs.existsSync(path.join(sb.root, 'receipts', 'gone.json')), 'the rm stands');
  t.false(fs.existsSync(path.join(sb.root, 'bin', 'kubectl-gone')));
  t.deepEqual(storeProblems(sb.root), []);
  t.deepEqual(entries(sb), [receiptOf(sb, 'kept').layerDigest.slice(7)], 'nothing left of the refused commits (both plugins run the new layer)');
});

test('upgrade and outdated follow layout tags and files too', async (t) => {
  const sb = sandbox(t);
  const layout = path.join(sb.home, 'layout');
  writeLayout(layout, 'v1', fs.readFileSync(hello), { layerTitle: 'greeter.wasm' });
  const file = path.join(sb.home, 'tool.wasm');
  fs.copyFileSync(hello, file);
  await ok(sb, ['pull', `oci-layout://${layout}:v1`]);
  await ok(sb, ['pull', `file://${file}`]);
  t.is((await ok(sb, ['outdated'])).stdout, '');
  writeLayout(layout, 'v1', fs.readFileSync(echo), { layerTitle: 'greeter.wasm' });
  fs.copyFileSync(exitcode, file);
  t.is((await ok(sb, ['outdated'])).stdout, 'greeter\ntool\n');
  await ok(sb, ['upgrade']);
  t.true((await runLink(sb, 'greeter', [])).stdout.startsWith('kubectl-greeter\n'));
  t.is((await runLink(sb, 'tool', ['4'])).exitCode, 4);
  t.is((await ok(sb, ['outdated'])).stdout, '');
});

test('pull a b c installs each on its own, reports each, exits non-zero when any failed', async (t) => {
  const sb = sandbox(t);
  await push(sb, hello, `${registry.host}/multi/one:1`);
  await push(sb, echo, `${registry.host}/multi/two:1`);
  const r = await krewWasm(sb, ['pull', '--plain-http', `${registry.host}/multi/one:1`, `${registry.host}/multi/nope:1`, `${registry.host}/multi/two:1`]);
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /^Installed plugin "one"/m);
  t.regex(r.stderr, /^Installed plugin "two"/m);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('krew-wasm: error:'));
  t.regex(errors[0], /^krew-wasm: error: manifest 127\.0\.0\.1:\d+\/multi\/nope:1: not found/);
  t.is(errors[1], `krew-wasm: error: 1 of 3 sources failed: ${registry.host}/multi/nope:1 (each is reported above; the others are installed)`);
  t.is((await ok(sb, ['list'])).stdout, 'one\ntwo\n');
  const named = await krewWasm(sb, ['pull', '--name', 'x', `${registry.host}/multi/one:1`, `${registry.host}/multi/two:1`]);
  t.is(named.exitCode, 2);
  t.is(theError(named.stderr), 'krew-wasm: error: --name names one plugin, but 2 sources were given (pull them one at a time to name each)');
});
