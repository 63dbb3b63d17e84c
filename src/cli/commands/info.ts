import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'clipanion';
import { importModule } from '../../builtin.js';
import { NotInstalledError } from '../../errors.js';
import { printable, printableLine } from '../../printable.js';
import { describeGrants } from '../../grants.js';
import { realpathOrUndefined } from '../../hostPaths.js';
import { kubeconfigFiles } from '../../kube/kubeconfigFiles.js';
import { componentFile, readEntryMeta, type EntryMeta } from '../../store/entry.js';
import { reinstallCommand, type Receipt } from '../../store/receipt.js';
import { BaseCommand } from '../baseCommand.js';
import { formatBytes, outputOption, writeOutput } from '../output.js';

/** The artifact annotations info shows, as krew shows a plugin's description, homepage and version. */
const SHOWN_ANNOTATIONS: [string, string][] = [
  ['Title:', 'org.opencontainers.image.title'],
  ['Description:', 'org.opencontainers.image.description'],
  ['Version:', 'org.opencontainers.image.version'],
  ['Project:', 'org.opencontainers.image.source'],
  ['Homepage:', 'org.opencontainers.image.url'],
  ['Licenses:', 'org.opencontainers.image.licenses'],
  ['Authors:', 'org.opencontainers.image.authors'],
];

export class InfoCommand extends BaseCommand {
  static override paths = [['info']];

  static override usage = Command.Usage({
    description: 'Show an installed plugin: where it came from, what it imports, what it is granted',
    details: `
      The imports are the WIT interfaces the component asks the host for: what it could use if
      granted. Also the artifact's title, description, version, project, licenses and authors when
      its annotations say. \`--wit\` prints the component's whole WIT world; \`-o json\` and
      \`-o yaml\` the receipt (annotations included) and the entry's metadata.
    `,
    examples: [
      ['Show a plugin', '$0 info foo'],
      ['Its full WIT world', '$0 info foo --wit'],
    ],
  });

  wit = Option.Boolean('--wit', false, { description: "Print the component's WIT world" });
  output = outputOption();
  name = Option.String({ name: 'name' });

  async run(): Promise<number> {
    const { store, stdout } = this.context;
    const receipt = store.require(this.name);
    const entry = store.entryDirOf(receipt);
    const meta = entryMeta(entry, receipt);
    if (this.wit) {
      const { componentWit } = await importModule<typeof import('@bytecodealliance/jco-transpile/wasm-tools')>('@bytecodealliance/jco-transpile/wasm-tools');
      const wasm = fs.readFileSync(path.join(entry, componentFile(meta)));
      // Its docs are the author's text: printable, as every line krew-wasm prints from outside (attack 87).
      stdout.write(`${printable(await componentWit(wasm))}\n`);
      return 0;
    }
    const annotations = SHOWN_ANNOTATIONS.flatMap(([label, key]) => {
      const value = receipt.annotations?.[key];
      return value ? [row(label, oneLine(value))] : [];
    });
    const lines = [
      row('Name:', receipt.name),
      ...annotations,
      row('Source:', receipt.source),
      row('Manifest:', receipt.manifestDigest ?? '(none: local file)'),
      row('Layer:', `${receipt.layerDigest} (${receipt.mediaTypes.layer}, ${formatBytes(receipt.size)})`),
      row('Kind:', meta.sourceKind === 'core-module' ? 'WASI preview1 module (wrapped with the command adapter)' : 'component'),
      row('Pulled:', receipt.pulledAt),
      'Imports:',
      ...meta.imports.map((i) => `  ${i}`),
      'Exports:',
      ...meta.exports.filter((e) => e.includes(':')).map((e) => `  ${e}`),
      'Granted:',
      ...describeGrants(receipt.grants, kubeconfigFiles(this.context.env, {}), realpathOrUndefined).map((l) => `  ${l}`),
    ];
    await writeOutput(stdout, this.output ?? 'table', {
      data: { ...receipt, imports: meta.imports, exports: meta.exports, sourceKind: meta.sourceKind },
      names: [receipt.name],
      table: () => `${lines.join('\n')}\n`,
    });
    return 0;
  }
}

function entryMeta(entry: string, receipt: Receipt): EntryMeta {
  try {
    return readEntryMeta(entry);
  } catch (error) {
    throw new NotInstalledError(`plugin ${receipt.name} is damaged: ${(error as Error).message}`, {
      hint: `reinstall it: ${reinstallCommand(receipt.name, receipt.source, receipt.transport)}`,
    });
  }
}

function row(label: string, value: string): string {
  return `${label.padEnd(13)}${value}`;
}

/** Annotation values come from the artifact's author: one printable line each. */
function oneLine(value: string): string {
  return printableLine(value.replace(/\s+/g, ' ')).slice(0, 200);
}
