import { Command } from 'clipanion';
import { BaseCommand } from '../baseCommand.js';
import { VERSION } from '../../version.js';

export class VersionCommand extends BaseCommand {
  static override paths = [['version'], ['--version']];

  static override usage = Command.Usage({
    description: 'Print the krew-wasm version',
    examples: [['Print the version', '$0 version']],
  });

  async run(): Promise<number> {
    this.context.stdout.write(`krew-wasm ${VERSION} (node ${process.version})\n`);
    return 0;
  }
}
