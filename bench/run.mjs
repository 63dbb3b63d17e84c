#!/usr/bin/env node
// make bench: whole-process timings of krew-wasm against baselines measured in the same run,
// interleaved (baseline, scenario, baseline, scenario, ...). Reports; never fails on a number.
// Every process runs with NODE_EXTRA_CA_CERTS unset: it adds ~60 ms to each Node 20 start on
// machines that set it, which users rarely do and which would hide our own overhead.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = path.join(root, 'test/fixtures/build');
const RUNS = Number(process.env.BENCH_RUNS) || 15;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-bench-'));
const home = path.join(work, 'home');
const krewRoot = path.join(home, '.krew-wasm');
const bin = path.join(krewRoot, 'bin');
fs.mkdirSync(path.join(home, '.kube'), { recursive: true });
const env = { ...process.env, HOME: home, KREW_WASM_ROOT: krewRoot, PATH: `${bin}:${process.env.PATH}` };
delete env.NODE_EXTRA_CA_CERTS;
delete env.KUBECONFIG;
const krew = path.join(root, 'bin/krew-wasm.js');

const run = (file, args, opts = {}) => {
  const r = spawnSync(file, args, { env, cwd: home, stdio: ['ignore', 'ignore', 'pipe'], ...opts });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
};
const timeOnce = (cmd) => {
  const t0 = process.hrtime.bigint();
  run(cmd[0], cmd.slice(1));
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
};
/** Runs scenario and baseline alternately; returns both distributions. */
function compare(cmd, baseline, runs = RUNS) {
  for (let i = 0; i < 2; i++) { timeOnce(cmd); timeOnce(baseline); } // warm the page cache
  const a = [];
  const b = [];
  for (let i = 0; i < runs; i++) {
    b.push(timeOnce(baseline));
    a.push(timeOnce(cmd));
  }
  return { scenario: stats(a), baseline: stats(b) };
}
const peakRssKiB = (cmd) => {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...cmd], { env, cwd: home, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  return Number(r.stderr.trim().split('\n').pop());
};

const rows = [];
const row = (scenario, measured, baselineName, ratio, target, note = '') => rows.push({ scenario, measured, baselineName, ratio, target, note });
const ms = (s) => `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;

const pull = (source, name) => run(process.execPath, [krew, 'pull', source, '--name', name]);
console.error(`krew-wasm bench: ${RUNS} interleaved runs per scenario, NODE_EXTRA_CA_CERTS unset`);

let api;
let registry;
try {
  // Scenario 1: the smallest plugin through its kubectl-* link.
  pull(`file://${fixtures}/hello.wasm`, 'hello');
  const shellPlugin = path.join(bin, 'kubectl-shellhello');
  fs.writeFileSync(shellPlugin, '#!/bin/sh\necho hello from sh\n', { mode: 0o755 });
  const s1 = compare([path.join(bin, 'kubectl-hello')], [process.execPath, '-e', '0']);
  const s1sh = compare([path.join(bin, 'kubectl-hello')], [shellPlugin]);
  row('1. smallest plugin (WAT, one line) via kubectl-hello', ms(s1.scenario), `node -e 0: ${ms(s1.baseline)}`, s1.scenario.median / s1.baseline.median, '≤ 1.3x');
  row('1b. same, against a shell-script plugin', ms(s1sh.scenario), `sh plugin: ${ms(s1sh.baseline)}`, s1sh.scenario.median / s1sh.baseline.median, '(info)');
  fs.rmSync(shellPlugin);

  // Scenario 2: the JS example plugin (jco componentize, ~15 MB) doing one API request.
  const apiProc = spawn(process.execPath, [path.join(root, 'bench/apiserver.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  api = apiProc;
  const apiInfo = await new Promise((resolve) => apiProc.stdout.once('data', (d) => resolve(JSON.parse(d.toString()))));
  fs.writeFileSync(path.join(home, '.kube/config'), `apiVersion: v1
kind: Config
current-context: bench
clusters: [{name: bench, cluster: {server: '${apiInfo.url}', certificate-authority: '${apiInfo.ca}'}}]
users: [{name: bench, user: {token: bench-token}}]
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
`);
  pull(`file://${root}/examples/build/pods.wasm`, 'pods');
  const s2 = compare([path.join(bin, 'kubectl-pods')], [process.execPath, '-e', '0'], Math.max(5, Math.floor(RUNS / 2)));
  const req = compare([process.execPath, path.join(root, 'bench/onerequest.mjs'), apiInfo.url, apiInfo.ca], [process.execPath, '-e', '0'], Math.max(5, Math.floor(RUNS / 2)));
  const requestOwn = req.scenario.median - req.baseline.median;
  row('2. JS example plugin (15 MB), one API request', ms(s2.scenario), `node -e 0: ${ms(s2.baseline)}; request alone +${requestOwn.toFixed(1)} ms`,
    (s2.scenario.median - requestOwn) / s2.baseline.median, '≤ 2.5x + request');

  // Scenario 3: a C preview1 program (adapter-wrapped) reading a file from HOME.
  pull(`file://${fixtures}/fsprobe.core.wasm`, 'fsprobe');
  fs.writeFileSync(path.join(home, 'data.txt'), 'benchmark data\n');
  const s3 = compare([path.join(bin, 'kubectl-fsprobe'), 'read', path.join(home, 'data.txt')], [process.execPath, '-e', '0']);
  row('3. C preview1 plugin reading a file from HOME', ms(s3.scenario), `node -e 0: ${ms(s3.baseline)}`, s3.scenario.median / s3.baseline.median, '(info)');

  // Scenario 4: stdout throughput, 64 MiB to a pipe, against cat of a 64 MiB file.
  pull(`file://${fixtures}/spew.wasm`, 'spew');
  const big = path.join(work, 'big');
  fs.writeFileSync(big, Buffer.alloc(64 * 1024 * 1024, 'y\n'));
  const s4 = compare(['sh', '-c', `${path.join(bin, 'kubectl-spew')} 64 | cat > /dev/null`], ['sh', '-c', `cat ${big} | cat > /dev/null`], 5);
  const mbps = (t) => (64 * 1.048576) / (t / 1000);
  row('4. stdout throughput, 64 MiB to a pipe', `${mbps(s4.scenario.median).toFixed(0)} MB/s`, `cat: ${mbps(s4.baseline.median).toFixed(0)} MB/s`, mbps(s4.scenario.median) / mbps(s4.baseline.median), '≥ 25% of cat');

  // Scenario 5: pull of the JS example from a local registry, split into its phases.
  const { startRegistry } = await import('../dist/testkit/registry.js');
  const { pushArtifact } = await import('../dist/testkit/artifacts.js');
  registry = await startRegistry();
  const wasm = fs.readFileSync(path.join(root, 'examples/build/pods.wasm'));
  await pushArtifact({ url: registry.url, repo: 'bench/pods', tag: '1.0' }, 'cncf', wasm);
  const phases = [];
  for (let i = 0; i < 3; i++) {
    const r = run(process.execPath, [krew, 'pull', '--force', '--plain-http', `${registry.host}/bench/pods:1.0`, '--name', 'pulled'], { env: { ...env, KREW_WASM_TIMINGS: '1' }, encoding: 'utf8' });
    phases.push(JSON.parse(/timings: (\{.*\})/.exec(r.stderr)[1]));
  }
  const t0 = process.hrtime.bigint();
  createHash('sha256').update(wasm).digest('hex');
  const hashMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const med = (k) => stats(phases.map((p) => p[k])).median;
  row(`5. pull of the JS example (${(wasm.length / 1048576).toFixed(1)} MiB) from a local registry`,
    `download+verify ${med('downloadMs').toFixed(0)} ms, transpile ${med('transpileMs').toFixed(0)} ms, commit ${med('commitMs').toFixed(0)} ms`,
    `sha256 alone ${hashMs.toFixed(0)} ms`, undefined, 'transpile < 1.5 s');

  // Scenario 6: list with 100 plugins installed.
  const receipt = JSON.parse(fs.readFileSync(path.join(krewRoot, 'receipts/hello.json'), 'utf8'));
  for (let i = 0; i < 100; i++) {
    const name = `p${i}`;
    fs.writeFileSync(path.join(krewRoot, `receipts/${name}.json`), JSON.stringify({ ...receipt, name }));
    fs.symlinkSync(fs.realpathSync(krew), path.join(bin, `kubectl-${name}`));
  }
  const s6 = compare([process.execPath, krew, 'list'], [process.execPath, '-e', '0']);
  row('6. krew-wasm list, 100+ plugins installed', ms(s6.scenario), `node -e 0: ${ms(s6.baseline)}`, s6.scenario.median / s6.baseline.median, '≤ 1.5x');

  // Scenario 7: peak RSS of scenarios 1 and 2.
  const rss1 = stats([1, 2, 3].map(() => peakRssKiB([path.join(bin, 'kubectl-hello')])));
  const rss2 = stats([1, 2, 3].map(() => peakRssKiB([path.join(bin, 'kubectl-pods')])));
  const rss0 = stats([1, 2, 3].map(() => peakRssKiB([process.execPath, '-e', '0'])));
  row('7. peak RSS: smallest plugin / JS example', `${(rss1.median / 1024).toFixed(0)} MiB / ${(rss2.median / 1024).toFixed(0)} MiB`, `node -e 0: ${(rss0.median / 1024).toFixed(0)} MiB`, undefined, '(info)');
} finally {
  api?.kill('SIGTERM');
  await registry?.stop();
  fs.rmSync(work, { recursive: true, force: true });
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const header = [
  `krew-wasm benchmarks, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
  `Median (min–max) of ${RUNS} whole-process runs interleaved with the baseline; NODE_EXTRA_CA_CERTS unset for every process.`,
  '',
  '| scenario | measured | baseline | ratio | target |',
  '|---|---|---|---|---|',
];
const table = rows.map((r) => `| ${r.scenario} | ${r.measured} | ${r.baselineName} | ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`} | ${r.target} |`);
const text = [...header, ...table].join('\n') + '\n';
fs.mkdirSync(path.join(root, 'bench/out'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench/out/results.md'), text);
process.stdout.write(text);
