import type { BaseContext } from 'clipanion';
import type { Settings } from '../settings.js';
import type { Paths } from '../store/paths.js';
import type { PluginStore } from '../store/store.js';

/** What every command gets from main: streams, the host environment and the services. */
export interface KrewContext extends BaseContext {
  env: NodeJS.ProcessEnv;
  /** krew-wasm's own settings, read once from the environment. */
  settings: Settings;
  cwd: string;
  paths: Paths;
  store: PluginStore;
  /**
   * Arguments after the first `--`, kept away from clipanion, whose parser takes time quadratic
   * in the number of arguments (10,000 plugin arguments took 10 s); `run` passes them on verbatim.
   */
  trailingArgs?: string[];
  /** `krew-wasm`, or `kubectl krew-wasm` when run through kubectl: what hints tell the user to type. */
  binaryName: string;
  /** The krew-wasm entry file (real path): what kubectl-* links point at. */
  executable: string;
}
