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
  const escape = (c: string) => Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
  return json.replace(UNPRINTABLE, (c) => (KEPT.has(c) || c < ' ' ? c : escape(c)));
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
  const escape = (c: string) => {
    const code = c.codePointAt(0)!;
    return code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  };
  return yaml.replace(UNPRINTABLE, (c) => (KEPT.has(c) || c < ' ' ? c : escape(c)));
}

/** `text` as one printable line: each line break and the blanks around it one space. */
export function printableLine(text: string): string {
  return printable(text.replace(/\s*\n\s*/g, ' ').trim());
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
