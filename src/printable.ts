/**
 * Text from outside krew-wasm (a registry's answer, an artifact's annotations, a component's names
 * and docs) made safe to print: a terminal acts on an escape sequence wherever it appears, and a
 * media type or an import name carrying one erased krew-wasm's error line and drew a fake
 * `Installed plugin ...` in its place (attack 87). Every control character (Unicode's Cc: C0 but
 * the line break, DEL, C1, where 0x9B is a one-byte CSI to some terminals), every format character
 * (Cf: bidi embeddings, overrides and isolates, which reorder text; zero-width and invisible ones,
 * which hid a word inside a description, attack 89) and the line and paragraph separators become
 * `?`; but the zero-width joiner and non-joiner, which scripts and emoji are written with.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;
const KEPT = new Set(['\n', '\u200c', '\u200d']);

/** `text` with its line breaks, and nothing else a terminal would act on or hide. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => (KEPT.has(c) ? c : '?'));
}

/**
 * JSON text with the characters printable() replaces written as `\u` escapes (each UTF-16 unit of
 * one): the same data, nothing a terminal acts on. JSON.stringify escapes C0 only.
 */
export function escapedForJson(json: string): string {
  return withEscapes(json, (c) => Array.from({ length: c.length }, (_, i) => `\\u${hex(c.charCodeAt(i), 4)}`).join(''));
}

/** Whether `text` holds a character printable() replaces but a line break. */
export function hasUnprintable(text: string): boolean {
  for (const [c] of text.matchAll(UNPRINTABLE)) if (!KEPT.has(c)) return true;
  return false;
}

/**
 * YAML text whose every string value is double-quoted (js-yaml's `forceQuotes`), with the
 * characters printable() replaces written as YAML's `\u` and `\U` escapes: the same data. Keys
 * stay plain, and hold none (they are krew-wasm's, or annotations' keys, which may not).
 */
export function escapedForYaml(yaml: string): string {
  return withEscapes(yaml, (c) => {
    const code = c.codePointAt(0)!;
    return code > 0xffff ? `\\U${hex(code, 8)}` : `\\u${hex(code, 4)}`;
  });
}

/**
 * `text` with each character printable() replaces written as `escape` writes it; but line breaks,
 * the joiners, and C0 controls, which a JSON or YAML writer has escaped already.
 */
function withEscapes(text: string, escape: (c: string) => string): string {
  return text.replace(UNPRINTABLE, (c) => (KEPT.has(c) || c < ' ' ? c : escape(c)));
}

const hex = (code: number, digits: number) => code.toString(16).padStart(digits, '0');

/** `text` as one printable line: each line break and the blanks around it one space. */
export function printableLine(text: string): string {
  return printable(text.replace(/\s*\n\s*/g, ' ').trim());
}

/**
 * `text`, or when it is longer than `max` UTF-16 units its first ones and `ellipsis`: never half of
 * a surrogate pair, which Node writes as U+FFFD (half an emoji in a plugin's failure line).
 */
export function shortened(text: string, max: number, ellipsis = '...'): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, end)}${ellipsis}`;
}

/**
 * At most `max` of `items`, joined with `, `, then how many more there are: a list an artifact
 * fills (an index's platforms, a module's imports) in a message of one line (attack 87: an index of
 * 100,000 platforms made a 1 MB error line).
 */
export function someOf(items: string[], max = 8): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown}, and ${items.length - max} more` : shown;
}

/**
 * `word` as a POSIX shell reads it back as one word, for a command a hint tells the user to paste:
 * a source is the publisher's or a folder's name, and a layout folder named `pods$(touch${IFS}x)`
 * ran `touch` when the hint that named it was pasted (attack 90). Quoted only when it needs to be.
 */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
