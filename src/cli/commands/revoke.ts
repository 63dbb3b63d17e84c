import { Command, Option } from 'clipanion';
import { applyGrantChanges, describeGrants, parseDirGrant, parseEnvNames } from '../../grants.js';
import { realpathOrUndefined } from '../../hostPaths.js';
import { kubeconfigFiles } from '../../kube/kubeconfigFiles.js';
import { BaseCommand } from '../baseCommand.js';
import { arrayOption, checkedOption } from '../options.js';

export class RevokeCommand extends BaseCommand {
  static override paths = [['revoke']];

  static override usage = Command.Usage({
    description: 'Take grants away from an installed plugin',
    details: `
      \`--env A,B\` hides those variables: from a plugin that sees all variables it leaves all but
      A and B, from one that sees a list it takes A and B out of the list. \`--env all\` hides every
      variable. Grants apply from the next run on.
    `,
    examples: [
      ['No network at all', '$0 revoke foo --network'],
      ['No files at all', '$0 revoke foo --fs'],
      ['Drop a folder and hide one variable', '$0 revoke foo --allow-dir ~/manifests --env AWS_PROFILE'],
    ],
  });

  fs = Option.Boolean('--fs', false, { description: 'No host files (same as grant --fs none)' });
  allowDir = arrayOption('--allow-dir', '<path>', 'Drop a granted folder; repeatable');
  dataDir = Option.Boolean('--data-dir', false, { description: 'Drop the private data folder grant' });
  env = checkedOption('--env', '<NAME,...|all>', 'Hide these environment variables (all: hide every variable)', (v): 'all' | string[] => (v === 'all' ? 'all' : parseEnvNames(v)));
  network = Option.Boolean('--network', false, { description: 'No network (same as grant --network none)' });
  limits = Option.Boolean('--limits', false, { description: 'Lift the time and memory limits' });
  name = Option.String({ name: 'name' });

  async run(): Promise<number> {
    const hideAll = this.env === 'all';
    const hide = Array.isArray(this.env) ? this.env : undefined;
    const grants = await this.context.store.updateGrants(this.name, (g) =>
      applyGrantChanges(g, {
        filesystem: this.fs ? 'none' : undefined,
        removeDirs: this.allowDir?.map((d) => parseDirGrant(d, this.context.cwd).path),
        dataDir: this.dataDir ? false : undefined,
        env: hideAll ? { mode: 'only', names: [] } : undefined,
        removeEnv: hide,
        network: this.network ? 'none' : undefined,
        timeoutSeconds: this.limits ? null : undefined,
        maxMemoryMiB: this.limits ? null : undefined,
      }),
    );
    this.status(`Plugin "${this.name}" is granted:`);
    for (const line of describeGrants(grants, kubeconfigFiles(this.context.env, {}), realpathOrUndefined)) this.status(`  ${line}`);
    return 0;
  }
}
