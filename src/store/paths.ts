import path from 'node:path';
import type { Settings } from '../settings.js';

/**
 * The one place that knows the store layout (see README "Store layout"). Pure: no IO.
 *
 *   $KREW_WASM_ROOT/bin/kubectl-<name>        symlink to the krew-wasm executable (what kubectl finds)
 *   $KREW_WASM_ROOT/receipts/<name>.json      what was installed, from where, with which grants
 *   $KREW_WASM_ROOT/store/<sha256>/           one transpiled component, content-addressed
 *   $KREW_WASM_ROOT/cache/<sha256>/           transpiled local files for `krew-wasm run ./x.wasm`
 *   $KREW_WASM_ROOT/data/<name>/              a plugin's private data directory (when granted)
 *   $KREW_WASM_ROOT/tmp/                      staging for in-flight pulls; stale entries are removed
 *   $KREW_WASM_ROOT/lock                      the mutation lock (a directory holding the owner's pid)
 *   $KREW_WASM_ROOT/setup-links               links `krew-wasm setup --dir` made outside bin/, one per line
 */
export class Paths {
  constructor(readonly root: string) {}

  /** The store of these settings (KREW_WASM_ROOT, default ~/.krew-wasm). */
  static fromSettings(settings: Pick<Settings, 'root'>): Paths {
    return new Paths(settings.root);
  }

  get binDir(): string { return path.join(this.root, 'bin'); }
  get receiptsDir(): string { return path.join(this.root, 'receipts'); }
  get storeDir(): string { return path.join(this.root, 'store'); }
  get cacheDir(): string { return path.join(this.root, 'cache'); }
  get dataRoot(): string { return path.join(this.root, 'data'); }
  get tmpDir(): string { return path.join(this.root, 'tmp'); }
  get lockDir(): string { return path.join(this.root, 'lock'); }
  get setupLinksFile(): string { return path.join(this.root, 'setup-links'); }

  /** The symlink kubectl finds for a plugin name (dashes become underscores, as kubectl expects). */
  binLink(name: string): string { return path.join(this.binDir, linkNameFor(name)); }
  receipt(name: string): string { return path.join(this.receiptsDir, `${name}.json`); }
  /** Folder of one transpiled component, keyed by the hex of its sha256 digest (nothing else reaches a path). */
  storeEntry(digestHex: string): string { return path.join(this.storeDir, checkedHex(digestHex)); }
  cacheEntry(digestHex: string): string { return path.join(this.cacheDir, checkedHex(digestHex)); }
  dataDir(name: string): string { return path.join(this.dataRoot, name); }
}

function checkedHex(hex: string): string {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not the hex of a sha256 digest: ${JSON.stringify(hex).slice(0, 80)}`);
  return hex;
}

/** `foo-bar` -> `kubectl-foo_bar`: kubectl maps `kubectl foo-bar` to that file name. */
export function linkNameFor(name: string): string {
  return `kubectl-${name.replace(/-/g, '_')}`;
}

/** Inverse of linkNameFor, for wrapper mode: `kubectl-foo_bar` -> `foo-bar`. */
export function pluginNameFromLink(linkBasename: string): string | undefined {
  const match = /^kubectl-(.+)$/.exec(linkBasename);
  return match ? match[1].replace(/_/g, '-') : undefined;
}

const SAFE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Plugin names become file names and kubectl sub-commands: lower-case DNS-label style only. */
export function isSafePluginName(name: string): boolean {
  return SAFE_NAME.test(name) && !name.includes('--');
}
