import fs from 'node:fs';
import path from 'node:path';
import { DamagedReceiptError, notInstalledError, StoreConflictError } from '../errors.js';
import { shellWord } from '../printable.js';
import { atomicSymlink, atomicWriteFile, emptyAndRemove, listDir, lstatOrUndefined, makeTempDir, processAlive, removeSymlink, removeWritableTree } from './fsutil.js';
import { withStoreLock } from './lock.js';
import { isSafePluginName, linkNameFor, Paths, pluginNameFromLink } from './paths.js';
import type { Grants } from '../grants.js';
import { digestHex, readReceipt, receiptText, writeReceipt, type Receipt } from './receipt.js';

/** A plugin ready to be committed: its transpiled entry staged under tmp/, and its receipt. */
export interface StagedPlugin {
  /** Its receipt but its grants, which come from the receipt it replaces as it is at the commit. */
  receipt: Omit<Receipt, 'grants'>;
  /**
   * Its grants, from those of the installation it replaces (undefined: none, or a damaged one),
   * read under the store lock: read before the download, a `revoke` or `rm` made while a pull
   * --force or an upgrade ran was undone by it (attack 87).
   */
  grants: (replaced: Grants | undefined) => Grants;
  /**
   * The installation an upgrade replaces, as it read it: the commit is refused when the plugin was
   * removed or installed again since (its receipt's grants may have changed: the new one takes them).
   */
  replacing?: Receipt;
  /** Its name is the artifact's (an OCI layout's title), not one the user gave (assertArtifactNameFree). */
  nameFromArtifact?: boolean;
  /**
   * Folder with the transpiled component, renamed into store/<hex> (replacing an entry that is
   * there: a staged entry exists because the one in the store was damaged, stale or --force'd).
   * Absent when the entry in the store was checked and is reused.
   */
  entryDir?: string;
  force: boolean;
}

/** What `list` found: valid receipts, and receipts that failed their check. */
export interface Listing {
  plugins: Receipt[];
  problems: DamagedReceiptError[];
}

/**
 * The plugin store (layout in Paths). Every mutation runs under the store lock and is a sequence
 * of atomic renames ending with the receipt, so a process killed at any point leaves either the
 * old state or the new one; `repair` (run at the start of every mutation) removes what a killed
 * process left behind: staging folders, symlinks without receipts, unreferenced entries.
 */
export class PluginStore {
  constructor(readonly paths: Paths, private readonly executable: string) {}

  /** Throws a StoreConflictError unless `name` is a safe plugin name. */
  static validateName(name: string): void {
    if (!isSafePluginName(name)) {
      throw new StoreConflictError(`invalid plugin name "${name}"`, {
        hint: 'use lower-case letters, digits and single dashes, e.g. --name my-plugin',
      });
    }
  }

  /** A new staging folder for one pull (removed by repair if its process dies). */
  createStagingDir(): string {
    return makeTempDir(this.paths.tmpDir, 'pull');
  }

  get(name: string): Receipt | undefined {
    if (!isSafePluginName(name)) return undefined;
    return readReceipt(this.paths.receipt(name));
  }

  /** The receipt of an installed plugin, or a NotInstalledError that says how to get it. */
  require(name: string): Receipt {
    const receipt = this.get(name);
    if (!receipt) throw notInstalledError([name]);
    return receipt;
  }

  entryDirOf(receipt: Pick<Receipt, 'layerDigest'>): string {
    return this.paths.storeEntry(digestHex(receipt.layerDigest));
  }

  list(): Listing {
    const plugins: Receipt[] = [];
    const problems: DamagedReceiptError[] = [];
    const dir = this.paths.receiptsDir;
    for (const file of this.receiptFiles()) {
      try {
        // A plain entry name joined by hand: path.join per receipt was ~0.5 ms of a list of 100.
        const receipt = readReceipt(`${dir}/${file}`, file.slice(0, -'.json'.length));
        if (receipt) plugins.push(receipt);
      } catch (error) {
        if (!(error instanceof DamagedReceiptError)) throw error;
        problems.push(error);
      }
    }
    return { plugins, problems };
  }

  private receiptFiles(): string[] {
    return listDir(this.paths.receiptsDir).filter((f) => f.endsWith('.json') && !f.includes('.tmp-')).sort();
  }

  /** Whether a receipt file exists for `name`, readable or not (a damaged one can still be removed). */
  hasReceipt(name: string): boolean {
    return isSafePluginName(name) && lstatOrUndefined(this.paths.receipt(name)) !== undefined;
  }

  /**
   * Commits a staged plugin: entry into store/, symlink into bin/, receipt last; resolves with the
   * receipt written. Resolves undefined, committing nothing, when the entry it meant to reuse was
   * removed meanwhile (stage one then).
   */
  async install(staged: StagedPlugin): Promise<Receipt | undefined> {
    const { name } = staged.receipt;
    PluginStore.validateName(name);
    return withStoreLock(this.paths.lockDir, () => {
      this.repairLocked();
      this.assertCanInstall(name, staged.force);
      if (staged.nameFromArtifact) this.assertArtifactNameFree(name, staged.receipt.source, staged.force);
      const replaced = staged.force ? this.readableReceipt(name) : undefined;
      if (staged.replacing && !sameInstallation(replaced, staged.replacing)) {
        throw new StoreConflictError(`plugin "${name}" was ${replaced ? 'installed again' : 'removed'} while it was upgraded: nothing was installed`, {
          hint: `see krew-wasm list${replaced ? `, and run krew-wasm upgrade ${name} again` : ''}`,
        });
      }
      const receipt: Receipt = { ...staged.receipt, grants: staged.grants(replaced?.grants) };
      const text = receiptText(receipt); // one that would not read back is refused before anything changes
      const entry = this.entryDirOf(receipt);
      if (staged.entryDir) this.putEntry(staged.entryDir, entry);
      else if (!fs.existsSync(entry)) return undefined;
      fs.mkdirSync(this.paths.binDir, { recursive: true });
      atomicSymlink(this.executable, this.paths.binLink(name));
      fs.mkdirSync(this.paths.receiptsDir, { recursive: true });
      atomicWriteFile(this.paths.receipt(name), text);
      this.collectGarbage();
      return receipt;
    });
  }

  /**
   * Refuses a name only the artifact gives (an OCI layout's title) that would replace, with
   * --force, an installed plugin pulled from another source: that plugin's grants go to what
   * replaces it, and a layout titled after a plugin granted `~/.kube` took its grants (attack 88).
   * A reinstall from the same source is what --force is for.
   */
  assertArtifactNameFree(name: string, source: string, force: boolean): void {
    const installed = force ? this.readableReceipt(name) : undefined;
    if (!installed || installed.source === source) return;
    throw new StoreConflictError(`the artifact names itself "${name}", and plugin "${name}" is installed from ${installed.source}: --force replaces a plugin of that name only when you give the name`, {
      hint: `to replace it: krew-wasm pull --force --name ${name} ${shellWord(source)}; or install this one under another --name`,
    });
  }

  /** The receipt of `name` when it reads; a damaged one is replaced without carrying anything over. */
  private readableReceipt(name: string): Receipt | undefined {
    try {
      return this.get(name);
    } catch (error) {
      if (error instanceof DamagedReceiptError) return undefined;
      throw error;
    }
  }

  /**
   * Replaces the entry of `layerDigest` with a staged one (a stale entry made again), unless
   * `stillNeeded` says under the lock that another process did it first.
   */
  async replaceEntry(layerDigest: string, stagedDir: string, stillNeeded: (entryDir: string) => boolean): Promise<void> {
    await replaceEntry(this.paths, layerDigest, stagedDir, stillNeeded);
  }

  private putEntry(stagedDir: string, entry: string): void {
    putEntry(this.paths, stagedDir, entry);
  }

  /** Throws a StoreConflictError when installing `name` would replace something it must not. */
  assertCanInstall(name: string, force: boolean): void {
    PluginStore.validateName(name);
    if (!force && this.installedOrDamaged(name)) {
      throw new StoreConflictError(`plugin "${name}" is already installed`, {
        hint: 'use --force to replace it, or --name to install under another name',
      });
    }
    this.assertLinkIsOurs(this.paths.binLink(name));
    this.assertNoLinkCollision(name);
  }

  /** A valid receipt says installed; a damaged one says so too, in its own words (DamagedReceiptError). */
  private installedOrDamaged(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Uninstalls in reverse: receipt first (no longer installed), then symlink, then unreferenced entries. */
  async remove(names: string[]): Promise<void> {
    await withStoreLock(this.paths.lockDir, () => {
      this.repairLocked();
      const missing = names.filter((n) => !this.hasReceipt(n));
      if (missing.length > 0) throw notInstalledError(missing);
      for (const name of names) {
        // First, and by handle: a run of the plugin may be writing to it still (fsutil.ts).
        removeWritableTree(this.paths.dataDir(name), this.paths.tmpDir);
        fs.rmSync(this.paths.receipt(name), { force: true });
        removeSymlink(this.paths.binLink(name));
      }
      this.collectGarbage();
    });
  }

  /** Rewrites a plugin's grants (atomically, under the lock) and returns them. */
  async updateGrants(name: string, change: (current: Grants) => Grants): Promise<Grants> {
    return withStoreLock(this.paths.lockDir, () => {
      const receipt = this.require(name);
      const grants = change(receipt.grants);
      writeReceipt(this.paths.receipt(name), { ...receipt, grants });
      return grants;
    });
  }

  /** Brings the store back to a consistent state after a killed or crashed command. */
  async repair(): Promise<void> {
    await withStoreLock(this.paths.lockDir, () => this.repairLocked());
  }

  /** Cheap check used by read-only commands: does anything need repair? */
  needsRepair(): boolean {
    if (lstatOrUndefined(this.paths.lockDir)) return true; // possibly left by a killed process
    if (listDir(this.paths.tmpDir).some((d) => !stagingOwnerAlive(d))) return true;
    // Names only (readdir), no receipt parsing and no readlink per plugin: list runs this every time.
    const receiptNames = new Set(listDir(this.paths.receiptsDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)));
    const links = new Set(listDir(this.paths.binDir));
    for (const link of links) {
      const name = pluginNameFromLink(link);
      if (name && !receiptNames.has(name) && this.isOurLink(path.join(this.paths.binDir, link))) return true;
    }
    if (listDir(this.paths.dataRoot).some((n) => !receiptNames.has(n))) return true;
    return [...receiptNames].some((n) => !links.has(linkNameFor(n)));
  }

  private repairLocked(): void {
    for (const dir of listDir(this.paths.tmpDir)) {
      // By handle: what a removal left of a data folder is a plugin's, and a run of it may go on.
      if (!stagingOwnerAlive(dir)) emptyAndRemove(path.join(this.paths.tmpDir, dir));
    }
    const { plugins, problems } = this.list();
    // A damaged receipt keeps its link: running the plugin then says what is wrong and how to repair it.
    const installed = new Set([...plugins.map((r) => r.name), ...problems.map((p) => p.pluginName)]);
    for (const link of listDir(this.paths.binDir)) {
      const full = path.join(this.paths.binDir, link);
      if (link.includes('.tmp-')) removeSymlink(full);
      const name = pluginNameFromLink(link);
      if (name && this.isOurLink(full) && !installed.has(name)) removeSymlink(full);
    }
    for (const name of installed) {
      const link = this.paths.binLink(name);
      const stat = lstatOrUndefined(link);
      const target = stat?.isSymbolicLink() ? fs.readlinkSync(link) : undefined;
      if (!stat || (stat.isSymbolicLink() && target !== this.executable && !fs.existsSync(link))) {
        fs.mkdirSync(this.paths.binDir, { recursive: true });
        atomicSymlink(this.executable, link);
      }
    }
    for (const file of listDir(this.paths.receiptsDir)) {
      if (file.includes('.tmp-')) fs.rmSync(path.join(this.paths.receiptsDir, file), { force: true });
    }
    // A data folder of no plugin: made again by a run that read its receipt before rm and set up
    // its sandbox after (attack 106). The next plugin of that name must not be handed it.
    for (const name of listDir(this.paths.dataRoot)) {
      if (!installed.has(name)) removeWritableTree(this.paths.dataDir(name), this.paths.tmpDir);
    }
    this.collectGarbage();
  }

  private collectGarbage(): void {
    const referenced = new Set(this.list().plugins.map((r) => digestHex(r.layerDigest)));
    for (const entry of listDir(this.paths.storeDir)) {
      if (!referenced.has(entry)) fs.rmSync(path.join(this.paths.storeDir, entry), { recursive: true, force: true });
    }
  }

  private isOurLink(link: string): boolean {
    const stat = lstatOrUndefined(link);
    if (!stat?.isSymbolicLink()) return false;
    return /krew-wasm(\.js|\.mjs)?$/.test(path.basename(fs.readlinkSync(link)));
  }

  private assertLinkIsOurs(link: string): void {
    const stat = lstatOrUndefined(link);
    if (stat && !this.isOurLink(link)) {
      throw new StoreConflictError(`${link} exists and was not created by krew-wasm; refusing to overwrite it`);
    }
  }

  /** `foo-bar` and `foo_bar`-style names map to one link: two plugins must not share it. */
  private assertNoLinkCollision(name: string): void {
    const linkName = linkNameFor(name);
    const other = this.list().plugins.find((r) => r.name !== name && linkNameFor(r.name) === linkName);
    if (other) throw new StoreConflictError(`plugin "${other.name}" already provides ${linkName}`);
  }
}

/**
 * Replaces the entry of `layerDigest` with a staged one (a stale entry made again), unless
 * `stillNeeded` says under the lock that another process did it first. Needs no executable, so
 * wrapper mode can call it without a PluginStore.
 */
export async function replaceEntry(paths: Paths, layerDigest: string, stagedDir: string, stillNeeded: (entryDir: string) => boolean): Promise<void> {
  const entry = paths.storeEntry(digestHex(layerDigest));
  await withStoreLock(paths.lockDir, () => {
    if (stillNeeded(entry)) putEntry(paths, stagedDir, entry);
  });
}

/** Renames a staged entry into place; an entry already there is moved aside first and removed after. */
function putEntry(paths: Paths, stagedDir: string, entry: string): void {
  fs.mkdirSync(paths.storeDir, { recursive: true });
  if (lstatOrUndefined(entry)) {
    const aside = path.join(makeTempDir(paths.tmpDir, 'old'), 'entry');
    fs.renameSync(entry, aside);
    fs.renameSync(stagedDir, entry);
    fs.rmSync(path.dirname(aside), { recursive: true, force: true });
  } else {
    fs.renameSync(stagedDir, entry);
  }
}

/** The prefix of a run's kubeconfig copies under tmp/ (kube/mirror.ts). */
export const KUBECONFIG_COPY_PREFIX = 'kube';

/**
 * Removes the kubeconfig copies of runs that ended without their exit cleanup (killed, or ended
 * by Ctrl-C before plugin code ran): they hold copies of credentials, keys included, and a user
 * who only runs plugins never runs the commands that repair the store. Every run does it; no lock
 * is needed, as only a folder whose owner is gone is removed. Best effort.
 */
export function removeLeftoverKubeconfigCopies(tmpDir: string): void {
  try {
    for (const dir of listDir(tmpDir)) {
      if (dir.startsWith(`${KUBECONFIG_COPY_PREFIX}-`) && !stagingOwnerAlive(dir)) fs.rmSync(path.join(tmpDir, dir), { recursive: true, force: true });
    }
  } catch {
    // the next run or command tries again
  }
}

/** Staging folders are named <prefix>-<pid>-<random>: alive while their process is. */
function stagingOwnerAlive(dirName: string): boolean {
  const pid = Number(/^[a-z]+-(\d+)-/.exec(dirName)?.[1]);
  return pid === process.pid || processAlive(pid);
}

/** Whether a receipt is of the installation `read` was (its grants aside): not removed, not pulled again. */
function sameInstallation(current: Receipt | undefined, read: Receipt): boolean {
  return current !== undefined && current.pulledAt === read.pulledAt && current.layerDigest === read.layerDigest && current.source === read.source;
}
