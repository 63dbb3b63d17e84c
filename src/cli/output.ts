/** Renders rows as a left-aligned table with a header, like kubectl get. */
export function renderTable(header: string[], rows: string[][]): string {
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
