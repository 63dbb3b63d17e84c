import type { Grants } from '../grants.js';
import { readEntryMeta, runPlugin } from '../runtime/run.js';
import { linkNameFor, Paths } from '../store/paths.js';
import { readReceipt, digestHex } from '../store/receipt.js';
import { NotInstalledError } from '../errors.js';
import { prepareSandbox, type HostContext } from './sandbox.js';

/** One invocation of a plugin, as wrapper mode or `krew-wasm run` sees it. */
export interface Invocation {
  name: string;
  /** Arguments after the plugin name, verbatim. */
  args: string[];
  host: HostContext;
}

/** Runs an installed plugin by name with the grants in its receipt; resolves with its exit code. */
export async function runInstalledPlugin(paths: Paths, inv: Invocation): Promise<number> {
  let receipt;
  try {
    receipt = readReceipt(paths.receipt(inv.name));
  } catch (error) {
    throw new NotInstalledError(`plugin ${inv.name} has a damaged receipt: ${(error as Error).message}`, {
      hint: `reinstall it: krew-wasm pull --force <reference> --name ${inv.name}`,
    });
  }
  if (!receipt) {
    throw new NotInstalledError(`plugin ${inv.name} is not installed`, {
      hint: `install it with krew-wasm pull <reference>${inv.name ? ` --name ${inv.name}` : ''}`,
    });
  }
  const entryDir = paths.storeEntry(digestHex(receipt.layerDigest));
  return runEntry(entryDir, receipt.grants, inv, { dataDir: paths.dataDir(inv.name), tmpDir: paths.tmpDir }, `reinstall it: krew-wasm pull --force ${receipt.source} --name ${receipt.name}`);
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

/**
 * Loaded only for plugins that import outbound-http, so others never touch kubeconfig code. The
 * network context is settled here, before any guest code runs; the run loop should start it
 * before compiling and await it before instantiating (it overlaps with compilation).
 */
async function outboundHttpImports(grants: Grants, inv: Invocation): Promise<Record<string, unknown>> {
  const { settings } = inv.host;
  const [{ createOutboundHttpImports }, context] = await Promise.all([
    import('../runtime/hosts/outboundHttp.js'),
    grants.network === 'none'
      ? undefined
      : import('../kube/networkContext.js').then(({ prepareNetworkContext }) => prepareNetworkContext({
          args: inv.args,
          env: inv.host.env,
          pluginName: inv.name,
          // No deadline yet: run.ts's vm watchdog bounds the run, and its TerminateExecution wakes the
          // host's Atomics.wait (an exec plugin's group is then ended at exit). The run loop passes
          // its deadline here once it turns our PluginTimeoutError into exit 124.
          deadline: undefined,
          credentialTimeoutMs: settings.credentialTimeoutMs,
          requestTimeoutMs: settings.pluginHttpTimeoutMs,
          maxResponseBytes: settings.maxResponseBytes,
        })),
  ]);
  return createOutboundHttpImports(context, { pluginName: inv.name, verbose: settings.verbose });
}
