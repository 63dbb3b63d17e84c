import { Option } from 'clipanion';
import { dockerCredentials } from '../oci/auth/credentials.js';
import type { FetchOptions } from '../oci/fetch.js';
import { fetchSettings } from '../oci/fetchSettings.js';
import { formatRetryNotice } from '../oci/retry.js';
import type { ReceiptTransport } from '../store/receipt.js';
import { CliUsageError } from '../errors.js';
import type { KrewContext } from './context.js';
import { stringOption } from './options.js';
import { terminalProgress, type TerminalProgress } from './progress.js';

/**
 * The registry options every command that talks to a registry shares (pull, push, tags, upgrade,
 * outdated): declared once here, used as `plainHttp = plainHttpOption()` in each class.
 */
export const plainHttpOption = () => Option.Boolean('--plain-http', false, { description: 'Talk to the registry over plain HTTP (a local registry)' });
export const caFileOption = () => stringOption('--ca-file', '<file>', 'PEM file with the CA certificates of the registry');
export const insecureOption = () => Option.Boolean('--insecure', false, { description: 'Do not verify the registry TLS certificate' });
export const quietOption = () => Option.Boolean('-q,--quiet', false, { description: 'No progress and no status lines (errors and warnings still go to stderr)' });

/** The fields those options fill. */
export interface RegistryFlags {
  plainHttp: boolean;
  caFile?: string;
  insecure: boolean;
  quiet: boolean;
}

/** What a registry command reports through: progress drawn on a terminal, status lines, retry notices. */
export interface RegistrySession {
  progress: TerminalProgress;
  /** A status line on stderr (nothing with --quiet). */
  say(line: string): void;
  /** Fetch options for a registry reached with `transport` (the flags when not given). */
  fetchOptions(transport?: ReceiptTransport): FetchOptions;
  /** The transport the flags ask for, as a receipt records it. */
  transport: ReceiptTransport;
}

/** Wires a registry command's options and context into the services' callbacks. */
export function registrySession(context: KrewContext, flags: RegistryFlags): RegistrySession {
  const progress = terminalProgress(context.stderr as NodeJS.WriteStream, flags.quiet);
  const transport: ReceiptTransport = { plainHttp: flags.plainHttp, caFile: flags.caFile, insecure: flags.insecure };
  const credentials = dockerCredentials(context.env);
  return {
    progress,
    say: (line) => progress.log(line),
    transport,
    fetchOptions: (t = transport) => ({
      plainHttp: t.plainHttp,
      caFile: t.caFile,
      insecure: t.insecure,
      ...fetchSettings(context.settings),
      credentials,
      progress,
      onRetry: (notice) => progress.log(formatRetryNotice(notice)),
    }),
  };
}

/** A receipt's registry options, with what the command line says on top. */
export function mergeTransport(recorded: ReceiptTransport | undefined, flags: RegistryFlags): ReceiptTransport {
  return {
    plainHttp: flags.plainHttp || recorded?.plainHttp,
    caFile: flags.caFile ?? recorded?.caFile,
    insecure: flags.insecure || recorded?.insecure,
  };
}

/**
 * The command-line registry options of a command over installed plugins (upgrade, outdated), which
 * apply to the plugins named with them only: given for every plugin, `--plain-http` sent the
 * credentials of an HTTPS registry in clear text, and upgrade recorded it in each receipt, for
 * every later run (attack 87). Each plugin's pull recorded its own.
 */
export function registryFlagsForNamed(flags: RegistryFlags, names: string[], command: string): void {
  if (names.length > 0) return;
  const given = flags.plainHttp ? '--plain-http' : flags.insecure ? '--insecure' : flags.caFile !== undefined ? '--ca-file' : undefined;
  if (given === undefined) return;
  const example = given === '--ca-file' ? '--ca-file <file>' : given;
  throw new CliUsageError(`${given} applies to the plugins it is given for, not to every installed plugin`, {
    hint: `name them: krew-wasm ${command} ${example} <name>...; without it, each plugin uses the registry options its pull recorded`,
  });
}
