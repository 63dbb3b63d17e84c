import { Command, Option } from 'clipanion';
import { BaseCommand } from '../baseCommand.js';
import { integerOption } from '../options.js';
import { listingDefault, outputOption, renderTable, writeOutput } from '../output.js';
import { caFileOption, insecureOption, plainHttpOption, quietOption, registrySession } from '../registry.js';

export class TagsCommand extends BaseCommand {
  static override paths = [['tags']];

  static override usage = Command.Usage({
    description: 'List the tags a registry has for a plugin, to pick a version',
    details: `
      Asks the registry for the repository's tags (distribution tags/list), following its pages.
      Bare tags when stdout is not a terminal, a table on a terminal; \`-o json\` and \`-o yaml\`
      print the repository and its tags. Credentials, TLS options and \`--plain-http\` are those of pull.
    `,
    examples: [
      ['The versions of a plugin', '$0 tags ghcr.io/org/plugins/foo'],
      ['Then install one', '$0 pull ghcr.io/org/plugins/foo:1.2.0'],
    ],
  });

  pageSize = integerOption('--page-size', { unit: 'tags', min: 1, max: 10000, example: 100 }, 'Tags asked for per request (the registry may send fewer and say where the next page is)');
  plainHttp = plainHttpOption();
  caFile = caFileOption();
  insecure = insecureOption();
  quiet = quietOption();
  output = outputOption();
  repository = Option.String({ name: 'repository' });

  async run(): Promise<number> {
    const { listTags } = await import('../../services/tags.js');
    const session = registrySession(this.context, this);
    const { ref, tags } = await listTags(this.repository, session.fetchOptions(), this.pageSize ?? undefined);
    const { stdout } = this.context;
    await writeOutput(stdout, this.output ?? listingDefault(stdout), {
      data: { repository: `${ref.registry}/${ref.repository}`, tags },
      names: tags,
      table: () => renderTable(['TAG'], tags.map((t) => [t])),
    });
    return 0;
  }
}
