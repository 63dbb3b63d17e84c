import { Command, Option } from 'clipanion';
import { BaseCommand } from '../baseCommand.js';

export class RemoveCommand extends BaseCommand {
  static override paths = [['rm'], ['uninstall'], ['remove']];

  static override usage = Command.Usage({
    description: 'Remove installed plugins',
    details: `
      Removes the kubectl-<name> link, the receipt and every store entry no other plugin uses.
      Nothing is removed unless every named plugin is installed.
    `,
    examples: [
      ['Remove a plugin', '$0 rm foo'],
      ['Remove several', '$0 uninstall foo bar'],
    ],
  });

  names = Option.Rest({ name: 'name', required: 1 });

  async run(): Promise<number> {
    await this.context.store.remove(this.names);
    for (const name of this.names) this.status(`Removed plugin "${name}"`);
    return 0;
  }
}
