import { Command } from 'clipanion';
import { markCodePath } from '../../builtin.js';
import type { Receipt } from '../../store/receipt.js';
import { BaseCommand } from '../baseCommand.js';
import { formatBytes, listingDefault, outputOption, renderTable, shortDigest, writeOutput } from '../output.js';

export class ListCommand extends BaseCommand {
  static override paths = [['list'], ['ls']];

  static override usage = Command.Usage({
    description: 'List installed plugins',
    details: `
      Prints a table on a terminal and bare plugin names when stdout is not a terminal (as krew
      does), so \`krew-wasm list | xargs ...\` works. \`-o json\` and \`-o yaml\` print the receipts:
      source, digests, media types, size, pull time and grants.
    `,
    examples: [
      ['List installed plugins', '$0 list'],
      ['Show everything known about them', '$0 list -o yaml'],
    ],
  });

  output = outputOption();

  async run(): Promise<number> {
    const { store, stdout } = this.context;
    if (store.needsRepair()) await store.repair();
    const { plugins, problems } = store.list();
    // Reading receipts is code of its own: a first `list` of an empty store would leave the
    // command a code cache without it (bin/krew-wasm.js).
    if (plugins.length > 0) markCodePath('receipts');
    for (const problem of problems) this.status(`krew-wasm: warning: ${problem.message} (${problem.hint})`);
    await writeOutput(stdout, this.output ?? listingDefault(stdout), {
      data: plugins,
      names: plugins.map((p) => p.name),
      table: () => renderTable(['NAME', 'REFERENCE', 'DIGEST', 'SIZE', 'PULLED'], plugins.map(row)),
    });
    return 0;
  }
}

function row(p: Receipt): string[] {
  return [p.name, p.source, shortDigest(p.manifestDigest ?? p.layerDigest), formatBytes(p.size), p.pulledAt];
}
