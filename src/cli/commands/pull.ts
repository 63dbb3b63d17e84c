import path from 'node:path';
import { Command, Option } from 'clipanion';
import { applyGrantChanges, DEFAULT_GRANTS, describeGrants } from '../../grants.js';
import { fetchSettings } from '../../oci/fetch.js';
import { linkNameFor } from '../../store/paths.js';
import { GrantOptionsCommand } from '../grantOptions.js';
import { shortDigest } from '../output.js';
import { checkPullSource, refuseNameKubectlWouldNotRun } from '../pullChecks.js';

export class PullCommand extends GrantOptionsCommand {
  static override paths = [['pull'], ['install']];

  static override usage = Command.Usage({
    description: 'Pull a plugin from an OCI registry, verify it and install it as kubectl-<name>',
    details: `
      Downloads the single wasm layer of the artifact, checks every byte against the manifest's
      digests, transpiles the component once, and links \`kubectl-<name>\` in the krew-wasm bin
      folder. The name is the last path segment of the repository unless \`--name\` is given.

      Sources: a registry reference (\`registry[:port]/repo[:tag][@sha256:...]\`, tag \`latest\` by
      default), an OCI image layout folder (\`oci-layout://DIR[:tag|@digest]\`) or a wasm file
      (\`file://PATH\`). Credentials come from docker's config.json (auths, credHelpers, credsStore).
    `,
    examples: [
      ['Pull a plugin', '$0 pull ghcr.io/org/plugins/foo:1.0'],
      ['Pull from a local registry over plain HTTP', '$0 pull --plain-http localhost:5000/plugins/foo'],
      ['Replace an installed plugin under another name', '$0 pull --force --name bar ghcr.io/org/plugins/foo:2.0'],
      ['Install from an OCI layout folder', '$0 pull oci-layout://./build/layout:1.0 --name hello'],
      ['Install with least privilege: kubeconfig files only, no env but KUBECONFIG, 30 s', '$0 pull --fs kubeconfig --env KUBECONFIG --timeout 30 ghcr.io/org/plugins/foo:1.0'],
    ],
  });

  force = Option.Boolean('--force', false, { description: 'Replace a plugin that is already installed under this name' });
  name = Option.String('--name', { description: 'Install under this name instead of the repository name' });
  plainHttp = Option.Boolean('--plain-http', false, { description: 'Talk to the registry over plain HTTP' });
  caFile = Option.String('--ca-file', { description: 'PEM file with the CA certificates of the registry' });
  insecure = Option.Boolean('--insecure', false, { description: 'Do not verify the registry TLS certificate' });
  reference = Option.String({ name: 'reference' });

  async run(): Promise<number> {
    const { store, env, settings, cwd } = this.context;
    // Loaded here, not at the top: other commands (list, rm) must not pay for the OCI client.
    const { pullPlugin } = await import('../../services/pull.js');
    const { formatRetryNotice } = await import('../../oci/retry.js');
    const transport = { plainHttp: this.plainHttp, caFile: this.caFile, insecure: this.insecure };
    const result = await pullPlugin(store, {
      reference: checkPullSource(this.reference, { name: this.name, force: this.force, cwd, env }),
      cwd,
      name: this.name,
      force: this.force,
      grants: (current) => applyGrantChanges(current ?? DEFAULT_GRANTS, this.grantChanges()),
      fetch: { ...transport, ...fetchSettings(settings), onRetry: (n) => this.status(formatRetryNotice(n)) },
      transport,
      notify: (line) => this.status(line),
      checkName: (name) => refuseNameKubectlWouldNotRun(name, this.force, env),
    });
    const { receipt } = result;
    if (settings.timings) this.status(`timings: ${JSON.stringify(result.timings)}`);
    this.status(`Installed plugin "${receipt.name}" (${shortDigest(receipt.manifestDigest ?? receipt.layerDigest)}) as ${linkNameFor(receipt.name)}`);
    this.status('Granted (change with krew-wasm grant / revoke):');
    for (const line of describeGrants(receipt.grants)) this.status(`  ${line}`);
    this.status(`Run it with: kubectl ${receipt.name}`);
    const binDir = store.paths.binDir;
    const onPath = (env.PATH ?? '').split(path.delimiter).some((p) => path.resolve(p || '.') === binDir);
    if (!onPath) {
      this.status(`The krew-wasm bin folder is not on your PATH yet; add it with:`);
      this.status(`  export PATH="${binDir}:$PATH"`);
    }
    return 0;
  }
}
