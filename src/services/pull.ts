import fs from 'node:fs';
import { DEFAULT_GRANTS, type Grants } from '../grants.js';
import { fetchArtifact, type FetchOptions } from '../oci/fetch.js';
import { defaultPluginName, formatReference, parseSource, type Source } from '../oci/reference.js';
import { transpileInto, type TranspiledMeta } from '../runtime/transpile.js';
import { PluginStore } from '../store/store.js';
import type { Receipt } from '../store/receipt.js';

export interface PullRequest {
  reference: string;
  name?: string;
  force: boolean;
  /** Grants for the plugin, from those of the plugin it replaces (undefined for a new one). */
  grants?: (current: Grants | undefined) => Grants;
  fetch: FetchOptions;
  /** Progress lines for the user (stderr). */
  progress?: (line: string) => void;
}

export interface PullResult {
  receipt: Receipt;
  meta: TranspiledMeta;
  timings: { downloadMs: number; transpileMs: number; commitMs: number };
}

/**
 * Pull = fetch (verified) -> transpile -> commit, all staged under the store's tmp/ until the
 * commit, which is a few renames under the store lock. Any failure before the commit leaves the
 * store exactly as it was; the staging folder is removed here or, after a kill, by the next command.
 */
export async function pullPlugin(store: PluginStore, req: PullRequest): Promise<PullResult> {
  const source = parseSource(req.reference);
  const name = req.name ?? defaultPluginName(source);
  store.assertCanInstall(name, req.force); // checked again under the lock; answering now saves a download
  const stage = store.createStagingDir();
  try {
    const t0 = performance.now();
    req.progress?.(`Pulling ${describeSource(source)}`);
    const fetched = await fetchArtifact(source, stage, req.fetch);
    const t1 = performance.now();
    const wasm = fs.readFileSync(fetched.wasmFile);
    const entryDir = `${stage}/entry`;
    req.progress?.(`Transpiling ${fetched.layer.digest} (${wasm.length} bytes)`);
    const meta = await transpileInto(wasm, entryDir);
    fs.copyFileSync(fetched.wasmFile, `${entryDir}/source.wasm`);
    const t2 = performance.now();
    const previousGrants = store.get(name)?.grants; // a --force replacement keeps its grants
    const receipt: Receipt = {
      apiVersion: 'krew-wasm/v1',
      name,
      source: req.reference,
      manifestDigest: fetched.manifestDigest,
      layerDigest: fetched.layer.digest,
      mediaTypes: {
        manifest: fetched.manifestMediaType,
        config: fetched.configMediaType,
        layer: fetched.layer.mediaType,
        artifactType: fetched.artifactType,
      },
      size: fetched.layer.size,
      pulledAt: new Date().toISOString(),
      grants: req.grants ? req.grants(previousGrants) : (previousGrants ?? DEFAULT_GRANTS),
    };
    await store.install({ receipt, entryDir, force: req.force });
    const t3 = performance.now();
    return { receipt, meta, timings: { downloadMs: t1 - t0, transpileMs: t2 - t1, commitMs: t3 - t2 } };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

function describeSource(source: Source): string {
  switch (source.kind) {
    case 'registry': return formatReference(source.ref);
    case 'oci-layout': return `OCI layout ${source.dir}${source.tag ? `:${source.tag}` : ''}${source.digest ? `@${source.digest}` : ''}`;
    case 'file': return source.file;
  }
}
