import { Option, UsageError } from 'clipanion';
import * as t from 'typanion';
import { parseDirGrant, type GrantChanges } from '../grants.js';
import { BaseCommand } from './baseCommand.js';

const positiveNumber = (flag: string, value: string | undefined): number | null | undefined => {
  if (value === undefined) return undefined;
  if (value === 'none' || value === '0') return null;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} takes a positive number (or none), got "${value}"`);
  return n;
};

/** The grant options `pull` and `grant` share: one declaration, one parser. */
export abstract class GrantOptionsCommand extends BaseCommand {
  fs = Option.String('--fs', {
    description: 'Files the plugin sees: home (read-write, the default), kubeconfig (the kubeconfig and the files it references, read-only) or none',
    validator: t.isEnum(['home', 'kubeconfig', 'none'] as const),
  });
  allowDir = Option.Array('--allow-dir', { description: 'Also grant PATH (read-write), or PATH:ro (read-only); repeatable' });
  dataDir = Option.Boolean('--data-dir', { description: 'Grant a private writable directory (its path is in KREW_WASM_DATA_DIR)' });
  envGrant = Option.String('--env', { description: 'Environment variables the plugin sees: all, or a comma-separated list of names' });
  network = Option.String('--network', {
    description: 'api-server (the kubeconfig API server, the default) or none',
    validator: t.isEnum(['api-server', 'none'] as const),
  });
  timeout = Option.String('--timeout', { description: 'Wall-clock limit of one run in seconds (none to lift it)' });
  maxMemory = Option.String('--max-memory', { description: 'Cap on linear memory in MiB (none to lift it)' });

  /** The changes these options ask for. */
  protected grantChanges(): GrantChanges {
    const env = this.envGrant === undefined ? undefined : this.envGrant === 'all' ? 'all' : this.envGrant.split(',').map((s) => s.trim()).filter(Boolean);
    return {
      filesystem: this.fs,
      addDirs: this.allowDir?.map((d) => parseDirGrant(d, this.context.cwd)),
      dataDir: this.dataDir,
      env,
      network: this.network,
      timeoutSeconds: positiveNumber('--timeout', this.timeout),
      maxMemoryMiB: positiveNumber('--max-memory', this.maxMemory),
    };
  }
}
