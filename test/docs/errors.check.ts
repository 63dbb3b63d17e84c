import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import * as errors from '../../src/errors.js';
import { ROOT } from '../helpers/cli.js';

/**
 * docs/errors.md against the code and the suite (run by scripts/run-tests.sh after the whole suite):
 * every error class of src/errors.ts has a row, and every listed message was printed by a process
 * some test ran (test/helpers/cli.ts keeps their `krew-wasm:` lines in KREW_WASM_TEST_MESSAGE_LOG)
 * or, for a failure only a unit test can provoke, is asserted in the unit test the row names.
 * A message is written with `…` for the parts that vary.
 */
interface Row {
  code: string;
  exit: string;
  message: string;
  /** The full line a user sees: `krew-wasm: error: …`, `krew-wasm: …` for a note. */
  line: string;
  tests: string[];
}

const doc = fs.readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');

function tableRows(afterHeading: string): string[][] {
  const section = doc.slice(doc.indexOf(afterHeading));
  const rows: string[][] = [];
  for (const line of section.split('\n').slice(1)) {
    if (line.startsWith('#')) break;
    if (!line.startsWith('|') || /^\|[-| ]+\|$/.test(line)) continue;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|')));
  }
  return rows.slice(1); // the header
}

const unquote = (cell: string) => /^`(.*)`$/.exec(cell)?.[1];
const testsOf = (cell: string) => cell.split(',').map((name) => name.trim());

const errorTable = tableRows('## Errors');
const noteTable = tableRows('## Notes');
const defensiveTable = tableRows('## Defensive checks');

const errorRows: Row[] = errorTable.flatMap(([code, exit, , message, tests]) => {
  const text = unquote(message);
  return text === undefined ? [] : [{ code, exit, message: text, line: `krew-wasm: error: ${text}`, tests: testsOf(tests) }];
});
const noteRows: Row[] = noteTable.map(([code, , message, tests]) => {
  const text = unquote(message) as string;
  return { code, exit: '', message: text, line: `krew-wasm: ${text}`, tests: testsOf(tests) };
});
/** Messages of checks no test can reach: listed, not required to be printed (an internal error never is). */
const defensiveLines = defensiveTable.flatMap(([, messages]) => [...messages.matchAll(/`([^`]+)`/g)].map((m) => m[1]))
  .filter((m) => !m.startsWith('internal error'))
  .map((m) => `krew-wasm: error: ${m}`);

/** `…` stands for any text (possibly none); everything else is literal. */
function pattern(line: string): RegExp {
  return new RegExp(`^${line.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?')}$`);
}

function printedLines(): string[] {
  const dir = process.env.KREW_WASM_TEST_MESSAGE_LOG;
  if (!dir || !fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n')).filter(Boolean);
}

/** The source of a unit test named in a row (`oci/bounds` -> test/oci/bounds.test.ts), backslashes removed (regex escapes). */
function unitTestSource(name: string): string | undefined {
  if (name.startsWith('e2e/')) return undefined;
  const file = path.join(ROOT, 'test', `${name}.test.ts`);
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').replace(/\\/g, '') : undefined;
}

test('every error class of src/errors.ts has a row in docs/errors.md, with its exit code', (t) => {
  const codes = new Set([...errorTable, ...noteTable].map((row) => row[0]));
  const classes = Object.values(errors).filter((v): v is typeof errors.KrewWasmError => typeof v === 'function' && v.prototype instanceof errors.KrewWasmError);
  t.true(classes.length >= 13);
  for (const ErrorClass of classes) {
    const sample = new ErrorClass('sample');
    t.true(codes.has(sample.code), `${ErrorClass.name} (${sample.code}) is not listed`);
    t.true(errorRows.filter((r) => r.code === sample.code).every((r) => r.exit === String(sample.exitCode)), `${sample.code}: exit ${sample.exitCode}`);
  }
});

test('every message docs/errors.md lists was printed by some test, or is asserted by the unit test it names', (t) => {
  const printed = printedLines();
  t.true(printed.length > 0, 'no messages were kept: run the whole suite through scripts/run-tests.sh (make test)');
  t.true(errorRows.length + noteRows.length > 50);
  const missing: string[] = [];
  for (const row of [...errorRows, ...noteRows]) {
    const re = pattern(row.line);
    if (printed.some((l) => re.test(l))) continue;
    // Asserted by a unit test: every fixed piece of the message (and of its hint) is in that test's source.
    const pieces = row.message.split(/…|\(|\)/).map((s) => s.trim()).filter((s) => s.length >= 4);
    if (pieces.length && row.tests.some((name) => pieces.every((p) => unitTestSource(name)?.includes(p)))) continue;
    missing.push(`${row.line}   [${row.tests.join(', ')}]`);
  }
  t.deepEqual(missing, [], `not printed by any test:\n${missing.join('\n')}`);
});

test('every error line the tests saw is one docs/errors.md lists', (t) => {
  const patterns = [...errorRows.map((r) => r.line), ...noteRows.map((r) => r.line), ...defensiveLines].map(pattern);
  const unlisted = [...new Set(printedLines())].filter((l) => !patterns.some((re) => re.test(l)));
  t.deepEqual(unlisted, [], `printed but not in docs/errors.md:\n${unlisted.join('\n')}`);
});
