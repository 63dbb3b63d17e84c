import { Command, Option } from 'clipanion';
import { applyGrantChanges, describeGrants } from '../../grants.js';
import { realpathOrUndefined } from '../../hostPaths.js';
import { kubeconfigFiles } from '../../kube/kubeconfigFiles.js';
import { GrantOptionsCommand } from '../grantOptions.js';

export class GrantCommand extends GrantOptionsCommand {
  static override paths = [['grant']];

  static override usage = Command.Usage({
    description: 'Change what an installed plugin may touch',
    details: `
      Grants apply from the next run on; nothing is re-pulled. Options not given stay as they are.
      See \`krew-wasm info <name>\` for the current grants and what the component imports.
    `,
    examples: [
      ['Only the kubeconfig and its certificates, read-only', '$0 grant foo --fs kubeconfig'],
      ['Add a read-only folder and a private data folder', '$0 grant foo --allow-dir ~/manifests:ro --data-dir'],
      ['Only two environment variables, 30 s and 256 MiB at most', '$0 grant foo --env KUBECONFIG,HOME --timeout 30 --max-memory 256'],
    ],
  });

  name = Option.String({ name: 'name' });

  async run(): Promise<number> {
    const grants = await this.context.store.updateGrants(this.name, (g) => applyGrantChanges(g, this.grantChanges()));
    this.status(`Plugin "${this.name}" is granted:`);
    for (const line of describeGrants(grants, kubeconfigFiles(this.context.env, {}), realpathOrUndefined)) this.status(`  ${line}`);
    return 0;
  }
}
