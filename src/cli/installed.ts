import { DamagedReceiptError, notInstalledError } from '../errors.js';
import type { Receipt } from '../store/receipt.js';
import type { PluginStore } from '../store/store.js';

/**
 * The installed plugins a command over them works on: the named ones, each missing or damaged one
 * handed to `fail`, or all of them (each damaged receipt handed to `fail`).
 */
export function installedTargets(store: PluginStore, names: string[], fail: (name: string, error: unknown) => void): [string, Receipt][] {
  if (names.length === 0) {
    const { plugins, problems } = store.list();
    for (const problem of problems) fail(problem.pluginName, problem);
    return plugins.map((r) => [r.name, r]);
  }
  const out: [string, Receipt][] = [];
  for (const name of new Set(names)) {
    try {
      const receipt = store.get(name);
      if (receipt) out.push([name, receipt]);
      else fail(name, notInstalledError([name]));
    } catch (error) {
      if (!(error instanceof DamagedReceiptError)) throw error;
      fail(name, error);
    }
  }
  return out;
}
