import fs from 'node:fs';
import path from 'node:path';

/**
 * Everything that would make the store inconsistent: a receipt without its entry or link, a link
 * without a receipt, an entry no receipt references, leftovers of staging or temp files.
 */
export function storeProblems(root: string): string[] {
  const problems: string[] = [];
  const list = (d: string) => (fs.existsSync(path.join(root, d)) ? fs.readdirSync(path.join(root, d)) : []);
  const receipts = list('receipts');
  const names = new Set<string>();
  const referenced = new Set<string>();
  for (const file of receipts) {
    if (!file.endsWith('.json')) {
      problems.push(`stray file receipts/${file}`);
      continue;
    }
    const r = JSON.parse(fs.readFileSync(path.join(root, 'receipts', file), 'utf8'));
    names.add(r.name);
    const hex = r.layerDigest.slice(7);
    referenced.add(hex);
    if (!fs.existsSync(path.join(root, 'store', hex, 'plugin.js'))) problems.push(`receipt ${r.name} without store entry`);
    const link = path.join(root, 'bin', `kubectl-${r.name.replace(/-/g, '_')}`);
    if (!fs.existsSync(link)) problems.push(`receipt ${r.name} without a working link`);
  }
  for (const link of list('bin')) {
    const name = link.replace(/^kubectl-/, '').replace(/_/g, '-');
    if (!names.has(name)) problems.push(`link ${link} without receipt`);
  }
  for (const entry of list('store')) if (!referenced.has(entry)) problems.push(`unreferenced store entry ${entry}`);
  for (const entry of list('tmp')) problems.push(`staging leftover tmp/${entry}`);
  if (fs.existsSync(path.join(root, 'lock'))) problems.push('lock left behind');
  return problems;
}
