import test from 'ava';
import { load } from 'js-yaml';
import { escapedForJson, escapedForYaml, printable, printableLine, shellWord, shortened, someOf } from '../src/printable.js';

test('printable: every control character and every Unicode control that moves text becomes ?, the line break stays', (t) => {
  t.is(printable('a\x1b[31mb\rc\x07d\x7fe\u0085f\u009bg\u202eh\u2066i\u200fj\u061ck\u2028l\u2029m\tn\no'), 'a?[31mb?c?d?e?f?g?h?i?j?k?l?m?n\no');
  t.is(printable('plain ASCII, ünïcödé, 漢字, 👍'), 'plain ASCII, ünïcödé, 漢字, 👍', 'letters of every script, and pairs of surrogates, as they are');
});

test('printableLine: line breaks and the blanks around them one space, then printable', (t) => {
  t.is(printableLine('  first\n   second\r\nthird \x1b '), 'first second third ?', 'CRLF a line break');
  t.is(printableLine('a\rb'), 'a?b', 'a carriage return alone, which rewrites a line, a ?');
});

test('someOf: at most max items, then how many more', (t) => {
  t.is(someOf([]), '');
  t.is(someOf(['a', 'b'], 2), 'a, b');
  t.is(someOf(['a', 'b', 'c'], 2), 'a, b, and 1 more');
  t.is(someOf(Array.from({ length: 10 }, (_, i) => String(i))), '0, 1, 2, 3, 4, 5, 6, 7, and 2 more');
});

test('format characters that hide text become ? too (attack 89), but the joiners scripts and emoji need', (t) => {
  t.is(printable('ku\u200bbe\u00ad\ufeff\u2061x\u{e0041}\u{e006b}y'), 'ku?be???x??y');
  t.is(printable('\u{1f468}\u200d\u{1f469}\u200d\u{1f467} \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645'), '\u{1f468}\u200d\u{1f469}\u200d\u{1f467} \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645');
});

test('escapedForJson: what printable replaces as \\u escapes, each UTF-16 unit, the same data', (t) => {
  const data = { a: 'x\u009b2J\u202e\u{e0041}\u200d\ny' };
  const json = escapedForJson(JSON.stringify(data, null, 2));
  t.is(json, '{\n  "a": "x\\u009b2J\\u202e\\udb40\\udc41\u200d\\ny"\n}');
  t.deepEqual(JSON.parse(json), data);
});

test('escapedForYaml: in double-quoted values, YAML escapes, the same data', (t) => {
  const text = 'a: "x\u202ey\u{e0041}\u200b\u200dz"\nb: "plain"\n';
  const escaped = escapedForYaml(text);
  t.is(escaped, 'a: "x\\u202ey\\U000e0041\\u200b\u200dz"\nb: "plain"\n');
  t.deepEqual(load(escaped), load(text));
});

test('shellWord: a word the shell reads back as itself, quoted only when it needs to be', (t) => {
  t.is(shellWord('oci-layout:///home/u/layout:1.0'), 'oci-layout:///home/u/layout:1.0');
  t.is(shellWord("a$(touch${IFS}x)'b"), "'a$(touch${IFS}x)'\\''b'");
});

test('shortened: at most max UTF-16 units and the ellipsis, never half of a surrogate pair', (t) => {
  t.is(shortened('abc', 3), 'abc');
  t.is(shortened('abcd', 3), 'abc...');
  t.is(shortened('abcd', 3, '…'), 'abc…');
  t.is(shortened('ab\u{1f44d}c', 3), 'ab...', 'the pair whose second half is past max is left out whole');
  t.is(shortened('ab\u{1f44d}c', 4), 'ab\u{1f44d}...');
  const cut = shortened('x'.repeat(199) + '\u{1f44d}'.repeat(5), 200);
  t.false(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(cut), 'no lone surrogate');
  t.true(Buffer.from(cut).toString() === cut, 'written as UTF-8 and read back, the same text (no U+FFFD)');
});
