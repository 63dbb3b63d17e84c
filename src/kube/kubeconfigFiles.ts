import os from 'node:os';
import path from 'node:path';

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
  if (overrides.kubeconfig) return [path.resolve(overrides.kubeconfig)];
  if (env.KUBECONFIG) {
    const seen = new Set<string>();
    return env.KUBECONFIG.split(path.delimiter).filter((f) => f.length > 0).map((f) => path.resolve(f)).filter((f) => !seen.has(f) && seen.add(f));
  }
  return [path.join(env.HOME || os.homedir(), '.kube', 'config')];
}
