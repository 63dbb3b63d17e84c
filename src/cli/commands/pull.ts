import path from 'node:path';
import { Command, Option } from 'clipanion';
import { CliUsageError, formatError, PartialFailureError } from '../../errors.js';
import { applyGrantChanges, DEFAULT_GRANTS, describeGrants } from '../../grants.js';
import { realpathOrUndefined } from '../../hostPaths.js';
import { kubeconfigFiles } from '../../kube/kubeconfigFiles.js';
import { linkNameFor } from '../../store/paths.js';
import type { Receipt } from '../../store/receipt.js';
import { GrantOptionsCommand } from '../grantOptions.js';
import { stringOption } from '../options.js';
import { shortDigest } from '../output.js';
import { checkPullSource, refuseNameKubectlWouldNotRun } from '../pullChecks.js';
import { caFileOption, insecureOption, plainHttpOption, quietOption, registrySession, type RegistrySession } from '../registry.js';

export class PullCommand extends GrantOptionsCommand {
  static override paths = [['pull'], ['install']];

  static override usage = Command.Usage({
    description: 'Pull plugins from OCI registries, verify them and install each as kubectl-<name>',
    details: `
      Downloads the single wasm layer of each artifact, checks every byte against the manifest's
      digests, transpiles the component once, and links \`kubectl-<name>\` in the krew-wasm bin
      folder. The name is the last path segment of the repository (an OCI layout's title
      annotation, a file's name) unless \`--name\` is given. Several sources are installed one by
      one, each reported; the exit status is non-zero when any failed.

      Sources: a registry reference (\`registry[:port]/repo[:tag][@sha256:...]\`, tag \`latest\` by
      default), an OCI image layout folder (\`oci-layout://DIR[:tag|@digest]\`) or a wasm file
      (\`file://PATH\`, \`./x.wasm\`). Credentials come from docker's config.json (auths, credHelpers,
      credsStore). On a terminal, progress is drawn on stderr (\`--quiet\` turns it off).
    `,
    examples: [
      ['Pull a plugin', '$0 pull ghcr.io/org/plugins/foo:1.0'],
      ['Pull several', '$0 pull ghcr.io/org/plugins/foo:1.0 ghcr.io/org/plugins/bar:2.1'],
      ['Pull from a local registry over plain HTTP', '$0 pull --plain-http localhost:5000/plugins/foo'],
      ['Replace an installed plugin under another name', '$0 pull --force --name bar ghcr.io/org/plugins/foo:2.0'],
      ['Install from an OCI layout folder', '$0 pull oci-layout://./build/layout:1.0'],
      ['Install with least privilege: kubeconfig files only, no env but KUBECONFIG, 30 s', '$0 pull --fs kubeconfig --env KUBECONFIG --timeout 30 ghcr.io/org/plugins/foo:1.0'],
    ],
  });

  force = Option.Boolean('--force', false, { description: 'Replace a plugin that is already installed under this name (its store entry is made afresh)' });
  name = stringOption('--name', '<name>', 'Install under this name instead of the repository name (one source only)');
  plainHttp = plainHttpOption();
  caFile = caFileOption();
  insecure = insecureOption();
  quiet = quietOption();
  references = Option.Rest({ name: 'reference', required: 1 });

  async run(): Promise<number> {
    if (this.name !== undefined && this.references.length > 1) {
      throw new CliUsageError(`--name names one plugin, but ${this.references.length} sources were given`, { hint: 'pull them one at a time to name each' });
    }
    // Loaded here, not at the top: other commands (list, rm) must not pay for the OCI client.
    const { pullPlugin } = await import('../../services/pull.js');
    const session = registrySession(this.context, this);
    const single = this.references.length === 1;
    const failed: string[] = [];
    for (const reference of this.references) {
      try {
        const { receipt, timings } = await pullPlugin(this.context.store, this.request(reference, session));
        if (this.context.settings.timings) session.say(`timings: ${JSON.stringify(timings)}`);
        this.report(receipt, session);
      } catch (error) {
        if (single) throw error;
        failed.push(reference);
        this.context.stderr.write(`${formatError(error, this.verbose || this.context.settings.verbose, reference)}\n`);
      }
    }
    if (failed.length < this.references.length) this.pathAdvice(session);
    if (failed.length > 0) {
      throw new PartialFailureError(`${failed.length} of ${this.references.length} sources failed: ${failed.join(', ')}`, { hint: 'each is reported above; the others are installed' });
    }
    return 0;
  }

  private request(reference: string, session: RegistrySession) {
    const { env, cwd } = this.context;
    const { binDir } = this.context.store.paths;
    return {
      reference: checkPullSource(reference, { name: this.name, force: this.force, cwd, env, binDir }),
      cwd,
      name: this.name,
      force: this.force,
      grants: (current: Receipt['grants'] | undefined) => applyGrantChanges(current ?? DEFAULT_GRANTS, this.grantChanges()),
      fetch: session.fetchOptions(),
      transport: session.transport,
      notify: session.say,
      checkName: (name: string) => refuseNameKubectlWouldNotRun(name, this.force, env, binDir, true),
    };
  }

  /** What was installed, under which digest (the one `list` shows), and what it may do. */
  private report(receipt: Receipt, session: RegistrySession): void {
    session.say(`Installed plugin "${receipt.name}" (${shortDigest(receipt.manifestDigest ?? receipt.layerDigest)}) as ${linkNameFor(receipt.name)}`);
    session.say('Granted (change with krew-wasm grant / revoke):');
    for (const line of describeGrants(receipt.grants, kubeconfigFiles(this.context.env, {}), realpathOrUndefined)) session.say(`  ${line}`);
    session.say(`Run it with: kubectl ${receipt.name}`);
  }

  private pathAdvice(session: RegistrySession): void {
    const binDir = this.context.store.paths.binDir;
    const onPath = (this.context.env.PATH ?? '').split(path.delimiter).some((p) => path.resolve(p || '.') === binDir);
    if (onPath) return;
    session.say(`The krew-wasm bin folder is not on your PATH yet; add it with:`);
    session.say(`  export PATH="${binDir}:$PATH"`);
  }
}
