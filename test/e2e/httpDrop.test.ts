import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ended, FIXTURES, krewWasm, makeSandbox, runLink, type Sandbox } from '../helpers/cli.js';
import { startKubeWorld, type KubeWorld } from '../../testkit/kubeWorld.js';

/**
 * A response the plugin lets go of (the future, the response, or the body dropped before the
 * body's stream was taken) ends its request: the server sees its connection closed, and the host
 * keeps nothing of it. Before, only the drop of the body's stream did, and 3,000 dropped futures
 * held 3 GB under --max-memory 16 (attack 93). The server's watch shows it: it stays open while
 * the request lives. Serial: the fake API server's watches are counted for the whole file.
 */

let sb: Sandbox;
let world: KubeWorld;

test.before(async () => {
  sb = makeSandbox();
  world = await startKubeWorld(sb.home);
  for (const [name, ...grants] of [['httpdrop', '--max-memory', '16'], ['unfinished', '--timeout', '30']]) {
    const r = await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'httpdrop.wasm')}`, '--name', name!, ...grants]);
    if (r.exitCode !== 0) throw new Error(r.stderr);
  }
});

test.after.always(async () => {
  await world?.stop();
  sb?.cleanup();
});

const WATCH = '/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=120';

/** Runs `httpdrop WHAT WATCH` until it has let go of the response; `end()` closes its stdin and resolves with its exit. */
async function letGo(what: string): Promise<{ end(): Promise<{ code: number | null; stderr: string }> }> {
  const child = spawn(path.join(sb.root, 'bin', 'kubectl-httpdrop'), [what, WATCH], { cwd: sb.home, env: sb.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = ended(child).then(({ code }) => code);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout === 'let go\n') resolve();
    });
    void exited.then(() => reject(new Error(`httpdrop ${what} exited early: ${stdout} ${stderr}`)));
  });
  return {
    end: async () => {
      child.stdin.end();
      return { code: await exited, stderr };
    },
  };
}

/** Whether the server's open watches come down to `count` within 20 s (a connection left open never does). */
async function watchesComeTo(count: number): Promise<boolean> {
  for (let waited = 0; waited < 20_000; waited += 50) {
    if (world.api.openWatches() === count) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return world.api.openWatches() === count;
}

test.serial('the control: a response the plugin holds keeps its watch open while the plugin runs', async (t) => {
  const run = await letGo('keep');
  t.true(await watchesComeTo(1));
  t.is(world.api.openWatches(), 1, 'still open while the plugin waits');
  const { code, stderr } = await run.end();
  t.is(code, 0, stderr);
  t.true(await watchesComeTo(0), 'closed when the run ends');
});

for (const what of ['future', 'response', 'body']) {
  test.serial(`a ${what} dropped before the body's stream was taken ends its request while the plugin runs on`, async (t) => {
    const run = await letGo(what);
    t.true(await watchesComeTo(0), 'the server saw the connection closed');
    const { code, stderr } = await run.end();
    t.is(code, 0, stderr);
    t.is(stderr, '');
  });
}

for (const when of ['unfinished', 'abandoned']) {
  test.serial(`a request body dropped unfinished ${when === 'unfinished' ? 'once the request was sent' : 'before it was sent'} fails the request, as WASI says, instead of leaving it waiting for the rest`, async (t) => {
    // The server waits for the end of the body it was promised: the request waited with it, until the
    // plugin's --timeout, its first-byte timeout never started (attacks 93 and 95).
    const r = await runLink(sb, 'unfinished', [when, '/api/v1/echo']);
    t.is(r.stdout, 'failed\n', r.stderr);
    t.is(r.exitCode, 1);
    t.false(world.api.requests.some((q) => q.method === 'POST'), 'the server never saw it complete');
  });
}
