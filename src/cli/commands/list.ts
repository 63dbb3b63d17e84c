import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { BaseCommand } from '../baseCommand.js';
import { formatBytes, renderTable, shortDigest } from '../output.js';

export class ListCommand extends BaseCommand {
  static override paths = [['list'], ['ls']];

  static override usage = Command.Usage({
    description: 'List installed plugins',
    details: `
      Prints a table on a terminal and bare plugin names when stdout is not a terminal (as krew
      does), so \`krew-wasm list | xargs ...\` works. \`-o json\` prints the receipts.
    `,
    examples: [
      ['List installed plugins', '$0 list'],
      ['Show everything known about them', '$0 list -o json'],
    ],
  });

  output = Option.String('-o,--output', {
    description: 'Output format: table, json or name',
    validator: t.isEnum(['table', 'json', 'name'] as const),
  });

  async run(): Promise<number> {
    const { store, stdout } = this.context;
    if (store.needsRepair()) await store.repair();
    const { plugins, problems } = store.list();
    for (const problem of problems) this.status(`krew-wasm: warning: ${problem.message} (${problem.hint})`);
    const format = this.output ?? ((stdout as NodeJS.WriteStream).isTTY ? 'table' : 'name');
    if (format === 'json') {
      stdout.write(`${JSON.stringify(plugins, null, 2)}\n`);
    } else if (format === 'name') {
      stdout.write(plugins.map((p) => `${p.name}\n`).join(''));
    } else {
      const rows = plugins.map((p) => [p.name, p.source, shortDigest(p.manifestDigest ?? p.layerDigest), formatBytes(p.size), p.pulledAt]);
      stdout.write(renderTable(['NAME', 'REFERENCE', 'DIGEST', 'SIZE', 'PULLED'], rows));
    }
    return 0;
  }
}
