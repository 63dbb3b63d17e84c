import { Command, Option } from 'clipanion';
import { applyGrantChanges, describeGrants, parseDirGrant } from '../../grants.js';
import { BaseCommand } from '../baseCommand.js';

export class RevokeCommand extends BaseCommand {
  static override paths = [['revoke']];

  static override usage = Command.Usage({
    description: 'Take grants away from an installed plugin',
    examples: [
      ['No network at all', '$0 revoke foo --network'],
      ['No files at all', '$0 revoke foo --fs'],
      ['Drop a folder and one variable', '$0 revoke foo --allow-dir ~/manifests --env AWS_PROFILE'],
    ],
  });

  fs = Option.Boolean('--fs', false, { description: 'No host files (same as grant --fs none)' });
  allowDir = Option.Array('--allow-dir', { description: 'Drop a granted folder; repeatable' });
  dataDir = Option.Boolean('--data-dir', false, { description: 'Drop the private data folder grant' });
  env = Option.String('--env', { description: 'Comma-separated variables to hide (all: hide every variable)' });
  network = Option.Boolean('--network', false, { description: 'No network (same as grant --network none)' });
  limits = Option.Boolean('--limits', false, { description: 'Lift the time and memory limits' });
  name = Option.String({ name: 'name' });

  async run(): Promise<number> {
    const names = this.env?.split(',').map((s) => s.trim()).filter(Boolean);
    const grants = await this.context.store.updateGrants(this.name, (g) =>
      applyGrantChanges(g, {
        filesystem: this.fs ? 'none' : undefined,
        removeDirs: this.allowDir?.map((d) => parseDirGrant(d, this.context.cwd).path),
        dataDir: this.dataDir ? false : undefined,
        env: names?.includes('all') ? [] : undefined,
        removeEnv: names?.includes('all') ? undefined : names,
        network: this.network ? 'none' : undefined,
        timeoutSeconds: this.limits ? null : undefined,
        maxMemoryMiB: this.limits ? null : undefined,
      }),
    );
    this.status(`Plugin "${this.name}" is granted:`);
    for (const line of describeGrants(grants)) this.status(`  ${line}`);
    return 0;
  }
}
