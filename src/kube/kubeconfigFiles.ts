import os from 'node:os';
import path from 'node:path';
import { absoluteByText } from '../hostPaths.js';

/**
 * Which kubeconfig files are in use, without reading them: a module of its own, without the YAML
 * parser, because every CLI command that describes grants needs it and none of them parses YAML.
 */

/** kubectl's --kubeconfig, --context, --cluster and --user, as the plugin was given them. */
export interface Overrides {
  kubeconfig?: string;
  context?: string;
  cluster?: string;
  user?: string;
}

/** The files client-go reads: --kubeconfig alone, else the KUBECONFIG list, else ~/.kube/config. */
export function kubeconfigFiles(env: NodeJS.ProcessEnv, overrides: Overrides): string[] {
  if (overrides.kubeconfig) return [absolute(overrides.kubeconfig)];
  if (env.KUBECONFIG) {
    const seen = new Set<string>();
    return env.KUBECONFIG.split(path.delimiter).filter((f) => f.length > 0).map(absolute).filter((f) => !seen.has(f) && seen.add(f));
  }
  return [path.join(env.HOME || os.homedir(), '.kube', 'config')];
}

/**
 * A kubeconfig path made absolute but not cleaned: client-go opens the path as given, so `L/..`
 * goes up from where the symlink L leads and a trailing `/` names a folder; a path cleaned by text
 * read another file than kubectl reads (found by an attack). Paths inside it are resolved against
 * its folder by text, as client-go resolves them (kubeconfig.ts resolvePath).
 */
const absolute = (file: string): string => absoluteByText(file);
