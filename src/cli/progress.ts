import type { Progress } from '../oci/progress.js';
import { printable, printableLine, shortened } from '../printable.js';
import { formatBytes } from './output.js';

/**
 * Progress on stderr for a person at a terminal: one line, redrawn in place, for the blob being
 * transferred (its name, bytes so far and total, rate) or the phase under way (transpiling), and a
 * summary line when it ends. Status lines (`log`) are written above it. Not a terminal, or
 * `--quiet`: nothing is drawn.
 *
 * Hand-written rather than a library: cli-progress costs ~17 ms to import and has no byte rate,
 * log-update ~112 ms, progress is unmaintained (measured here, Node 20); this needs ~80 lines.
 */
export interface TerminalProgress extends Progress {
  /** A status line (retry notice, `Pulling ...`), written above the progress line. */
  log(line: string): void;
}

const REDRAW_MS = 100;

/** Progress for `stream`: drawn when it is a terminal and `quiet` is off. */
export function terminalProgress(stream: NodeJS.WriteStream, quiet: boolean): TerminalProgress {
  if (quiet) return { start() {}, advance() {}, phase() {}, end() {}, log() {} };
  if (!stream.isTTY) return { start() {}, advance() {}, phase() {}, end() {}, log: (line) => stream.write(`${printable(line)}\n`) };
  return new LineProgress(stream);
}

class LineProgress implements TerminalProgress {
  private label = '';
  private total = 0;
  private done = 0;
  private started = 0;
  private lastDraw = 0;
  private kind: 'idle' | 'transfer' | 'phase' = 'idle';

  constructor(private readonly stream: NodeJS.WriteStream) {}

  start(label: string, total: number): void {
    this.begin('transfer', label);
    this.total = total;
    this.draw();
  }

  advance(bytes: number): void {
    this.done += bytes;
    if (performance.now() - this.lastDraw >= REDRAW_MS || this.done >= this.total) this.draw();
  }

  phase(label: string): void {
    this.begin('phase', label);
    this.draw();
  }

  end(): void {
    if (this.kind === 'idle') return;
    const seconds = (performance.now() - this.started) / 1000;
    const summary = this.kind === 'transfer'
      ? `${this.label}: ${formatBytes(this.done)} in ${seconds.toFixed(1)} s (${rate(this.done, seconds)})`
      : `${this.label}: done in ${seconds.toFixed(1)} s`;
    this.write(`${summary}\n`);
    this.kind = 'idle';
  }

  log(line: string): void {
    this.write(`${printable(line)}\n`);
    if (this.kind !== 'idle') this.draw();
  }

  private begin(kind: 'transfer' | 'phase', label: string): void {
    this.kind = kind;
    // A blob's name is its layer's title, the publisher's: one line, nothing a terminal acts on (attack 87).
    this.label = printableLine(label);
    this.done = 0;
    this.total = 0;
    this.started = performance.now();
  }

  private draw(): void {
    this.lastDraw = performance.now();
    const seconds = (this.lastDraw - this.started) / 1000;
    const text = this.kind === 'transfer'
      ? `${this.label}: ${formatBytes(this.done)} / ${formatBytes(this.total)}${this.total > 0 ? ` ${Math.floor((100 * this.done) / this.total)}%` : ''} ${rate(this.done, seconds)}`
      : `${this.label}…`;
    this.write(text);
  }

  /** Replaces the current line with `text` (cut to the terminal's width so it never wraps). */
  private write(text: string): void {
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    const [line, newline] = text.endsWith('\n') ? [text.slice(0, -1), '\n'] : [text, ''];
    this.stream.write(`\r\x1b[K${line.length > width ? shortened(line, width - 1, '…') : line}${newline}`);
  }
}

function rate(bytes: number, seconds: number): string {
  return `${formatBytes(Math.round(bytes / Math.max(seconds, 0.001)))}/s`;
}
