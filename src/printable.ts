/**
 * Text from outside krew-wasm (a registry's answer, an artifact's annotations, a component's names
 * and docs) made safe to print: a terminal acts on an escape sequence wherever it appears, and a
 * media type or an import name carrying one erased krew-wasm's error line and drew a fake
 * `Installed plugin ...` in its place (attack 87). Every control character (C0 but the line break,
 * DEL, C1: 0x9B is a one-byte CSI to some terminals) and every Unicode control that reorders text or
 * breaks lines (bidi embeddings, overrides and isolates; line and paragraph separators) becomes `?`.
 */
const UNPRINTABLE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with its line breaks, and nothing else a terminal would act on. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, '?');
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
