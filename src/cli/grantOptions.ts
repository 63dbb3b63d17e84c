import fs from 'node:fs';
import path from 'node:path';
import { Option } from 'clipanion';
import { CliUsageError, fileProblem } from '../errors.js';
import { isInside, krewWasmCodeDirs, realpathOr } from '../hostPaths.js';
import { UNFOLLOWABLE, wayProblem } from '../runtime/wasi/walk.js';
import { nodeInstallationDirs } from '../services/sandbox.js';
import { readSetupLinks } from '../store/setupLinks.js';
import { parseDirGrant, parseEnvGrant, type DirGrant, type GrantChanges } from '../grants.js';
import { BaseCommand } from './baseCommand.js';
import type { KrewContext } from './context.js';
import { checkedArrayOption, checkedOption, enumOption, integerOption } from './options.js';

/** Longest time limit: Node's timers hold at most 2^31-1 ms (about 24.8 days). */
export const MAX_TIMEOUT_SECONDS = 2_147_483;
/** Largest memory cap: a 32-bit linear memory holds at most 4 GiB. */
export const MAX_MEMORY_MIB = 4096;

/** The grant options `pull` and `grant` share: one declaration, one parser. */
export abstract class GrantOptionsCommand extends BaseCommand {
  fs = enumOption('--fs', ['home', 'kubeconfig', 'none'], 'Files the plugin sees: home (read-write, the default), kubeconfig (the kubeconfig and the files it references, read-only) or none');
  allowDir = checkedArrayOption('--allow-dir', '<path[:ro]>', 'Also grant this existing folder (read-write), or with :ro read-only; repeatable', existingDirGrant);
  dataDir = Option.Boolean('--data-dir', { description: 'Grant a private writable folder (its path is in KREW_WASM_DATA_DIR)' });
  envGrant = checkedOption('--env', '<all|none|NAME,...>', 'Environment variables the plugin sees: all, none, or only the listed names', parseEnvGrant);
  network = enumOption('--network', ['api-server', 'none'], 'api-server (the kubeconfig API server, the default) or none');
  timeout = integerOption('--timeout', { unit: 'seconds', min: 1, max: MAX_TIMEOUT_SECONDS, none: true, example: 30 }, 'Wall-clock limit of one run (none lifts it)');
  maxMemory = integerOption('--max-memory', { unit: 'MiB', min: 1, max: MAX_MEMORY_MIB, none: true, example: 256 }, 'Cap on the linear memory (none lifts it)');

  /** The changes these options ask for. */
  protected grantChanges(): GrantChanges {
    return {
      filesystem: this.fs,
      addDirs: this.allowDir,
      dataDir: this.dataDir,
      env: this.envGrant,
      network: this.network,
      timeoutSeconds: this.timeout,
      maxMemoryMiB: this.maxMemory,
    };
  }
}

/**
 * `--allow-dir PATH[:ro]` must name a folder that exists now, outside krew-wasm's store and code
 * and Node's installations in HOME: either grant would be accepted silently and then fail every
 * run of the plugin.
 */
function existingDirGrant(spec: string, context: KrewContext): DirGrant {
  const grant = parseDirGrant(spec, context.cwd);
  let problem: string | undefined;
  try {
    if (!fs.statSync(grant.path).isDirectory()) problem = 'is a file, not a folder';
  } catch (error) {
    problem = fileProblem(error);
  }
  const ownFiles = [context.settings.root, ...krewWasmCodeDirs(path.dirname(path.dirname(context.executable)), context.paths.binDir, readSetupLinks(context.paths))];
  if (!problem && ownFiles.some((dir) => isInside(realpathOr(grant.path), realpathOr(dir)))) {
    throw new CliUsageError(`--allow-dir ${grant.path} is inside krew-wasm's own files (its store or its code), which no plugin may reach`, { hint: 'grant a folder outside them' });
  }
  const node = problem ? undefined : nodeInstallationDirs(context.settings.home, context.env).find((dir) => isInside(realpathOr(grant.path), realpathOr(dir)));
  if (node) {
    throw new CliUsageError(`--allow-dir ${grant.path} is inside ${node}, an installation of the Node that runs krew-wasm's plugins, which no plugin may reach`, { hint: 'grant a folder outside it' });
  }
  const way = problem ? undefined : wayProblem(grant.path);
  if (way) {
    const why = way === 'kernel' ? "leads through the kernel's own filesystems (/proc, /sys, /dev), which no plugin may reach" : UNFOLLOWABLE;
    throw new CliUsageError(`--allow-dir ${grant.path} ${why}`, { hint: 'grant the folder itself, by its own path' });
  }
  if (problem) {
    throw new CliUsageError(`--allow-dir ${grant.path} ${problem}`, {
      hint: problem === 'does not exist' ? `create it first (mkdir -p ${grant.path}) or correct the path` : 'give the path of a folder',
    });
  }
  return grant;
}
