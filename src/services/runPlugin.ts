import type { Grants } from '../grants.js';
import { readEntryMeta, runPlugin } from '../runtime/run.js';
import { inspectEntry } from '../store/entry.js';
import { linkNameFor, Paths } from '../store/paths.js';
import { readReceipt, digestHex, reinstallCommand } from '../store/receipt.js';
import { DamagedReceiptError, notInstalledError, NotInstalledError } from '../errors.js';
import { prepareSandbox, type HostContext } from './sandbox.js';

/** One invocation of a plugin, as wrapper mode or `krew-wasm run` sees it. */
export interface Invocation {
  name: string;
  /** Arguments after the plugin name, verbatim. */
  args: string[];
  host: HostContext;
}

/**
 * Runs an installed plugin by name with the grants in its receipt; resolves with its exit code.
 * Nothing runs from a receipt or an entry that fails its check. A stale entry (made by another
 * transpiler or entry format) is made again from its stored source first, said in one line.
 */
export async function runInstalledPlugin(paths: Paths, inv: Invocation, notice: (line: string) => void = (line) => process.stderr.write(`krew-wasm: ${line}\n`)): Promise<number> {
  let receipt;
  try {
    receipt = readReceipt(paths.receipt(inv.name), inv.name);
  } catch (error) {
    if (error instanceof DamagedReceiptError) throw error;
    throw new NotInstalledError(`plugin ${inv.name} has a damaged receipt: ${(error as Error).message}`, {
      hint: `reinstall it: krew-wasm pull --force <reference> --name ${inv.name}`,
    });
  }
  if (!receipt) throw notInstalledError([inv.name]);
  const entryDir = paths.storeEntry(digestHex(receipt.layerDigest));
  const repairHint = `reinstall it: ${reinstallCommand(receipt.name, receipt.source, receipt.transport)}`;
  let state = inspectEntry(entryDir);
  if (state.status === 'stale') {
    notice(`plugin ${inv.name}: its store entry is stale (${state.why}); transpiling it again from its stored source`);
    try {
      const { refreshEntry } = await import('./refreshEntry.js');
      await refreshEntry(paths, receipt.layerDigest, inv.host.settings.maxBlobBytes);
    } catch (error) {
      throw new NotInstalledError(`plugin ${inv.name} is damaged: ${(error as Error).message.split('\n')[0]}`, { hint: repairHint });
    }
    state = inspectEntry(entryDir);
  }
  if (state.status !== 'current') throw new NotInstalledError(`plugin ${inv.name} is damaged: ${state.why}`, { hint: repairHint });
  return runEntry(entryDir, receipt.grants, inv, { dataDir: paths.dataDir(inv.name), tmpDir: paths.tmpDir }, repairHint);
}

/** Runs a transpiled entry folder with the given grants (shared by installed plugins and local files). */
export async function runEntry(entryDir: string, grants: Grants, inv: Invocation, dirs: { dataDir: string; tmpDir: string }, repairHint: string): Promise<number> {
  const meta = readEntryMeta(entryDir, inv.name, repairHint);
  const prepared = await prepareSandbox(grants, linkNameFor(inv.name), inv.args, inv.host, dirs);
  try {
    const hostImports = meta.imports.some((i) => i.startsWith('krew-wasm:outbound-http/'))
      ? await outboundHttpImports(grants, inv)
      : undefined;
    return await runPlugin({ entryDir, pluginName: inv.name, grants: prepared.sandbox, hostImports, repairHint, meta, v8Flags: inv.host.settings.v8Flags });
  } finally {
    prepared.cleanup();
  }
}

/** Loaded only for plugins that import outbound-http, so others never touch kubeconfig code. */
async function outboundHttpImports(grants: Grants, inv: Invocation): Promise<Record<string, unknown>> {
  const { createOutboundHttpImports } = await import('../runtime/hosts/outboundHttp.js');
  const { settings } = inv.host;
  return createOutboundHttpImports({
    network: grants.network,
    args: inv.args,
    env: inv.host.env,
    pluginName: inv.name,
    timeoutMs: settings.pluginHttpTimeoutMs,
    maxResponseBytes: settings.maxResponseBytes,
    verbose: settings.verbose,
  });
}


