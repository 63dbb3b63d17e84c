import fs from 'node:fs';
import path from 'node:path';
import { fileProblem, InvalidReferenceError, StoreConflictError } from '../errors.js';
import { defaultPluginName, parseSource } from '../oci/reference.js';
import { builtin } from '../builtin.js';
import { realpathOrUndefined } from '../hostPaths.js';
import { someOf } from '../printable.js';
import { linkNameFor } from '../store/paths.js';

/**
 * Checks `pull` makes before anything is downloaded: a local file exists and is a file (and is
 * recorded by its absolute path), and the plugin name is one kubectl would run.
 */
export interface PullCheck {
  /** `--name`, if given. */
  name?: string;
  force: boolean;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** krew-wasm's bin folder: its links are no other plugin. */
  binDir: string;
}

/** Runs the checks; returns the source to pull (a local file as an absolute `file://` URL). */
export function checkPullSource(reference: string, check: PullCheck): string {
  const source = parseSource(reference);
  let resolved = reference;
  if (source.kind === 'file') {
    const file = path.resolve(check.cwd, source.file);
    assertReadableFile(source.file, file);
    resolved = `file://${file}`;
  }
  // An OCI layout's name comes from its annotations, known only once it is read (pull's checkName then).
  const name = check.name ?? defaultPluginName(source);
  if (name) refuseNameKubectlWouldNotRun(name, check.force, check.env, check.binDir);
  return resolved;
}

/** A wasm file the user named must be a readable regular file; what is wrong is said in words. */
export function assertReadableFile(shown: string, file: string): void {
  let problem: string | undefined;
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) problem = 'is a folder, not a wasm file';
    else if (!stat.isFile()) problem = 'is not a regular file';
    else fs.accessSync(file, fs.constants.R_OK);
  } catch (error) {
    problem = fileProblem(error);
  }
  if (problem) throw new InvalidReferenceError(`file ${shown}${shown === file ? '' : ` (${file})`} ${problem}`, { hint: 'check the path' });
}

/** The name `krew-wasm setup` gives kubectl-krew_wasm: `kubectl krew-wasm` is krew-wasm itself. */
const OWN_NAME = 'krew-wasm';

/**
 * kubectl's own commands (kubectl 1.32, `kubectl __complete ''`): for these kubectl never looks
 * for a plugin. Used only when kubectl is not installed; otherwise kubectl itself is asked.
 */
export const KUBECTL_COMMANDS = [
  'annotate', 'api-resources', 'api-versions', 'apply', 'attach', 'auth', 'autoscale', 'certificate', 'cluster-info',
  'completion', 'config', 'cordon', 'cp', 'create', 'debug', 'delete', 'describe', 'diff', 'drain', 'edit', 'events',
  'exec', 'explain', 'expose', 'get', 'help', 'kustomize', 'label', 'logs', 'options', 'patch', 'plugin',
  'port-forward', 'proxy', 'replace', 'rollout', 'run', 'scale', 'set', 'taint', 'top', 'uncordon', 'version', 'wait',
];

/**
 * Refuses a plugin name kubectl would never run, unless `force` for a name the user gave (the
 * plugin is then reachable through `krew-wasm run`): one of kubectl's own commands, or the name of
 * another kubectl plugin on PATH (kubectl runs the first `kubectl-<name>` it finds, so one of the
 * two would hide the other: a publisher's name, a layout's title, took the place of a plugin krew
 * had installed, attack 87); and, force or not, krew-wasm's own. `binDir` is krew-wasm's bin
 * folder, whose links are its own.
 */
export function refuseNameKubectlWouldNotRun(name: string, force: boolean, env: NodeJS.ProcessEnv, binDir: string, fromArtifact = false): void {
  if (name === OWN_NAME) {
    throw new StoreConflictError(`plugin name "${name}" is taken by krew-wasm itself (kubectl krew-wasm runs krew-wasm)`, { hint: 'choose another name with --name' });
  }
  // A name only the artifact gives (a layout's title) is not one --force was given for (attack 88).
  if (force && !fromArtifact) return;
  const anyway = fromArtifact ? `or give this one yourself to install it anyway: --force --name ${name}` : 'or pass --force to install it anyway';
  const hint = `choose another name with --name, e.g. --name ${name}-wasm, ${anyway}`;
  if (isKubectlCommand(name, env)) throw new StoreConflictError(`kubectl would never run a plugin named "${name}": kubectl ${name} is one of kubectl's own commands`, { hint });
  const own = realpathOrUndefined(binDir) ?? binDir;
  const others = everyOnPath(linkNameFor(name), env.PATH ?? '', (dir) => (realpathOrUndefined(path.resolve(dir)) ?? path.resolve(dir)) === own);
  if (others.length > 0) throw new StoreConflictError(`another kubectl plugin is named "${name}": ${someOf(others, 3)} (kubectl runs the first ${linkNameFor(name)} on PATH, and would hide one of the two)`, { hint });
}

/**
 * Whether `kubectl <name>` runs one of kubectl's own commands. kubectl is asked when installed:
 * `kubectl <name> --help` with an empty PATH, so that no plugin can answer, exits 0 exactly when
 * kubectl has such a command (aliases included) and 1 when it would look for a plugin.
 */
export function isKubectlCommand(name: string, env: NodeJS.ProcessEnv): boolean {
  const kubectl = findOnPath('kubectl', env.PATH ?? '');
  if (kubectl) {
    const r = builtin<typeof import('node:child_process')>('node:child_process').spawnSync(kubectl, [name, '--help'], { env: { PATH: '', HOME: env.HOME ?? '' }, stdio: 'ignore', timeout: 10_000 });
    if (r.status === 0) return true;
    if (r.status === 1) return false;
  }
  return KUBECTL_COMMANDS.includes(name);
}

function findOnPath(command: string, searchPath: string): string | undefined {
  return everyOnPath(command, searchPath)[0];
}

/** Each executable file named `command` in the folders of `searchPath`, in its order. */
function everyOnPath(command: string, searchPath: string, skip: (dir: string) => boolean = () => false): string[] {
  const found: string[] = [];
  // An empty entry is the current folder, to kubectl as to a shell.
  for (const dir of searchPath.split(path.delimiter).map((d) => d || '.')) {
    if (skip(dir)) continue;
    const file = path.join(dir, command);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) found.push(file);
    } catch {
      // not here
    }
  }
  return found;
}
