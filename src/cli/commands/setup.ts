import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'clipanion';
import { StoreConflictError } from '../../errors.js';
import { atomicSymlink, lstatOrUndefined } from '../../store/fsutil.js';
import { recordSetupLinks } from '../../store/setupLinks.js';
import { BaseCommand } from '../baseCommand.js';
import { stringOption } from '../options.js';

/** The links that make `kubectl krew-wasm ...` (and its completion) run krew-wasm itself. */
export const KUBECTL_LINKS = ['kubectl-krew_wasm', 'kubectl_complete-krew_wasm'];
/** What they point at: an entry file of its own beside bin/krew-wasm.js (see that file). */
const LINK_TARGET = 'kubectl-krew_wasm.js';

export class SetupCommand extends BaseCommand {
  static override paths = [['setup']];

  static override usage = Command.Usage({
    description: 'Make `kubectl krew-wasm ...` work: link krew-wasm into kubectl\'s plugin path',
    details: `
      Creates \`kubectl-krew_wasm\`, so that kubectl runs krew-wasm itself for \`kubectl krew-wasm
      <command>\` (as krew is run as \`kubectl krew\`), and \`kubectl_complete-krew_wasm\`, which
      kubectl 1.26 and later runs to complete \`kubectl krew-wasm <TAB>\`. Both go into the krew-wasm
      bin folder, where the plugins are, unless \`--dir\` names another folder on your PATH.
      \`npm install -g\` of the krew-wasm package creates the same two commands.
    `,
    examples: [
      ['Link into the plugin bin folder', '$0 setup'],
      ['Link into another folder on PATH', '$0 setup --dir ~/.local/bin'],
    ],
  });

  dir = stringOption('--dir', '<folder>', 'Folder to create the links in (default: the krew-wasm bin folder)');

  async run(): Promise<number> {
    const { paths, executable, cwd, env } = this.context;
    const dir = path.resolve(cwd, this.dir ?? paths.binDir);
    const target = path.join(path.dirname(executable), LINK_TARGET);
    if (!fs.existsSync(target)) throw new StoreConflictError(`${target} is missing from this krew-wasm installation`, { hint: 'reinstall krew-wasm' });
    for (const name of KUBECTL_LINKS) assertReplaceable(path.join(dir, name));
    fs.mkdirSync(dir, { recursive: true });
    for (const name of KUBECTL_LINKS) atomicSymlink(target, path.join(dir, name));
    if (dir !== paths.binDir) recordSetupLinks(paths, KUBECTL_LINKS.map((name) => path.join(dir, name)));
    this.status(`Linked ${KUBECTL_LINKS.map((n) => path.join(dir, n)).join(' and ')} to ${target}`);
    const onPath = (env.PATH ?? '').split(path.delimiter).some((p) => p && path.resolve(p) === dir);
    if (!onPath) {
      this.status(`${dir} is not on your PATH yet; add it with:`);
      this.status(`  export PATH="${dir}:$PATH"`);
    }
    this.status('Try it: kubectl krew-wasm list');
    return 0;
  }
}

/** Only a missing file or a link to a krew-wasm entry file may be replaced, never someone else's command. */
function assertReplaceable(file: string): void {
  const stat = lstatOrUndefined(file);
  if (!stat) return;
  if (stat.isSymbolicLink() && /(^|\/)(krew-wasm|kubectl-krew_wasm)\.js$/.test(fs.readlinkSync(file))) return;
  throw new StoreConflictError(`${file} exists and was not created by krew-wasm; refusing to overwrite it`, { hint: 'remove it, or pick another folder with --dir' });
}
