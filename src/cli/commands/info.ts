import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'clipanion';
import { describeGrants } from '../../grants.js';
import { META_FILE, type TranspiledMeta } from '../../runtime/transpile.js';
import { BaseCommand } from '../baseCommand.js';
import { formatBytes } from '../output.js';

export class InfoCommand extends BaseCommand {
  static override paths = [['info']];

  static override usage = Command.Usage({
    description: 'Show an installed plugin: where it came from, what it imports, what it is granted',
    details: `
      The imports are the WIT interfaces the component asks the host for: what it could use if
      granted. \`--wit\` prints the component's whole WIT world; \`-o json\` the receipt and metadata.
    `,
    examples: [
      ['Show a plugin', '$0 info foo'],
      ['Its full WIT world', '$0 info foo --wit'],
    ],
  });

  wit = Option.Boolean('--wit', false, { description: "Print the component's WIT world" });
  json = Option.Boolean('-o,--json', false, { description: 'Print receipt and metadata as JSON' });
  name = Option.String({ name: 'name' });

  async run(): Promise<number> {
    const { store, stdout } = this.context;
    const receipt = store.require(this.name);
    const entry = store.entryDirOf(receipt);
    const meta = JSON.parse(fs.readFileSync(path.join(entry, META_FILE), 'utf8')) as TranspiledMeta;
    if (this.json) {
      stdout.write(`${JSON.stringify({ ...receipt, imports: meta.imports, exports: meta.exports, sourceKind: meta.sourceKind }, null, 2)}\n`);
      return 0;
    }
    if (this.wit) {
      const { componentWit } = await import('@bytecodealliance/jco-transpile/wasm-tools');
      const wasm = fs.readFileSync(path.join(entry, meta.sourceKind === 'core-module' ? 'component.wasm' : 'source.wasm'));
      stdout.write(`${await componentWit(wasm)}\n`);
      return 0;
    }
    const lines = [
      `Name:       ${receipt.name}`,
      `Source:     ${receipt.source}`,
      `Manifest:   ${receipt.manifestDigest ?? '(none: local file)'}`,
      `Layer:      ${receipt.layerDigest} (${receipt.mediaTypes.layer}, ${formatBytes(receipt.size)})`,
      `Kind:       ${meta.sourceKind === 'core-module' ? 'WASI preview1 module (wrapped with the command adapter)' : 'component'}`,
      `Pulled:     ${receipt.pulledAt}`,
      'Imports:',
      ...meta.imports.map((i) => `  ${i}`),
      'Exports:',
      ...meta.exports.filter((e) => e.includes(':')).map((e) => `  ${e}`),
      'Granted:',
      ...describeGrants(receipt.grants).map((l) => `  ${l}`),
    ];
    stdout.write(`${lines.join('\n')}\n`);
    return 0;
  }
}
