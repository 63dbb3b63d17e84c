// How krew-wasm reads kubeconfig YAML: shared by the loader (kubeconfig.ts) and the copies a
// plugin granted `--fs kubeconfig` sees (redact.ts).
import { CORE_SCHEMA, loadAll, mergeTag } from 'js-yaml';

/** A named entry of a kubeconfig's clusters, users or contexts. */
export interface Named<T> { name: string; value: T }

/**
 * YAML 1.2's core schema, with merge keys (`<<`) as kubectl reads them. Aliases are shared, not
 * copied, and bounded as the `yaml` package bounded them: a plugin that may write ~/.kube/config
 * could otherwise plant an alias bomb for the next run. Nothing that reads a kubeconfig turns a value
 * that is not a string into one (String() of nested arrays expands every alias: found by an attack).
 */
const YAML_OPTIONS = { schema: CORE_SCHEMA.withTags(mergeTag), maxAliases: 100 };

/**
 * One YAML document; an empty file (or one of comments only) is an empty kubeconfig, as kubectl
 * takes it. js-yaml, not the `yaml` package: every run of a plugin with network access parses the
 * kubeconfig once, in code that has run nowhere else in the process. js-yaml's first parse of a
 * small kubeconfig took a third of `yaml`'s, the wrapper's kubeconfig loader went from 170 KB to
 * 83 KB, and a network plugin's run took 0.96x (bench/RESULTS.md).
 */
export function parseYaml(text: string): Record<string, unknown> {
  const documents = loadAll(text, YAML_OPTIONS);
  if (documents.length > 1) throw new Error(`it holds ${documents.length} YAML documents, not one`);
  return (documents[0] ?? {}) as Record<string, unknown>;
}

/**
 * A list entry the merge reads (`{name, <key>: {...}}`), or undefined for one it skips. An entry
 * whose body is empty (`user:`) is an empty one, as kubectl reads it: the first of its name still
 * wins (another entry of that name further on is not used; found by an attack).
 */
export function namedEntry<T>(entry: unknown, key: string): Named<T> | undefined {
  const name = str((entry as Record<string, unknown>)?.name);
  const body = (entry as Record<string, unknown>)?.[key] ?? {};
  return name && typeof body === 'object' && !Array.isArray(body) ? { name, value: body as T } : undefined;
}

/** A non-empty string, or undefined: kubectl's empty value is an absent one. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
