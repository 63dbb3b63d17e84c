import fs from 'node:fs';
import path from 'node:path';
import { StoreConflictError } from '../errors.js';
import { DEFAULT_GRANTS, type Grants } from '../grants.js';
import { sha256Of } from '../oci/digest.js';
import { fetchArtifact, type FetchedArtifact, type FetchOptions } from '../oci/fetch.js';
import { NO_PROGRESS } from '../oci/progress.js';
import { absoluteSource, defaultPluginName, formatSource, nameFromAnnotations, parseSource, type Source } from '../oci/reference.js';
import { transpileInto } from '../runtime/transpile.js';
import { entryIsIntact, type EntryMeta } from '../store/entry.js';
import type { Receipt, ReceiptTransport } from '../store/receipt.js';
import { PluginStore } from '../store/store.js';

export interface PullRequest {
  /** The source as the user typed it. */
  reference: string;
  /** Relative local sources are resolved against this folder, and stored absolute. */
  cwd: string;
  name?: string;
  /** Replace a plugin installed under this name. */
  force: boolean;
  /** Transpile a fresh entry even when an intact one is in the store (default: as `force`). */
  freshEntry?: boolean;
  /** Grants for the plugin, from those of the plugin it replaces (undefined for a new one). */
  grants?: (current: Grants | undefined) => Grants;
  fetch: FetchOptions;
  /** The registry options, recorded in the receipt for upgrades and repair hints. */
  transport?: ReceiptTransport;
  /** Install exactly this image manifest (upgrade: what it compared), keeping `reference` as the source. */
  pin?: string;
  /** The installation an upgrade replaces, as it read it: refused at the commit if it changed since but for its grants. */
  replacing?: Receipt;
  /** Status lines for the user (stderr). */
  notify?: (line: string) => void;
  /** Checks a name found only in the artifact (an OCI layout's annotations); throws to refuse it. */
  checkName?: (name: string) => void;
}

export interface PullResult {
  receipt: Receipt;
  /** The entry's metadata when it was transpiled now; undefined when the store's entry was reused. */
  meta?: EntryMeta;
  timings: { downloadMs: number; transpileMs: number; commitMs: number };
}

/**
 * Pull = fetch (verified) -> transpile -> commit, all staged under the store's tmp/ until the
 * commit, which is a few renames under the store lock. A layer whose entry is in the store, current
 * and intact, is not transpiled again (unless --force, which always makes a fresh entry). Any
 * failure before the commit leaves the store exactly as it was.
 */
export async function pullPlugin(store: PluginStore, req: PullRequest): Promise<PullResult> {
  const source = absoluteSource(parseSource(req.reference), req.cwd);
  const early = req.name ?? defaultPluginName(source);
  if (early) store.assertCanInstall(early, req.force); // checked again under the lock; answering now saves a download
  const stage = store.createStagingDir();
  try {
    const t0 = performance.now();
    req.notify?.(`Pulling ${formatSource(source)}`);
    const fetched = await fetchArtifact(source, stage, req.fetch, req.pin);
    const name = early ?? layoutName(source, fetched);
    const receiptSource = req.pin || source.kind === 'registry' ? req.reference : formatSource(source);
    if (!early) {
      req.checkName?.(name);
      store.assertArtifactNameFree(name, receiptSource, req.force); // checked again under the lock
      store.assertCanInstall(name, req.force);
    }
    const t1 = performance.now();
    const wasm = fs.readFileSync(fetched.wasmFile);
    const layerDigest = fetched.layer.digest.startsWith('sha256:') ? fetched.layer.digest : sha256Of(wasm);
    const receipt: Omit<Receipt, 'grants'> = {
      apiVersion: 'krew-wasm/v1',
      name,
      // Registry references as typed; local sources absolute, so they mean the same from any folder.
      source: receiptSource,
      manifestDigest: fetched.manifestDigest,
      layerDigest,
      mediaTypes: {
        manifest: fetched.manifestMediaType,
        config: fetched.configMediaType,
        layer: fetched.layer.mediaType,
        artifactType: fetched.artifactType,
      },
      size: fetched.layer.size,
      pulledAt: new Date().toISOString(),
      annotations: fetched.annotations,
      transport: source.kind === 'registry' ? compactTransport(req.transport, req.cwd) : undefined,
    };
    let meta: EntryMeta | undefined;
    const reuse = !(req.freshEntry ?? req.force) && entryIsIntact(store.entryDirOf(receipt), layerDigest);
    const transpile = async () => {
      const entryDir = path.join(stage, 'entry');
      const progress = req.fetch.progress ?? NO_PROGRESS;
      const label = fetched.layer.annotations?.['org.opencontainers.image.title'] ?? layerDigest.slice(0, 19);
      progress.phase(`transpiling ${label} (${wasm.length} bytes)`);
      try {
        meta = await transpileInto(wasm, entryDir);
      } finally {
        progress.end();
      }
      return entryDir;
    };
    const entryDir = reuse ? undefined : await transpile();
    const t2 = performance.now();
    // A --force replacement, and an upgrade, keep the grants of what they replace.
    const grants = (replaced: Grants | undefined) => (req.grants ? req.grants(replaced) : (replaced ?? DEFAULT_GRANTS));
    const staged = { receipt, grants, replacing: req.replacing, force: req.force, nameFromArtifact: !early };
    // Undefined when the entry we meant to reuse was removed by another process meanwhile: make our own.
    const installed = (await store.install({ ...staged, entryDir })) ?? (await store.install({ ...staged, entryDir: await transpile() }));
    const t3 = performance.now();
    return { receipt: installed!, meta, timings: { downloadMs: t1 - t0, transpileMs: t2 - t1, commitMs: t3 - t2 } };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

/** An OCI layout's plugin name, from its annotations; never its folder's name. */
function layoutName(source: Source, fetched: FetchedArtifact): string {
  const name = nameFromAnnotations(fetched.annotations, fetched.layer.annotations?.['org.opencontainers.image.title']);
  if (!name) {
    throw new StoreConflictError(`cannot tell a plugin name for ${formatSource(source)}: the artifact has no title or file name annotation`, {
      hint: 'give one with --name',
    });
  }
  PluginStore.validateName(name);
  return name;
}

function compactTransport(t: ReceiptTransport | undefined, cwd: string): ReceiptTransport | undefined {
  if (!t) return undefined;
  const out: ReceiptTransport = {};
  if (t.plainHttp) out.plainHttp = true;
  if (t.caFile) out.caFile = path.resolve(cwd, t.caFile);
  if (t.insecure) out.insecure = true;
  return Object.keys(out).length > 0 ? out : undefined;
}
