import { Command, Option } from 'clipanion';
import { CliUsageError } from '../../errors.js';
import { BaseCommand } from '../baseCommand.js';
import { completionScript, SHELLS, type Shell } from '../completionScripts.js';

export class CompletionCommand extends BaseCommand {
  static override paths = [['completion']];

  static override usage = Command.Usage({
    description: 'Print a shell completion script (bash, zsh or fish)',
    details: `
      Completes commands, options, option values and installed plugin names (for rm, info, grant,
      revoke and upgrade). \`kubectl krew-wasm <TAB>\` completes too, through kubectl's own
      plugin completion (kubectl 1.26 and later), once \`kubectl_complete-krew_wasm\` is on PATH
      (\`krew-wasm setup\` or \`npm install -g\` puts it there).
    `,
    examples: [
      ['bash: load it now', 'source <($0 completion bash)'],
      ['bash: load it in every new shell', "echo 'source <(krew-wasm completion bash)' >> ~/.bashrc"],
      ['zsh (after compinit)', 'source <($0 completion zsh)'],
      ['fish', '$0 completion fish > ~/.config/fish/completions/krew-wasm.fish'],
    ],
  });

  shell = Option.String({ name: 'bash|zsh|fish' });

  async run(): Promise<number> {
    if (!(SHELLS as readonly string[]).includes(this.shell)) {
      throw new CliUsageError(`unsupported shell "${this.shell}": expected one of ${SHELLS.join(', ')}`, { hint: `e.g. ${this.context.binaryName} completion bash` });
    }
    this.context.stdout.write(completionScript(this.shell as Shell));
    return 0;
  }
}
