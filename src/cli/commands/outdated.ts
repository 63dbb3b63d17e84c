import { Command, Option } from 'clipanion';
import { formatError, PartialFailureError } from '../../errors.js';
import type { PluginCheck } from '../../services/upgrade.js';
import { BaseCommand } from '../baseCommand.js';
import { listingDefault, outputOption, renderTable, shortDigest, writeOutput } from '../output.js';
import { installedTargets } from '../installed.js';
import { caFileOption, insecureOption, mergeTransport, plainHttpOption, quietOption, registryFlagsForNamed, registrySession } from '../registry.js';

export class OutdatedCommand extends BaseCommand {
  static override paths = [['outdated']];

  static override usage = Command.Usage({
    description: 'Show which installed plugins their source has a newer version of, without installing',
    details: `
      For each installed plugin (or each named one), asks its source (registry tag, OCI layout tag, file) what it
      names now and compares that digest with the installed one. A plugin pinned by digest is
      never outdated. A table on a terminal; the names of the outdated plugins when stdout is not
      a terminal (\`krew-wasm outdated | xargs krew-wasm upgrade\`); \`-o json\` everything. Each
      plugin whose source cannot be asked is reported on stderr and makes the exit status non-zero.
      The registry options of each plugin's pull are used again; options given here are added,
      for the plugins named with them only.
    `,
    examples: [
      ['What could be upgraded', '$0 outdated'],
      ['Upgrade just those', '$0 outdated -o name | xargs $0 upgrade'],
      ['Ask a local registry over plain HTTP about one plugin', '$0 outdated --plain-http foo'],
    ],
  });

  plainHttp = plainHttpOption();
  caFile = caFileOption();
  insecure = insecureOption();
  quiet = quietOption();
  output = outputOption('Output format: table, json, yaml or name (the outdated plugins)');
  names = Option.Rest({ name: 'name' });

  async run(): Promise<number> {
    const { checkPlugin } = await import('../../services/upgrade.js');
    const { store, stdout } = this.context;
    const session = registrySession(this.context, { ...this, quiet: true });
    registryFlagsForNamed(this, this.names, 'outdated');
    const checks: PluginCheck[] = [];
    const failed: string[] = [];
    const fail = (name: string, error: unknown) => {
      failed.push(name);
      this.context.stderr.write(`${formatError(error, this.verbose || this.context.settings.verbose, name)}\n`);
    };
    for (const [name, receipt] of installedTargets(store, this.names, fail)) {
      try {
        checks.push(await checkPlugin(receipt, session.fetchOptions(mergeTransport(receipt.transport, this))));
      } catch (error) {
        fail(name, error);
      }
    }
    await writeOutput(stdout, this.output ?? listingDefault(stdout), {
      data: checks,
      names: checks.filter((c) => c.status === 'outdated').map((c) => c.name),
      table: () => renderTable(['NAME', 'INSTALLED', 'AVAILABLE', 'STATUS', 'SOURCE'], checks.map((c) => [
        c.name, shortDigest(c.installed), c.available ? shortDigest(c.available) : '-', c.status.replace(/-/g, ' '), c.source,
      ])),
    });
    if (failed.length > 0) throw new PartialFailureError(`could not check ${failed.join(', ')}`, { hint: 'each is reported above' });
    return 0;
  }
}
