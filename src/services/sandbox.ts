import fs from 'node:fs';
import path from 'node:path';
import { GrantError } from '../errors.js';
import { envAllows, type Grants } from '../grants.js';
import { isInside, krewWasmCode, realpathOr } from '../hostPaths.js';
import type { WasiSandbox } from '../runtime/wasi/index.js';
import { closePreopens, DeferredFs, openPreopens, type OpenedPreopen, type PreopenSpec } from '../runtime/wasi/preopens.js';
import type { Settings } from '../settings.js';
import { Paths } from '../store/paths.js';
import { readGrantedFolders } from '../store/receipt.js';
import { readSetupLinks } from '../store/setupLinks.js';

/** The host facts a run's sandbox is computed from. */
export interface HostContext {
  env: NodeJS.ProcessEnv;
  /** The process's working folder; '' when it was removed. */
  cwd: string;
  settings: Settings;
  /** Where krew-wasm itself is installed: its code is out of every plugin's reach. */
  installDir?: string;
  /** What the next run starts through: the `kubectl-<name>` link (or krew-wasm) and Node. */
  launchPaths?: string[];
}

/** Which of the sandbox's parts the plugin can reach: what it imports (a preview1 module, all of them). */
export interface SandboxUse {
  filesystem: boolean;
  environment: boolean;
}

/** A sandbox and what must be undone after the run. */
export interface PreparedSandbox {
  sandbox: WasiSandbox;
  limits: { timeoutMs?: number; maxMemoryMiB?: number };
  cleanup(): void;
}

/**
 * Turns a plugin's stored grants into the concrete capabilities of one run: argv[0] is the
 * `kubectl-<name>` link; HOME (when granted) is preopened at its own absolute path and the
 * initial cwd is reported only inside it (also as `.`, for wasi-libc builds that ignore
 * initial-cwd); `kubeconfig` exposes read-only copies of the kubeconfig files in use and the files
 * the selected context names (kube/mirror.ts), at their own paths; extra folders and the data
 * folder are preopened as granted.
 * Whatever the grants, no walk enters the store or krew-wasm's own code (protectedDirs), and a
 * read-only folder is read-only through every preopen that reaches it. A plugin that imports no
 * filesystem interface (`uses.filesystem` false) can reach no file whatever its grants: nothing is
 * opened or pinned for it; one that imports no environment interface (`uses.environment` false)
 * can read no variable, and none is selected for it.
 */
export async function prepareSandbox(pluginName: string, grants: Grants, argv0: string, args: string[], host: HostContext, dirs: { dataDir: string; tmpDir: string }, uses: SandboxUse = { filesystem: true, environment: true }): Promise<PreparedSandbox> {
  const { dataDir } = dirs;
  const env = uses.environment ? selectEnv(grants, host.env) : {};
  const limits = { timeoutMs: grants.timeoutSeconds ? grants.timeoutSeconds * 1000 : undefined, maxMemoryMiB: grants.maxMemoryMiB };
  const home = host.settings.home;
  // Not a folder of krew-wasm's own as far as its path tells (the store, this installation, Node's):
  // as outside HOME, such a run has no `.` (a run started there ended at its first use of a file).
  const initialCwd = (uses.filesystem || uses.environment) && grants.filesystem === 'home' && host.cwd !== '' && isInside(host.cwd, home) && !insideOwnFolders(host) ? host.cwd : undefined;
  if (grants.dataDir && uses.environment) env.KREW_WASM_DATA_DIR = dataDir;
  if (!uses.filesystem) return { sandbox: { args: [argv0, ...args], env, initialCwd }, limits, cleanup: () => {} };
  // krew-wasm's own folders, looked up when the first check needs them (DeferredFs, or the
  // kubeconfig mirror, which must copy nothing out of them).
  let own: ReturnType<typeof krewWasmFiles> | undefined;
  const ownFiles = () => (own ??= krewWasmFiles(host));
  const preopens: PreopenSpec[] = [];
  const cleanups: (() => void)[] = [];
  if (grants.filesystem === 'home') {
    preopens.push({ guestPath: home, hostPath: home, readOnly: false });
    // `.` is the folder the process stands in (preopens.ts workingFolderWithin), when host.cwd names it.
    if (initialCwd && initialCwd === process.cwd()) preopens.push({ guestPath: '.', hostPath: initialCwd, readOnly: false, workingFolderWithin: home });
  } else if (grants.filesystem === 'kubeconfig') {
    // No credential file is copied for it through the folders it may write.
    const mirror = await (await import('../kube/mirror.js')).mirrorKubeconfigFiles(host.env, args, dirs.tmpDir, { protectedDirs: ownFiles().dirs, writableDirs: writableFolders(grants, home, dataDir, uses) });
    if (mirror) {
      cleanups.push(mirror.cleanup);
      for (const [guest, hostDir] of Object.entries(mirror.preopens)) preopens.push({ guestPath: guest, hostPath: hostDir, readOnly: true, internal: true });
    }
  }
  for (const dir of grants.dirs) preopens.push({ guestPath: dir.path, hostPath: dir.path, readOnly: dir.readOnly });
  if (grants.dataDir) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    preopens.push({ guestPath: dataDir, hostPath: dataDir, readOnly: false, internal: true });
  }
  const withRevokeHint = (error: unknown): unknown => {
    if (!(error instanceof GrantError)) return error;
    // The folder the message names: the longest granted path it starts with (`/x/b` is not `/x/b2`).
    const dir = grants.dirs.filter((d) => error.message.startsWith(`granted folder ${d.path} `)).sort((a, b) => b.path.length - a.path.length)[0];
    return new GrantError(error.message, { hint: dir ? `krew-wasm revoke ${pluginName} --allow-dir ${dir.path}` : error.hint });
  };
  let opened: OpenedPreopen[];
  try {
    opened = openPreopens(preopens);
  } catch (error) {
    cleanups.forEach((c) => c());
    throw withRevokeHint(error);
  }
  cleanups.push(() => closePreopens(opened));
  const deferredFs = new DeferredFs(opened, () => {
    const files = ownFiles();
    return {
      protectedDirs: files.dirs,
      protectedFiles: files.files,
      readOnlyDirs: grants.dirs.filter((d) => d.readOnly).map((d) => d.path),
      launchPaths: files.launchPaths,
      reservedPaths: files.reservedPaths,
      searchedPaths: files.searchedPaths,
      linkWalkSkips: files.linkWalkSkips,
      otherGrants: { folders: () => foldersRunsOpenByPath(host), version: () => receiptsVersion(host) },
    };
  }, withRevokeHint);
  return {
    sandbox: { args: [argv0, ...args], env, fs: deferredFs, initialCwd },
    limits,
    cleanup: () => cleanups.forEach((c) => c()),
  };
}

/** The folders a plugin may write through its grants: none when it imports no filesystem interface. */
export function writableFolders(grants: Grants, home: string, dataDir: string, uses: SandboxUse): string[] {
  if (!uses.filesystem) return [];
  return [...(grants.filesystem === 'home' ? [home] : []), ...grants.dirs.filter((d) => !d.readOnly).map((d) => d.path), ...(grants.dataDir ? [dataDir] : [])];
}

/** Its read-only grants: read-only through every grant that reaches them (preopens.ts), a read-write one above included. */
export function readOnlyFolders(grants: Grants): string[] {
  return grants.dirs.filter((d) => d.readOnly).map((d) => d.path);
}

/**
 * krew-wasm's own files as a run's sandbox keeps them: the folders no walk enters
 * (protectedDirs), the paths the next start is made through, every name on whose way is pinned
 * (`kubectl krew-wasm` may start through a link `setup --dir` made; the code it loads is read through
 * bin/, dist/ and node_modules as written, each of which may be a chain of symlinks), and the
 * names that must not come to exist (hostPaths.ts krewWasmCode).
 */
function krewWasmFiles(host: HostContext): { dirs: string[]; files: string[]; launchPaths: string[]; reservedPaths: string[]; searchedPaths: string[]; linkWalkSkips: string[] } {
  const paths = Paths.fromSettings(host.settings);
  const setupLinks = readSetupLinks(paths);
  const code = krewWasmCode(host.installDir, paths.binDir, setupLinks);
  const node = nodeInstallation(host.settings.home, host.env, true, host.cwd);
  return {
    dirs: protectedDirs(host, code.dirs, node.dirs),
    files: node.files,
    launchPaths: [...(host.launchPaths ?? []), ...setupLinks, ...code.pinnedPaths, ...node.pinned],
    reservedPaths: code.reservedPaths,
    searchedPaths: node.searched,
    // Not krew-wasm's code: plugins' data and the store's scratch (a plugin may fill its data
    // folder, or link a file of yours into it), and pnpm's stores of every package it keeps.
    linkWalkSkips: [paths.dataRoot, paths.tmpDir, ...code.packageStores],
  };
}

/**
 * The folders installed plugins' next runs open by path: HOME and every plugin's granted folders,
 * from the receipts. Read at a run's first change of a name (preopens.ts FsRules.otherGrants):
 * 40–70 µs a receipt on the project's machine (4–7 ms for 100), paid by no run that only reads.
 */
function foldersRunsOpenByPath(host: HostContext): string[] {
  const receipts = Paths.fromSettings(host.settings).receiptsDir;
  const folders = new Set([host.settings.home]);
  let files: string[];
  try {
    files = fs.readdirSync(receipts);
  } catch (error) {
    // No receipts folder: no other plugin. Any other failure (no descriptor left: a plugin can hold
    // them all) fails the check that asked, never leaves other plugins' grants out (attack 68).
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    files = [];
  }
  for (const file of files) if (file.endsWith('.json')) for (const dir of readGrantedFolders(path.join(receipts, file))) folders.add(dir);
  return [...folders];
}

/**
 * Within this long of the receipts folder's last change, its times may not show the next one:
 * kernels before 6.13 count ext4's and tmpfs's times in clock ticks (4 ms here, 10 ms at most),
 * and a receipt written in two steps (a temporary file, then a rename) within one tick left the
 * folder's times as a run had read them between the two (found by an attack). Ten ticks: a run
 * that changes names right after a pull reads the receipts at each change for that long, at most
 * (two seconds where times are kept in whole seconds).
 */
const RACY_NS = 100_000_000n;
let racyReads = 0;

/**
 * What changes when a receipt is written or removed (each is renamed into place): the receipts
 * folder's times, as git trusts an index entry's. One read while its last change is recent is
 * never the same as another, so that the grants are read again at each change of a name until it is
 * not.
 */
export function receiptsVersion(host: HostContext): string {
  try {
    const stat = fs.statSync(Paths.fromSettings(host.settings).receiptsDir, { bigint: true });
    // Times in whole seconds (ext4's small inodes, ext3, some network filesystems) are rounded down:
    // a second and more.
    const racy = stat.ctimeNs % 1_000_000_000n === 0n ? 2_000_000_000n : RACY_NS;
    if (BigInt(Date.now()) * 1_000_000n - stat.ctimeNs < racy) return `racy ${++racyReads}`;
    return `${stat.ino}:${stat.mtimeNs}:${stat.ctimeNs}`;
  } catch {
    return 'none';
  }
}

/**
 * What no plugin may reach through any grant: the krew-wasm store (receipts say what a plugin may
 * do, entries hold code the host executes), krew-wasm's own code (every installation the store's
 * and `setup`'s links lead to, and the packages they load: hostPaths.ts), and Node's own installation
 * when it lives in HOME (nvm, volta): changing any of them would run code outside the sandbox.
 */
function protectedDirs(host: HostContext, codeDirs: string[], nodeDirs: string[]): string[] {
  return [host.settings.root, ...codeDirs, ...nodeDirs];
}

/**
 * Whether the working folder's path lies in the store, this installation or the running Node's
 * (the folders known without a lookup: PATH's Node is looked for at the first use of a file, and a
 * `.` inside it ends the run there, saying to run the plugin from another folder).
 */
function insideOwnFolders(host: HostContext): boolean {
  return [host.settings.root, ...(host.installDir ? [host.installDir] : []), ...nodeInstallation(host.settings.home, host.env, false).dirs].some((dir) => isInside(host.cwd, dir));
}

/** What of Node's installations in HOME a run keeps from the plugin (see nodeInstallation). */
interface NodeProtection {
  dirs: string[];
  pinned: string[];
  files: string[];
  /** What PATH's search for `node` looks up before it finds it, as written (FsSetup.searchedPaths). */
  searched: string[];
}

/**
 * Node's installations in HOME, as folders no walk enters, names that are pinned, files that are
 * not written and lookups that must keep failing: the running Node's, and the one the next start
 * through `#!/usr/bin/env node` takes, the first `node` on PATH, when that is another. A run
 * started under another PATH (a system Node's, by a script) could rewrite the Node of nvm that
 * your shell's PATH leads to, which became the host of the next run (attack 105's low). No `node`
 * may come to exist where PATH looks before it, taken as the kernel takes each folder (its `..`
 * and symlinks followed, every name on the way pinned: a plugin renamed a PATH folder away and made
 * it again, or made the folder a `..` or a link of PATH leads to, or a dangling `node` link's
 * target; attacks 109, 110). HOME is taken by its path and by its real path (`/home` a link:
 * attack 109).
 */
function nodeInstallation(home: string, env: NodeJS.ProcessEnv, withPathNode = true, cwd = ''): NodeProtection {
  const homes = homesOf(home);
  const found = [installationOf(process.execPath, homes, env)];
  const searched: string[] = [];
  const pinned: string[] = [];
  const dirs: string[] = [];
  const files: string[] = [];
  if (withPathNode) {
    const search = commandOnPath('node', env.PATH);
    searched.push(...search.before.map((dir) => inFolder(dir, 'node')), ...relativeWays(search.relative, 'node', cwd, home));
    if (search.found) {
      found.push(installationOf(search.found, homes, env));
      // The name PATH finds it by (a link, as n's or a manager's shim, or Node itself).
      pinned.push(search.found);
    }
    // A version manager's launcher anywhere on PATH: a start made through it runs Node with the
    // chosen version's folder put first on PATH (nodenv's exec, mise's shim), so a run may see the
    // launcher after the Node it chose (attack 112).
    const launchers = search.hits.map((hit) => launcherManager(hit.file, homes));
    for (const [at, hit] of search.hits.entries()) {
      const launcher = launchers[at]!;
      if (!launcher.matched) continue;
      pinned.push(hit.file, ...launcher.pinned);
      dirs.push(...launcher.dirs);
      // Set to the "system" version, it runs the next `node` on PATH (nodenv's default, asdf's
      // and mise's `system`, volta with none set): every later folder is looked in too (attack 111).
      searched.push(...search.folders.slice(hit.folder + 1).map((dir) => inFolder(dir, 'node')));
      for (const later of search.hits.slice(at + 1)) found.push(installationOf(later.file, homes, env));
      const choice = versionChoices(hit.file, env, home, homes);
      dirs.push(...choice.dirs);
      files.push(...choice.files);
      searched.push(...choice.files);
    }
    for (const hit of search.hits.filter((_hit, at) => at === 0 || launchers[at]!.matched)) {
      const handoff = handoffsOf(hit.file, env, homes, cwd, home);
      searched.push(...handoff.searched);
      pinned.push(...handoff.pinned);
      files.push(...handoff.files);
    }
  }
  const allDirs = [...dirs, ...found.flatMap((f) => f.dirs)];
  return {
    dirs: allDirs,
    pinned: [...pinned, ...found.flatMap((f) => f.pinned)],
    files: [...files, ...found.flatMap((f) => f.files)],
    // A folder of them that is missing may not be made either: a hook folder nodenv would read
    // (nodenv.d with NODENV_ROOT=$HOME, attack 111), a version nvm would run.
    searched: [...searched, ...allDirs],
  };
}

/**
 * What a launcher reads at each start, in HOME, to choose what it runs: the version files asdf's
 * and mise's shims read (`.tool-versions`, whose `path:` version is any folder; `.node-version`,
 * `.nvmrc`), asdf's settings, and mise's global configuration, whose `[env]` set NODE_OPTIONS for
 * the next start (attack 110). Kept as Node's own files: not written by any name, not made when
 * missing. The same files in other folders, read when a start is made there, are not (README).
 */
function versionChoices(launcher: string, env: NodeJS.ProcessEnv, home: string, homes: string[]): { dirs: string[]; files: string[] } {
  const files = ['.tool-versions', '.node-version', '.nvmrc'].map((name) => path.join(home, name));
  files.push(env.ASDF_CONFIG_FILE && path.isAbsolute(env.ASDF_CONFIG_FILE) ? env.ASDF_CONFIG_FILE : path.join(home, '.asdfrc'));
  const dirs: string[] = [];
  if (path.basename(realNode(launcher)) === 'mise' || /\/mise\/shims\/node$/.test(launcher)) {
    const xdg = (name: string, fallback: string) => (env[name] && path.isAbsolute(env[name]!) ? env[name]! : path.join(home, fallback));
    const config = xdg('XDG_CONFIG_HOME', '.config');
    // Its configuration, and its records of which configuration files it trusts (attack 112).
    dirs.push(env.MISE_CONFIG_DIR && path.isAbsolute(env.MISE_CONFIG_DIR) ? env.MISE_CONFIG_DIR : path.join(config, 'mise'), path.join(xdg('XDG_STATE_HOME', '.local/state'), 'mise'), path.join(home, '.mise'));
    for (const name of ['mise.toml', 'mise.local.toml']) files.push(path.join(config, name), path.join(home, name), path.join(home, `.${name}`));
    files.push(path.join(home, 'mise', 'config.toml'));
    if (env.MISE_GLOBAL_CONFIG_FILE && path.isAbsolute(env.MISE_GLOBAL_CONFIG_FILE)) files.push(env.MISE_GLOBAL_CONFIG_FILE);
  }
  return { dirs: dirs.filter((dir) => isOurs(dir, homes)), files: files.filter((file) => isOurs(file, homes)) };
}

/**
 * Where an empty or relative PATH entry (`::`, `.`, a `~/bin` the shell did not expand) leads: from
 * the folder the next start is made in, which no run knows; the likeliest are this run's and HOME
 * (attack 110).
 */
function relativeWays(entries: string[], command: string, cwd: string, home: string): string[] {
  const bases = [...new Set([cwd, home].filter((base) => base !== ''))];
  return entries.flatMap((entry) => bases.map((base) => inFolder(`${base}/${entry}`, command)));
}

/**
 * What a `node` that is a script hands the start over to, which the next start runs as it does
 * the script (attack 111): its interpreter (`#!/usr/bin/env bash`, asdf's and nodenv's shims, is
 * looked up on PATH as `node` is) and the program it `exec`s (asdf's `exec …/asdf exec "node"`),
 * each kept as Node's launcher is: its file written by no name, its name pinned, and no file of
 * that name made where PATH looks before it. One step only: what those run next is theirs.
 */
function handoffsOf(node: string, env: NodeJS.ProcessEnv, homes: string[], cwd: string, home: string): { searched: string[]; pinned: string[]; files: string[] } {
  const out = { searched: [] as string[], pinned: [] as string[], files: [] as string[] };
  const searchPath = env.PATH;
  for (const command of scriptHandoffs(realNode(node))) {
    const startFiles = shellStartFiles(command, env, home).filter((file) => isOurs(file, homes));
    out.files.push(...startFiles);
    out.searched.push(...startFiles);
    if (command.startsWith('/')) {
      out.pinned.push(command);
      if (insideAny(realNode(command), homes)) out.files.push(realNode(command));
      continue;
    }
    const search = commandOnPath(command, searchPath);
    out.searched.push(...search.before.map((dir) => inFolder(dir, command)), ...relativeWays(search.relative, command, cwd, home));
    if (!search.found) continue;
    out.pinned.push(search.found);
    if (insideAny(realNode(search.found), homes)) out.files.push(realNode(search.found));
  }
  return out;
}

/** env's options that take the next argument as their value (GNU's and BSD's). */
const ENV_VALUE_OPTIONS = new Set(['-u', '-C', '-P', '--unset', '--chdir']);

/** The command `env ARGS` runs: the first argument that is neither an option, an option's value, nor NAME=VALUE (attack 112: `-S -u VAR bash`). */
function envCommand(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    // -S's string is the rest of the line, split as the shebang's was: read on as arguments.
    if (arg === '-S' || arg === '--split-string') continue;
    if (ENV_VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-') || arg.includes('=')) continue;
    return arg;
  }
  return undefined;
}

/**
 * The files a shell interpreter reads before the script, in HOME: bash's BASH_ENV, zsh's
 * `.zshenv` (attack 112). Read at each start through a shim, not at the next shell.
 */
function shellStartFiles(interpreter: string, env: NodeJS.ProcessEnv, home: string): string[] {
  const shell = path.basename(interpreter);
  if (shell === 'bash' && env.BASH_ENV && path.isAbsolute(env.BASH_ENV)) return [env.BASH_ENV];
  if (shell === 'zsh') return [path.join(env.ZDOTDIR && path.isAbsolute(env.ZDOTDIR) ? env.ZDOTDIR : home, '.zshenv')];
  return [];
}

const handoffs = new Map<string, string[]>();

/** A script's interpreter and `exec` targets, as written (none for a file that is not a script, or cannot be read). */
function scriptHandoffs(file: string): string[] {
  let found = handoffs.get(file);
  if (found !== undefined) return found;
  found = [];
  let head = '';
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const buffer = Buffer.alloc(4096);
      head = buffer.subarray(0, fs.readSync(fd, buffer, 0, buffer.length, 0)).toString('latin1');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    head = '';
  }
  if (head.startsWith('#!')) {
    const [interpreter, ...args] = head.slice(2).split('\n', 1)[0]!.trim().split(/\s+/);
    if (interpreter) found.push(interpreter);
    // `#!/usr/bin/env [-S] [-u NAME] bash`: the command env looks up on PATH.
    const command = interpreter && path.basename(interpreter) === 'env' ? envCommand(args) : undefined;
    if (command) found.push(command);
    for (const [, target] of head.matchAll(/^[ \t]*exec[ \t]+["']?([^\s"'$;&|]+)["']?/gm)) if (target && target !== 'node') found.push(target);
  }
  handoffs.set(file, found);
  return found;
}

/** A command in a PATH folder as the kernel looks it up: joined, not cleaned by text (`a/link/../b` goes up from where the link leads). */
const inFolder = (dir: string, command: string) => (dir.endsWith('/') ? `${dir}${command}` : `${dir}/${command}`);

/**
 * The folders of Node's installations in HOME that every run keeps from its plugin (see
 * nodeInstallation): a folder granted inside one would make every run of the plugin fail, so
 * `--allow-dir` refuses it when it is given.
 */
export function nodeInstallationDirs(home: string, env: NodeJS.ProcessEnv): string[] {
  return nodeInstallation(home, env).dirs;
}

let knownHomes: { home: string; homes: string[] } | undefined;

/** HOME as named and as its real path, when that differs. */
function homesOf(home: string): string[] {
  if (knownHomes?.home !== home) knownHomes = { home, homes: [...new Set([home, realpathOr(home)])] };
  return knownHomes.homes;
}

const insideAny = (file: string, dirs: string[]) => dirs.some((dir) => isInside(file, dir));
/** Inside HOME and not HOME itself: a folder a run may give up to Node. */
const isOurs = (dir: string, homes: string[]) => insideAny(dir, homes) && !homes.includes(dir);

const realNodes = new Map<string, string>();

/** The file `node` is, links resolved. */
function realNode(node: string): string {
  let real = realNodes.get(node);
  if (real === undefined) realNodes.set(node, (real = realpathOr(node)));
  return real;
}

/** Where `env <command>` finds a command on PATH (commandOnPath). */
export interface PathSearch {
  /** The first executable regular file of that name in PATH's absolute folders. */
  found: string | undefined;
  /** The absolute folders searched before it. */
  before: string[];
  /** The empty and relative entries before it (searched from wherever the next start stands). */
  relative: string[];
  /** PATH's absolute folders, in order. */
  folders: string[];
  /** Every executable regular file of that name in them, in order, with its folder's place in `folders`. */
  hits: Array<{ file: string; folder: number }>;
}

const pathLookups = new Map<string, PathSearch>();

/** The file `env <command>` runs, and what PATH has before and after it. */
export function commandOnPath(command: string, searchPath: string | undefined): PathSearch {
  const key = `${command}\0${searchPath ?? ''}`;
  const known = pathLookups.get(key);
  if (known) return known;
  const search: PathSearch = { found: undefined, before: [], relative: [], folders: [], hits: [] };
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) {
      if (!search.found) search.relative.push(dir);
      continue;
    }
    search.folders.push(dir);
    const file = inFolder(dir, command);
    let stat: fs.Stats | undefined;
    try {
      // Not access(X_OK): a missing file throws, and a thrown error is ~0.1 ms in a fresh process.
      stat = fs.statSync(file, { throwIfNoEntry: false });
    } catch {
      stat = undefined; // not a folder, or not ours to look in
    }
    if (stat?.isFile() && (stat.mode & 0o111) !== 0) {
      search.hits.push({ file, folder: search.folders.length - 1 });
      search.found ??= file;
    } else if (!search.found) search.before.push(dir);
  }
  pathLookups.set(key, search);
  return search;
}

/** The file `env node` runs, and the absolute folders searched before it (commandOnPath). */
export function nodeOnPath(searchPath: string | undefined): { found: string | undefined; before: string[] } {
  return commandOnPath('node', searchPath);
}

/**
 * One Node installation's protection, when the file `node` is (links resolved) lies in HOME. A
 * file not at `<prefix>/bin/node` is that file alone: a version manager's launcher behind its shim
 * (mise's binary), or a Node kept in a folder of a project (frontend-maven-plugin's `node/node`),
 * whose folder is not Node's (attack 109). With a version manager, all of its folder (and, should
 * that be HOME itself, the folder of its versions: attack 107), and the prefix whatever the shape
 * says. Else the prefix; or, when that prefix is one other programs install into too (`~/.local`,
 * or HOME itself: n with N_PREFIX=$HOME), only what Node put there: its global packages (npm among
 * them), its headers and n's versions, with the names of its commands pinned and its binary
 * written by no name. All of `~/.local` was krew-wasm's own files to a run, and a grant inside it
 * refused (attack 106).
 */
function installationOf(node: string, homes: string[], env: NodeJS.ProcessEnv): Omit<NodeProtection, 'searched'> {
  const real = realNode(node);
  if (!insideAny(real, homes) || homes.includes(real)) return { dirs: [], pinned: [], files: [] };
  if (path.basename(real) !== 'node' || path.basename(path.dirname(real)) !== 'bin') return { dirs: [], pinned: [], files: [real] };
  const prefix = path.dirname(path.dirname(real));
  const manager = nodeManagerOf(prefix, env, homes);
  if (manager) return { dirs: [...manager.dirs, prefix], pinned: manager.pinned, files: [] };
  if (path.basename(prefix) === '.local' || homes.includes(prefix)) {
    return {
      dirs: [path.join(prefix, 'lib', 'node_modules'), path.join(prefix, 'include', 'node'), path.join(prefix, 'n')],
      pinned: ['node', 'npm', 'npx', 'corepack'].map((command) => path.join(prefix, 'bin', command)),
      files: [real],
    };
  }
  return { dirs: [prefix], pinned: [], files: [] };
}

/**
 * A version manager, by the shape of the path to the prefix of a Node it keeps: every version it
 * keeps, and the shims and links through which PATH reaches them. A plugin that rewrote another
 * version's `node` had it run as the host after `nvm use`, and one that rewrote volta's shim
 * `~/.volta/bin/node` at the next start (attacks 105, 106). `own` is what of its folder it keeps
 * beside its versions (its shims, launchers, plugins and the choice of default version), and
 * `links` the names it links Node's commands by there: protected in place of its folder when that
 * is HOME itself (VOLTA_HOME=$HOME, ASDF_DATA_DIR=$HOME, Homebrew's prefix at HOME), which a run
 * cannot give up to Node whole (attacks 107, 108).
 */
interface NodeManager {
  shape: RegExp;
  own?: string[];
  links?: string[];
}

const NODE_COMMANDS = ['node', 'npm', 'npx', 'corepack'];

const NODE_MANAGERS: NodeManager[] = [
  { shape: /^(?<versions>(?<root>.+\/\.nvm)\/versions)\/node\/[^/]+$/ }, // nvm: ~/.nvm/versions/node/v20.11.0 (nvm.sh, alias/ beside)
  { shape: /^(?<root>(?<versions>.+\/versions))\/node\/[^/]+$/ }, // nvm with its own NVM_DIR, n's versions
  { shape: /^(?<versions>(?<root>.+\/\.nodenv)\/versions)\/[^/]+$/ }, // nodenv (shims/ beside)
  { shape: /^(?<versions>(?<root>.+)\/tools\/image\/node)\/[^/]+$/, own: ['bin', 'tools'] }, // volta: VOLTA_HOME (bin/ shims and volta-shim, tools/user/ the default)
  { shape: /^(?<versions>(?<root>.+)\/installs\/node(?:js)?)\/[^/]+$/, own: ['shims', 'installs', 'plugins'] }, // asdf (ASDF_DATA_DIR), mise (~/.local/share/mise); plugins/ hold the scripts a shim runs
  { shape: /^(?<versions>(?<root>.+)\/node-versions)\/[^/]+\/installation$/, own: ['aliases'] }, // fnm's data folder (aliases/default is what PATH goes through)
  { shape: /^(?<versions>(?<root>.+\/\.nvs)\/node)\/[^/]+\/[^/]+$/ }, // nvs: ~/.nvs/node/20.11.0/x64
  { shape: /^(?<versions>(?<root>.+\/pnpm)\/nodejs)\/[^/]+$/ }, // pnpm env: ~/.local/share/pnpm/nodejs/20.11.0
  // Homebrew: its prefix (bin/node and opt/node link into the Cellar; npm is in lib/node_modules).
  // At HOME, all it links there: Node loads the libraries (libuv, ICU, OpenSSL) from lib/ and opt/ (attack 111).
  { shape: /^(?<versions>(?<root>.+)\/Cellar)\/node(?:@[\d.]+)?\/[^/]+$/, own: ['lib', 'include', 'opt', 'etc'], links: NODE_COMMANDS.map((command) => `bin/${command}`) },
];

/** What of a version manager's folders a run keeps from the plugin (see NodeManager). */
export interface ManagerProtection {
  dirs: string[];
  pinned: string[];
}

/**
 * The folders of the version manager that keeps a Node with this prefix, when one does: its own
 * folder (or, when that is HOME itself, what it keeps there), the folder of its versions and, for
 * fnm, the folder of its per-shell links (FNM_MULTISHELL_PATH's), which PATH goes through. Only
 * folders inside HOME (`homes`: its path and real path): the rest is no grant's by default.
 */
export function nodeManagerOf(nodePrefix: string, env: NodeJS.ProcessEnv, homes: string[]): ManagerProtection | undefined {
  for (const manager of NODE_MANAGERS) {
    const found = manager.shape.exec(nodePrefix)?.groups;
    if (!found) continue;
    const multishell = manager.shape.source.includes('node-versions') && env.FNM_MULTISHELL_PATH ? [path.dirname(env.FNM_MULTISHELL_PATH)] : [];
    const root = managerFolder(found.root!, manager, homes);
    const dirs = [...new Set([...root.dirs, found.versions!, ...multishell])].filter((dir) => isOurs(dir, homes));
    return dirs.length > 0 || root.pinned.length > 0 ? { dirs, pinned: root.pinned } : undefined;
  }
  return undefined;
}

/** A manager's folder, or what it keeps there when it is HOME itself. */
function managerFolder(root: string, manager: Pick<NodeManager, 'own' | 'links'>, homes: string[]): ManagerProtection {
  if (!homes.includes(root)) return { dirs: [root], pinned: [] };
  return { dirs: (manager.own ?? []).map((dir) => path.join(root, dir)), pinned: (manager.links ?? []).map((link) => path.join(root, link)) };
}

/**
 * A version manager's launcher that PATH finds `node` as: `<its folder>/shims/node` (asdf, mise,
 * nodenv: a script or a link to the manager's binary), or volta's `<VOLTA_HOME>/bin/node` (a link
 * to volta-shim). Behind it are the manager's versions, which a run under another Node (a system
 * Node's, by a script) does not see as the running one's, and which the next start through the
 * launcher runs.
 */
const LAUNCHERS: Array<NodeManager & { target?: string }> = [
  // With its folder at HOME, its code too (nodenv's libexec/ and nodenv.d/ hooks, asdf's bin/ and lib/: attack 111).
  { shape: /^(?<root>.+)\/shims\/node$/, own: ['shims', 'installs', 'plugins', 'versions', 'bin', 'lib', 'libexec', 'nodenv.d'] },
  { shape: /^(?<root>.+)\/bin\/node$/, target: 'volta-shim', own: ['bin', 'tools'] },
];

function launcherManager(node: string, homes: string[]): ManagerProtection & { matched: boolean } {
  for (const launcher of LAUNCHERS) {
    const root = launcher.shape.exec(node)?.groups?.root;
    if (root === undefined || (launcher.target !== undefined && path.basename(realNode(node)) !== launcher.target)) continue;
    const folder = managerFolder(root, launcher, homes);
    return { dirs: folder.dirs.filter((dir) => isOurs(dir, homes)), pinned: folder.pinned, matched: true };
  }
  return { dirs: [], pinned: [], matched: false };
}

function selectEnv(grants: Grants, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (envAllows(grants.env, key)) out[key] = value;
  }
  return out;
}
