import { importModule, markCodePath, tookBefore } from '../builtin.js';
import type { Grants } from '../grants.js';
import { readEntryMeta, runPlugin, type HostImports } from '../runtime/run.js';
import { runsAsPreview1, startCompiling } from '../runtime/compile.js';
import { inspectEntry, type EntryMeta } from '../store/entry.js';
import { linkNameFor, Paths } from '../store/paths.js';
import { readReceipt, digestHex, reinstallCommand } from '../store/receipt.js';
import { removeLeftoverKubeconfigCopies } from '../store/store.js';
import { DamagedReceiptError, notInstalledError, NotInstalledError } from '../errors.js';
import { trace } from '../trace.js';
import type { SyncWorker } from '../runtime/hosts/syncHttp.js';
import { prepareSandbox, readOnlyFolders, writableFolders, type HostContext } from './sandbox.js';

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
  trace('receipt read');
  const entryDir = paths.storeEntry(digestHex(receipt.layerDigest));
  const repairHint = `reinstall it: ${reinstallCommand(receipt.name, receipt.source, receipt.transport)}`;
  let state = inspectEntry(entryDir);
  if (state.status === 'stale') {
    notice(`plugin ${inv.name}: its store entry is stale (${state.why}); transpiling it again from its stored source`);
    try {
      // A file of its own beside each bundle (scripts/bundle.mjs): runs rarely need the transpiler.
      const { refreshEntry } = await importModule<typeof import('./refreshEntry.js')>(new URL('./refreshEntry.js', import.meta.url).href);
      await refreshEntry(paths, receipt.layerDigest, inv.host.settings.maxBlobBytes);
    } catch (error) {
      throw new NotInstalledError(`plugin ${inv.name} is damaged: ${(error as Error).message.split('\n')[0]}`, { hint: repairHint });
    }
    state = inspectEntry(entryDir);
  }
  if (state.status !== 'current') throw new NotInstalledError(`plugin ${inv.name} is damaged: ${state.why}`, { hint: repairHint });
  trace('entry checked');
  return runEntry(entryDir, receipt.grants, inv, { dataDir: paths.dataDir(inv.name), tmpDir: paths.tmpDir }, repairHint, state.meta);
}

/** Runs a transpiled entry folder with the given grants (shared by installed plugins and local files). */
export async function runEntry(entryDir: string, grants: Grants, inv: Invocation, dirs: { dataDir: string; tmpDir: string }, repairHint: string, checked?: EntryMeta): Promise<number> {
  const meta = checked ?? readEntryMeta(entryDir, inv.name, repairHint);
  removeLeftoverKubeconfigCopies(dirs.tmpDir);
  const imports = (prefix: string) => meta.imports.some((i) => i.startsWith(prefix));
  const wants = {
    outboundHttp: imports('krew-wasm:outbound-http/'),
    wasiHttp: imports('wasi:http/'),
    filesystem: imports('wasi:filesystem/'),
    environment: runsAsPreview1(meta) || imports('wasi:cli/environment'),
  };
  const network = (wants.outboundHttp || wants.wasiHttp) && grants.network !== 'none';
  // The HTTP worker first: booting it takes ~25 ms of a core, and reading and compiling a big
  // plugin keeps the main thread busy about as long; started after them, a first request waited
  // for it (bench/RESULTS.md, round eleven).
  const worker = network ? await httpWorker() : undefined;
  // Then the compile, so that V8 compiles on its background threads while the sandbox is prepared.
  // A big module is read on the thread pool meanwhile, unless the worker boots now: two reading
  // threads and the main thread left it a core late, and its first request waited (1.10x for the
  // JS example with a request; bench/RESULTS.md, round twelve).
  const compiling = startCompiling({ entryDir, pluginName: inv.name, repairHint, limits: { maxMemoryMiB: grants.maxMemoryMiB }, v8Flags: inv.host.settings.v8Flags }, meta, { readOnPool: worker?.started !== true });
  const prepared = await prepareSandbox(inv.name, grants, linkNameFor(inv.name), inv.args, inv.host, dirs, wants);
  trace('sandbox ready');
  try {
    const exit = await runPlugin({
      entryDir,
      pluginName: inv.name,
      sandbox: prepared.sandbox,
      limits: prepared.limits,
      hostImports: wants.outboundHttp || wants.wasiHttp ? (deadline) => networkImports(wants, grants, inv, deadline, worker, { writableDirs: writableFolders(grants, inv.host.settings.home, dirs.dataDir, wants), readOnlyDirs: readOnlyFolders(grants) }) : undefined,
      repairHint,
      meta,
      compiling,
    }).finally(() => prepared.sandbox.fs?.throwIfRefused());
    // Once the run has been through them: a run that failed to start left the code a run takes uncompiled.
    markCodePaths(compiling.preview1, wants, grants, worker?.used === true);
    return exit;
  } finally {
    prepared.cleanup();
  }
}

/** Which of the host's code this run took, for the code cache of the bundle it runs in (builtin.ts). */
function markCodePaths(preview1: boolean, wants: { outboundHttp: boolean; wasiHttp: boolean; filesystem: boolean }, grants: Grants, usedHttpWorker: boolean): void {
  markCodePath(preview1 ? 'preview1' : 'component');
  if (wants.filesystem) markCodePath(`filesystem-${grants.filesystem}`);
  if (wants.outboundHttp) markCodePath('outbound-http');
  if (wants.wasiHttp) markCodePath('wasi-http');
  if ((wants.outboundHttp || wants.wasiHttp) && grants.network !== 'none') markCodePath('network');
  if (usedHttpWorker) markCodePath(HTTP_WORKER_PATH);
}

/** The code path of a run that made a request (or ran an exec credential plugin) through the HTTP worker. */
const HTTP_WORKER_PATH = 'http-worker';

/**
 * The HTTP worker of a run. Booting it (a Node thread, node:https, TLS's root store: ~45 ms of CPU
 * on the cores that compile the plugin) is what a first request waits for: it starts now, before
 * the sandbox and the glue, for a plugin whose earlier runs used it, and when nothing says (no code
 * cache yet). A plugin whose runs made no request starts it at its first request: booted for
 * nothing it cost such a run ~25 ms, and a request that starts it waits ~60 ms more once, after
 * which the plugin's runs start it early again (bench/RESULTS.md). TLS's one-time set-up waits until
 * the kubeconfig names an https server (networkContext.ts).
 */
async function httpWorker(): Promise<SyncWorker> {
  const { SyncWorker } = await import('../runtime/hosts/syncHttp.js');
  const worker = new SyncWorker();
  if (tookBefore(HTTP_WORKER_PATH) === false) {
    trace('http worker at the first request');
  } else {
    worker.prestart();
    trace('http worker starting');
  }
  return worker;
}

/**
 * The network interfaces a plugin imports, on one settled network context (kubeconfig, server,
 * proxy and credentials read once, before any guest code runs: kube/networkContext.ts). The run
 * loop calls this once compilation has started, so settling overlaps with it. Loaded only for
 * plugins that import a network interface: others never touch kubeconfig code.
 */
async function networkImports(wants: { outboundHttp: boolean; wasiHttp: boolean }, grants: Grants, inv: Invocation, deadline: number | undefined, worker: SyncWorker | undefined, reach: { writableDirs: string[]; readOnlyDirs: string[] }): Promise<HostImports> {
  const { settings } = inv.host;
  const context = grants.network === 'none'
    ? undefined
    : await import('../kube/networkContext.js').then(({ prepareNetworkContext }) => prepareNetworkContext({
        args: inv.args,
        env: inv.host.env,
        pluginName: inv.name,
        deadline,
        credentialTimeoutMs: settings.credentialTimeoutMs,
        requestTimeoutMs: settings.pluginHttpTimeoutMs,
        maxResponseBytes: settings.maxResponseBytes,
        worker,
        ...reach,
      }));
  trace('kubeconfig settled');
  const options = { pluginName: inv.name, verbose: settings.verbose };
  const [outbound, wasiHttp] = await Promise.all([
    wants.outboundHttp ? import('../runtime/hosts/outboundHttp.js').then((m) => m.createOutboundHttpImports(context, options)) : {},
    wants.wasiHttp ? import('../runtime/hosts/wasiHttp/index.js').then((m) => m.createWasiHttpImports(context, options)) : {},
  ]);
  // The server's URL, so that a plugin can build absolute URLs (JS fetch needs them) without reading kubeconfig.
  const server = context?.server;
  return { imports: { ...outbound, ...wasiHttp }, env: server ? { KREW_WASM_API_SERVER: server } : undefined };
}
