import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { krewWasm, makeSandbox, ROOT, runLink, type Sandbox } from '../helpers/cli.js';

/**
 * The public WASI test suite (test/fixtures/wasi-testsuite: prebuilt wasm32-wasip1 tests in C,
 * Rust and AssemblyScript, with JSON specs), run through the real plugin path: each test is pulled
 * as a plugin with grants that map its spec, then run through its kubectl-* link.
 *
 * Mapping of a spec: `dirs` are copied into a fresh HOME and granted with --allow-dir (preopened at
 * their absolute paths), and each argument that names one of them is given as that absolute path
 * (the Rust tests find their scratch preopen by comparing preopen names with argv[1]); the working
 * directory is that HOME, preopened as `.` by --fs home (the C tests open `fs-tests.dir/...`
 * relative to it), and a test without dirs gets --fs none; `env` becomes exactly the granted environment (--env with its names); `exit_code`,
 * `stdout` and `stderr` are compared when present.
 */

const SUITE = path.join(ROOT, 'test/fixtures/wasi-testsuite/tests');
const LANGUAGES = ['assemblyscript', 'c', 'rust'];

interface Spec {
  args?: string[];
  env?: Record<string, string>;
  dirs?: string[];
  exit_code?: number;
  stdout?: string;
  stderr?: string;
}

const cases = LANGUAGES.flatMap((language) => {
  const dir = path.join(SUITE, language, 'testsuite/wasm32-wasip1');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.wasm')).sort().map((file) => {
    const name = file.slice(0, -'.wasm'.length);
    const specFile = path.join(dir, `${name}.json`);
    const spec: Spec = fs.existsSync(specFile) ? JSON.parse(fs.readFileSync(specFile, 'utf8')) : {};
    return { id: `${language}/${name}`, dir, file, spec };
  });
});

/** At most two tests at a time: each pull transpiles, and the machine has two cores. */
let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const results = new Map<string, boolean>();

/** A plugin name for a test id: lower-case DNS-label style, unique. */
function pluginName(id: string): string {
  return `wt-${id.replace(/^assemblyscript/, 'as').replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`.slice(0, 63).replace(/-+$/, '');
}

async function runCase(c: (typeof cases)[number], sb: Sandbox): Promise<string[]> {
  const { spec } = c;
  const dirs = spec.dirs ?? [];
  for (const d of dirs) fs.cpSync(path.join(c.dir, d), path.join(sb.home, d), { recursive: true });
  const name = pluginName(c.id);
  // A test without dirs gets no preopen at all (some check that fd 3 is not open).
  const grants = ['--fs', dirs.length ? 'home' : 'none', '--env', Object.keys(spec.env ?? {}).join(',')];
  for (const d of dirs) grants.push('--allow-dir', path.join(sb.home, d));
  const pull = await krewWasm(sb, ['pull', `file://${path.join(c.dir, c.file)}`, '--name', name, ...grants]);
  if (pull.exitCode !== 0) return [`pull failed: ${pull.stderr.trim()}`];
  const args = (spec.args ?? []).map((a) => (dirs.includes(a) ? path.join(sb.home, a) : a));
  const r = await runLink(sb, name, args, { cwd: sb.home, env: spec.env ?? {}, input: '' });
  const problems: string[] = [];
  if (r.exitCode !== (spec.exit_code ?? 0)) problems.push(`exit ${r.exitCode}, want ${spec.exit_code ?? 0}`);
  if (spec.stdout !== undefined && r.stdout !== spec.stdout) problems.push(`stdout ${JSON.stringify(r.stdout)}, want ${JSON.stringify(spec.stdout)}`);
  if (spec.stderr !== undefined && r.stderr !== spec.stderr) problems.push(`stderr ${JSON.stringify(r.stderr)}, want ${JSON.stringify(spec.stderr)}`);
  if (problems.length && r.stderr) problems.push(`stderr: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
  return problems;
}

// Every test passes: none is marked as a known failure. (The three Rust tests that set file times
// to the nanosecond need runtime/wasi/fileTimes.ts: Node's fs truncates times to microseconds.)
for (const c of cases) {
  test(c.id, async (t) => {
    const sb = makeSandbox();
    t.teardown(() => sb.cleanup());
    const problems = await slot(() => runCase(c, sb));
    results.set(c.id, problems.length === 0);
    if (problems.length) t.log(problems.join('\n'));
    t.deepEqual(problems, []);
  });
}

test.after.always('pass count', () => {
  const passed = [...results.values()].filter(Boolean).length;
  // Printed for the README's conformance figure (ava shows it with --verbose).
  console.log(`wasi-testsuite: ${passed} of ${cases.length} passed through pull + kubectl-* link`);
});

test('the suite is all there: 72 tests in three languages', (t) => {
  t.is(cases.length, 72);
  t.deepEqual([...new Set(cases.map((c) => c.id.split('/')[0]))], LANGUAGES);
});
