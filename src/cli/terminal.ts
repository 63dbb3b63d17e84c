/**
 * Colour only for a person at a terminal: never when the stream is a pipe or a file, never with
 * NO_COLOR set (https://no-color.org), never on a dumb terminal.
 */
export function colorEnabled(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return (stream as NodeJS.WriteStream).isTTY === true;
}

/** Text styles; all of them are the identity when colour is off. */
export interface Style {
  bold(text: string): string;
  code(text: string): string;
}

const plain: Style = { bold: (t) => t, code: (t) => t };
const ansi: Style = {
  bold: (t) => `\x1b[1m${t}\x1b[22m`,
  code: (t) => `\x1b[36m${t}\x1b[39m`,
};

/** The style for writing to `stream`. */
export function styleFor(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv): Style {
  return colorEnabled(stream, env) ? ansi : plain;
}

/** Width to wrap help text at: the terminal's, at most 100 columns; 80 when not a terminal. */
export function textWidth(stream: NodeJS.WritableStream): number {
  const columns = (stream as NodeJS.WriteStream).columns;
  return typeof columns === 'number' && columns > 20 ? Math.min(columns, 100) : 80;
}
