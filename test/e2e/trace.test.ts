import test from 'ava';
import path from 'node:path';
import { FIXTURES, krewWasm, makeSandbox, runProcess } from '../helpers/cli.js';

// bench/run.mjs reads these lines (a plugin's own run is "instantiated" to "run returned").
test('KREW_WASM_TRACE prints each start-up phase once, in order, with the time, CPU used and page faults so far; the plugin runs as without it', async (t) => {
  const sb = makeSandbox();
  t.teardown(() => sb.cleanup());
  t.is((await krewWasm(sb, ['pull', `file://${path.join(FIXTURES, 'hello.wasm')}`, '--name', 'hello'])).exitCode, 0);
  const link = path.join(sb.root, 'bin', 'kubectl-hello');
  const traced = await runProcess(link, [], { cwd: sb.home, env: { ...sb.env, KREW_WASM_TRACE: '1' } });
  t.is(traced.exitCode, 0, traced.stderr);
  t.is(traced.stdout, 'hello from wasm\n');
  const lines = traced.stderr.trimEnd().split('\n');
  const phases = lines.map((line) => /^krew-wasm trace: ([\d.]+) ms (.+) \(cpu ([\d.]+) ms, system ([\d.]+) ms, (\d+) page faults\)$/.exec(line));
  t.true(phases.every(Boolean), traced.stderr);
  t.deepEqual(phases.map((m) => m![2]), ['wrapper loaded', 'receipt read', 'entry checked', 'compiling', 'sandbox ready', 'plugin.js loaded', 'imports ready', 'compiled', 'instantiated', 'run returned', 'exiting']);
  for (let i = 1; i < phases.length; i++) {
    t.true(Number(phases[i]![1]) >= Number(phases[i - 1]![1]), 'time goes forward');
    t.true(Number(phases[i]![3]) >= Number(phases[i - 1]![3]), 'CPU time goes forward');
    t.true(Number(phases[i]![5]) >= Number(phases[i - 1]![5]), 'page faults only add up');
  }
  t.true(phases.every((m) => Number(m![4]) <= Number(m![3])), 'system time is part of the CPU time');
  // Node's own start touches thousands of pages: a count that is not the process's would be 0 or tiny.
  t.true(Number(phases[0]![5]) > 1000, `${phases[0]![5]} page faults by the time the wrapper is loaded`);
  const plain = await runProcess(link, [], { cwd: sb.home, env: sb.env });
  t.is(plain.stderr, '');
  t.is(plain.stdout, traced.stdout);
});
