import path from 'node:path';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../baseCommand.js';
import { assertReadableFile } from '../pullChecks.js';

export class RunCommand extends BaseCommand {
  static override paths = [['run']];

  static override usage = Command.Usage({
    description: 'Run an installed plugin, or a local wasm file, in the plugin sandbox',
    details: `
      Runs exactly as \`kubectl <name>\` would, with the same sandbox: how plugin authors try a
      build without kubectl. A target containing a slash or ending in .wasm is a local file; it
      is transpiled once into a cache keyed by its digest. Arguments after \`--\` go to the plugin.
    `,
    examples: [
      ['Run an installed plugin', '$0 run foo -- get pods'],
      ['Try a local build', '$0 run ./build/plugin.wasm -- --help'],
    ],
  });

  target = Option.String({ name: 'name|file.wasm' });
  args = Option.Proxy();

  async run(): Promise<number> {
    const { paths, env, cwd, settings } = this.context;
    const args = [...this.args, ...(this.context.trailingArgs ?? [])];
    const host = { env, cwd, settings, installDir: path.dirname(path.dirname(this.context.executable)), launchPaths: [this.context.executable, process.execPath] };
    if (this.target.includes('/') || this.target.endsWith('.wasm')) {
      assertReadableFile(this.target, path.resolve(cwd, this.target));
      const { runLocalFile } = await import('../../services/runLocal.js');
      return runLocalFile(paths, this.target, args, host);
    }
    const { runInstalledPlugin } = await import('../../services/runPlugin.js');
    return runInstalledPlugin(paths, { name: this.target, args, host });
  }
}
