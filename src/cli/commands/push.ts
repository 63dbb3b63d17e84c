import { Command, Option } from 'clipanion';
import { CliUsageError } from '../../errors.js';
import { BaseCommand } from '../baseCommand.js';
import { arrayOption, checkedArrayOption, integerOption, stringOption } from '../options.js';
import { outputOption, renderTable, shortDigest, writeOutput } from '../output.js';
import { caFileOption, insecureOption, plainHttpOption, quietOption, registrySession } from '../registry.js';

const IMAGE = 'org.opencontainers.image';

export class PushCommand extends BaseCommand {
  static override paths = [['push']];

  static override usage = Command.Usage({
    description: 'Publish a plugin to an OCI registry in the CNCF wasm artifact layout',
    details: `
      Checks that the file is a plugin krew-wasm runs (a component exporting wasi:cli/run, or a
      WASI preview1 command module), then pushes it as the CNCF wasm OCI artifact: config
      \`application/vnd.wasm.config.v0+json\` (architecture wasm, os wasip2 or wasip1, the layer
      digests and the component's WIT imports and exports) and one \`application/wasm\` layer titled
      with the file name. A blob the repository has is not sent again; one another repository of
      the registry has (\`--mount-from\`, or an installed plugin pulled from there) is mounted.
      Blobs up to the chunk size go in one request, bigger ones in chunks. Prints the pushed
      reference pinned by digest. Credentials, TLS options and \`--plain-http\` are those of pull.
    `,
    examples: [
      ['Publish a build', '$0 push build/pods.wasm ghcr.io/me/plugins/pods:1.0 --version 1.0 --description "List pods"'],
      ['To a local registry', '$0 push --plain-http pods.wasm localhost:5000/plugins/pods:1.0'],
      ['With any OCI annotation', '$0 push pods.wasm r.io/p/pods:1.0 --annotation org.opencontainers.image.licenses=Apache-2.0'],
    ],
  });

  annotation = checkedArrayOption('-a,--annotation', '<key=value>', 'A manifest annotation, e.g. org.opencontainers.image.licenses=MIT; repeatable', parseAnnotation);
  version = stringOption('--version', '<version>', `Shortcut for --annotation ${IMAGE}.version=<version>`);
  description = stringOption('--description', '<text>', `Shortcut for --annotation ${IMAGE}.description=<text>`);
  source = stringOption('--source', '<url>', `Shortcut for --annotation ${IMAGE}.source=<url> (where the plugin's code lives)`);
  mountFrom = arrayOption('--mount-from', '<repository>', 'A repository of the same registry that may already have the layer (mounted instead of uploaded); repeatable');
  chunkSize = integerOption('--chunk-size', { unit: 'bytes', min: 1024, max: 1024 * 1024 * 1024, example: 16 * 1024 * 1024 }, 'Upload blobs bigger than this in chunks of this size (default 16 MiB; smaller blobs go in one request)');
  plainHttp = plainHttpOption();
  caFile = caFileOption();
  insecure = insecureOption();
  quiet = quietOption();
  output = outputOption('Output format: name (the pushed reference pinned by digest, the default), table, json or yaml');
  file = Option.String({ name: 'file.wasm' });
  reference = Option.String({ name: 'reference' });

  async run(): Promise<number> {
    const { pushPlugin } = await import('../../services/push.js');
    const session = registrySession(this.context, this);
    const result = await pushPlugin({
      file: this.file,
      cwd: this.context.cwd,
      reference: this.reference,
      annotations: this.annotations(),
      fetch: session.fetchOptions(),
      chunkBytes: this.chunkSize ?? undefined,
      mountFrom: this.mountFrom ?? [],
      installed: this.context.store.list().plugins,
      notify: session.say,
    });
    const { registry, repository, tag } = result.reference;
    const pinned = `${registry}/${repository}@${result.manifestDigest}`;
    for (const blob of result.blobs) {
      session.say(`  ${blob.what}: ${blob.outcome === 'mounted' ? `mounted from ${blob.from}` : blob.outcome === 'exists' ? 'already in the repository' : 'uploaded'}`);
    }
    session.say(`Pushed ${registry}/${repository}:${tag} (${shortDigest(result.manifestDigest)})`);
    await writeOutput(this.context.stdout, this.output ?? 'name', {
      data: { reference: `${registry}/${repository}:${tag}`, pinned, manifestDigest: result.manifestDigest, layerDigest: result.layerDigest, blobs: result.blobs },
      names: [pinned],
      table: () => renderTable(['REFERENCE', 'DIGEST'], [[`${registry}/${repository}:${tag}`, result.manifestDigest]]),
    });
    return 0;
  }

  private annotations(): Record<string, string> {
    const out: Record<string, string> = Object.fromEntries(this.annotation ?? []);
    if (this.version !== undefined) out[`${IMAGE}.version`] = this.version;
    if (this.description !== undefined) out[`${IMAGE}.description`] = this.description;
    if (this.source !== undefined) out[`${IMAGE}.source`] = this.source;
    return out;
  }
}

/** `key=value`, both printable; the key in the reverse-domain form OCI annotations use. */
function parseAnnotation(spec: string): [string, string] {
  const eq = spec.indexOf('=');
  const key = eq > 0 ? spec.slice(0, eq) : '';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(key) || key.length > 256 || /[\x00-\x08\x0b-\x1f\x7f]/.test(spec)) {
    throw new CliUsageError(`invalid --annotation "${spec}": expected key=value`, { hint: 'e.g. --annotation org.opencontainers.image.licenses=Apache-2.0' });
  }
  return [key, spec.slice(eq + 1)];
}
