import { Command, Option } from 'clipanion';
import { formatError, PartialFailureError } from '../../errors.js';
import { BaseCommand } from '../baseCommand.js';
import { shortDigest } from '../output.js';
import { installedTargets } from '../installed.js';
import { caFileOption, insecureOption, mergeTransport, plainHttpOption, quietOption, registryFlagsForNamed, registrySession } from '../registry.js';

export class UpgradeCommand extends BaseCommand {
  static override paths = [['upgrade']];

  static override usage = Command.Usage({
    description: 'Upgrade installed plugins to what their sources name now',
    details: `
      For each named plugin (all when none is named), re-resolves its source (registry tag, OCI
      layout tag, file); when the digest changed, pulls it, verifies it and swaps it in
      atomically, keeping its grants; the old store entry is removed when no other plugin uses it.
      A plugin pinned by digest is never upgraded. \`--dry-run\` only says what would change. Every
      plugin is tried; the exit status is non-zero when any failed. The registry options of each
      plugin's pull are used again; options given here are added, for the plugins named with
      them only.
    `,
    examples: [
      ['Upgrade everything', '$0 upgrade'],
      ['See what would change', '$0 upgrade --dry-run'],
      ['Upgrade two plugins', '$0 upgrade foo bar'],
      ['Upgrade one from a local registry over plain HTTP', '$0 upgrade --plain-http foo'],
    ],
  });

  dryRun = Option.Boolean('--dry-run', false, { description: 'Say what would be upgraded, change nothing' });
  plainHttp = plainHttpOption();
  caFile = caFileOption();
  insecure = insecureOption();
  quiet = quietOption();
  names = Option.Rest({ name: 'name' });

  async run(): Promise<number> {
    const { checkPlugin, upgradePlugin } = await import('../../services/upgrade.js');
    const { store } = this.context;
    const session = registrySession(this.context, this);
    const failed: string[] = [];
    const fail = (name: string, error: unknown) => {
      failed.push(name);
      this.context.stderr.write(`${formatError(error, this.verbose || this.context.settings.verbose, name)}\n`);
    };
    registryFlagsForNamed(this, this.names, 'upgrade');
    for (const [name, receipt] of installedTargets(store, this.names, fail)) {
      try {
        const transport = mergeTransport(receipt.transport, this);
        const fetch = session.fetchOptions(transport);
        const check = await checkPlugin(receipt, fetch);
        if (check.status === 'pinned') session.say(`${name}: pinned by digest (${receipt.source}), not upgraded`);
        else if (check.status === 'up-to-date') session.say(`${name}: already up to date (${shortDigest(check.installed)})`);
        else if (this.dryRun) session.say(`${name}: would upgrade ${shortDigest(check.installed)} -> ${shortDigest(check.available!)}`);
        else {
          const upgraded = await upgradePlugin(store, receipt, check, fetch, transport, session.say);
          session.say(`${name}: upgraded ${shortDigest(check.installed)} -> ${shortDigest(upgraded.manifestDigest ?? upgraded.layerDigest)}`);
        }
      } catch (error) {
        fail(name, error);
      }
    }
    if (failed.length > 0) throw new PartialFailureError(`${failed.length} plugin${failed.length > 1 ? 's' : ''} not upgraded: ${failed.join(', ')}`, { hint: 'each is reported above; the others were tried' });
    return 0;
  }
}
