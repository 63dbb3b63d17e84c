import fs from 'node:fs';
import path from 'node:path';
import { notInstalledError, StoreConflictError } from '../errors.js';
import { atomicSymlink, listDir, lstatOrUndefined, makeTempDir, processAlive, removeSymlink } from './fsutil.js';
import { withStoreLock } from './lock.js';
import { isSafePluginName, linkNameFor, Paths, pluginNameFromLink } from './paths.js';
import type { Grants } from '../grants.js';
import { digestHex, readReceipt, writeReceipt, type Receipt } from './receipt.js';

/** A plugin ready to be committed: its transpiled entry staged under tmp/, and its receipt. */
export interface StagedPlugin {
  receipt: Receipt;
  /** Folder with the transpiled component, to be renamed into store/<hex>. */
  entryDir: string;
  force: boolean;
}

/** What `list` found: valid receipts, and entries it could not read. */
export interface Listing {
  plugins: Receipt[];
  problems: string[];
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

  entryDirOf(receipt: Receipt): string {
    return this.paths.storeEntry(digestHex(receipt.layerDigest));
  }

  list(): Listing {
    const plugins: Receipt[] = [];
    const problems: string[] = [];
    for (const file of listDir(this.paths.receiptsDir).filter((f) => f.endsWith('.json')).sort()) {
      try {
        const receipt = readReceipt(path.join(this.paths.receiptsDir, file));
        if (receipt) plugins.push(receipt);
      } catch (error) {
        problems.push(`${file}: ${(error as Error).message}`);
      }
    }
    return { plugins, problems };
  }

  /** Commits a staged plugin: entry into store/, symlink into bin/, receipt last. */
  async install(staged: StagedPlugin): Promise<void> {
    const { receipt } = staged;
    PluginStore.validateName(receipt.name);
    await withStoreLock(this.paths.lockDir, () => {
      this.repairLocked();
      this.assertCanInstall(receipt.name, staged.force);
      const link = this.paths.binLink(receipt.name);
      const entry = this.entryDirOf(receipt);
      fs.mkdirSync(this.paths.storeDir, { recursive: true });
      if (!fs.existsSync(entry)) fs.renameSync(staged.entryDir, entry);
      fs.mkdirSync(this.paths.binDir, { recursive: true });
      atomicSymlink(this.executable, link);
      fs.mkdirSync(this.paths.receiptsDir, { recursive: true });
      writeReceipt(this.paths.receipt(receipt.name), receipt);
      this.collectGarbage();
    });
  }

  /** Throws a StoreConflictError when installing `name` would replace something it must not. */
  assertCanInstall(name: string, force: boolean): void {
    PluginStore.validateName(name);
    if (!force && this.get(name)) {
      throw new StoreConflictError(`plugin "${name}" is already installed`, {
        hint: 'use --force to replace it, or --name to install under another name',
      });
    }
    this.assertLinkIsOurs(this.paths.binLink(name));
    this.assertNoLinkCollision(name);
  }

  /** Uninstalls in reverse: receipt first (no longer installed), then symlink, then unreferenced entries. */
  async remove(names: string[]): Promise<void> {
    await withStoreLock(this.paths.lockDir, () => {
      this.repairLocked();
      const missing = names.filter((n) => !this.get(n));
      if (missing.length > 0) throw notInstalledError(missing);
      for (const name of names) {
        fs.rmSync(this.paths.receipt(name), { force: true });
        removeSymlink(this.paths.binLink(name));
        fs.rmSync(this.paths.dataDir(name), { recursive: true, force: true });
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
    return [...receiptNames].some((n) => !links.has(linkNameFor(n)));
  }

  private repairLocked(): void {
    for (const dir of listDir(this.paths.tmpDir)) {
      if (!stagingOwnerAlive(dir)) fs.rmSync(path.join(this.paths.tmpDir, dir), { recursive: true, force: true });
    }
    const { plugins } = this.list();
    const installed = new Set(plugins.map((r) => r.name));
    for (const link of listDir(this.paths.binDir)) {
      const full = path.join(this.paths.binDir, link);
      if (link.includes('.tmp-')) removeSymlink(full);
      const name = pluginNameFromLink(link);
      if (name && this.isOurLink(full) && !installed.has(name)) removeSymlink(full);
    }
    for (const receipt of plugins) {
      const link = this.paths.binLink(receipt.name);
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

/** Staging folders are named <prefix>-<pid>-<random>: alive while their process is. */
function stagingOwnerAlive(dirName: string): boolean {
  const pid = Number(/^[a-z]+-(\d+)-/.exec(dirName)?.[1]);
  return pid === process.pid || processAlive(pid);
}
