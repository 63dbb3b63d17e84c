import { markCodePath } from '../builtin.js';
import { escapedForJson, escapedForYaml, hasUnprintable, printable, printableLine } from '../printable.js';
import { enumOption } from './options.js';

/**
 * Output the kubectl way: `-o table|json|yaml|name` on every command that prints data. Data goes
 * to stdout in the chosen format; progress, notes and warnings go to stderr (BaseCommand.status).
 *
 *   output = outputOption();                       // in the command class
 *   await writeOutput(this.context.stdout, this.output ?? 'table', {
 *     data: receipt,                               // json and yaml print exactly this
 *     names: [receipt.name],                       // -o name
 *     table: () => describe(receipt),              // the human form
 *   });
 */
export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The `-o, --output <table|json|yaml|name>` option. */
export function outputOption(description = 'Output format: table (for people), json or yaml (everything, for programs) or name'): OutputFormat | undefined {
  return enumOption('-o,--output', OUTPUT_FORMATS, description);
}

/** What a command prints, in each form. */
export interface Printable {
  /** The machine form: printed as JSON or YAML. */
  data: unknown;
  /** One name per line for `-o name` (so `... -o name | xargs` works). */
  names: string[];
  /** The human form: a rendered table or description, ending with a newline (or empty). */
  table: () => string;
}

/** Renders `p` in `format`. */
export async function renderOutput(format: OutputFormat, p: Printable): Promise<string> {
  switch (format) {
    // JSON leaves C1 and Unicode's own controls as they are, which a terminal may act on: escaped, as JSON allows.
    case 'json': return `${escapedForJson(JSON.stringify(p.data, null, 2))}\n`;
    case 'yaml': {
      // Loaded only for -o yaml: `list -o name` runs on every shell completion of a plugin name.
      const { dump } = await import('js-yaml');
      const yaml = dump(p.data, { lineWidth: -1, noRefs: true });
      // js-yaml writes bidi and invisible characters as they are (a path the user typed can hold them).
      return hasUnprintable(yaml) ? escapedForYaml(dump(p.data, { lineWidth: -1, noRefs: true, forceQuotes: true, quoteStyle: 'double' })) : yaml;
    }
    case 'name': return p.names.map((n) => `${n}\n`).join('');
    // Each command's human form is its own code; what it quotes from outside is printable here, once.
    case 'table': return printable(p.table());
  }
}

/** Writes `p` to `stdout` in `format`. */
export async function writeOutput(stdout: NodeJS.WritableStream, format: OutputFormat, p: Printable): Promise<void> {
  markCodePath(`output-${format}`); // each format is code of its own, for the command's code cache
  stdout.write(await renderOutput(format, p));
}

/** The default format of a listing: a table for a person at a terminal, bare names for a pipe (as krew). */
export function listingDefault(stdout: NodeJS.WritableStream): OutputFormat {
  return (stdout as NodeJS.WriteStream).isTTY ? 'table' : 'name';
}

/** Renders rows as a left-aligned table with a header, like kubectl get. */
export function renderTable(header: string[], cells: string[][]): string {
  // A cell can quote a source or an annotation: one printable line each.
  const rows = cells.map((row) => row.map(printableLine));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Human-readable byte count (KiB/MiB with one decimal). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Shortened digest for tables: sha256:0123456789ab. */
export function shortDigest(digest: string): string {
  const [alg, hex] = digest.split(':');
  return hex ? `${alg}:${hex.slice(0, 12)}` : digest;
}
