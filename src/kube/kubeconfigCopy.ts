import type { MergedKubeconfig } from './kubeconfig.js';
import { MAX_KUBECONFIG_BYTES } from './boundedRead.js';
import { namedEntry, str } from './kubeconfigYaml.js';

/** How a field of a user that is not the run's is shown: as written, or hidden by one of kubectl's two words. */
type Showing = 'as written' | 'REDACTED' | 'DATA+OMITTED';

/** A user's string fields; for another user's, how each is shown (names, file paths and impersonation are not secrets). */
const USER_FIELDS: Record<string, Showing> = {
  token: 'REDACTED',
  tokenFile: 'as written',
  'client-certificate': 'as written',
  'client-certificate-data': 'DATA+OMITTED',
  'client-key': 'as written',
  'client-key-data': 'DATA+OMITTED',
  username: 'as written',
  password: 'REDACTED',
  as: 'as written',
  'as-uid': 'as written',
};
const EXEC_FIELDS: Record<string, Showing> = { apiVersion: 'as written', command: 'as written', interactiveMode: 'as written', installHint: 'as written' };
const CLUSTER_STRINGS = ['server', 'certificate-authority', 'certificate-authority-data', 'tls-server-name', 'proxy-url'];
const CLUSTER_FLAGS = ['insecure-skip-tls-verify', 'disable-compression'];
const CONTEXT_STRINGS = ['cluster', 'user', 'namespace'];

/** Thrown when the copies would be larger than a kubeconfig krew-wasm reads. */
export class CopyTooLarge extends Error {}

/**
 * The kubeconfig files as a plugin granted `--fs kubeconfig` sees them: each file's clusters,
 * contexts, users and current-context as krew-wasm reads them, the user the run talks as
 * (`keepUser`: the first entry of that name, as the merge picks it) as written, and every other
 * user's credentials as `kubectl config view` shows them (`REDACTED`, `DATA+OMITTED`), so that
 * a plugin reads no other user's key or token, as it reads no other user's key or token file.
 *
 * Written again from what was read, never copied: a copy of the bytes kept what the parser never
 * saw (commented-out credentials) or read otherwise than kubectl (merge keys), and YAML written
 * back from the parsed document kept fields krew-wasm does not read, where aliases could bring
 * another user's secret, and wrote an aliased string once per alias (a 46 KB file made 290 MB).
 * Here only known fields are written, each string at most once per field, the whole bounded by
 * the largest kubeconfig read (CopyTooLarge), as JSON (which is YAML: yamlSafeJson).
 * With no user selected, every user's credentials are hidden.
 */
export function kubeconfigCopies(merged: MergedKubeconfig, keepUser: string | undefined): { file: string; bytes: Buffer }[] {
  const budget = new CopyBudget(MAX_KUBECONFIG_BYTES);
  let kept = false;
  return merged.sources.map((source, i) => {
    const doc = merged.documents[i];
    const copy: Record<string, unknown> = { apiVersion: 'v1', kind: 'Config' };
    copy.clusters = entries(doc.clusters, 'cluster', budget, (body) => ({ ...strings(body, CLUSTER_STRINGS, budget), ...flags(body, CLUSTER_FLAGS) }));
    copy.contexts = entries(doc.contexts, 'context', budget, (body) => strings(body, CONTEXT_STRINGS, budget));
    copy.users = entries(doc.users, 'user', budget, (body, name) => {
      const keep = !kept && keepUser !== undefined && name === keepUser;
      kept ||= keep;
      return userCopy(body, keep, budget);
    });
    const current = str(doc['current-context']);
    if (current) copy['current-context'] = budget.text(current);
    return { file: source.file, bytes: Buffer.from(`${yamlSafeJson(copy)}\n`) };
  });
}

/** A named list's entries the merge reads, each as `{name, <key>: copy(body)}`. */
function entries(list: unknown, key: string, budget: CopyBudget, copy: (body: Record<string, unknown>, name: string) => Record<string, unknown>): Record<string, unknown>[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry) => {
    budget.item();
    const named = namedEntry<Record<string, unknown>>(entry, key);
    return named ? [{ name: budget.text(named.name), [key]: copy(named.value, named.name) }] : [];
  });
}

function userCopy(body: Record<string, unknown>, keep: boolean, budget: CopyBudget): Record<string, unknown> {
  const out = shown(body, USER_FIELDS, keep, budget);
  const groups = stringList(body['as-groups'], 'as written', budget);
  if (groups) out['as-groups'] = groups;
  const exec = body.exec;
  if (typeof exec === 'object' && exec !== null && !Array.isArray(exec)) {
    const e = exec as Record<string, unknown>;
    const copy = shown(e, EXEC_FIELDS, keep, budget);
    const args = stringList(e.args, keep ? 'as written' : 'REDACTED', budget);
    if (args) copy.args = args;
    if (Array.isArray(e.env)) copy.env = e.env.flatMap((v) => (budget.item(), typeof v?.name === 'string' ? [{ name: budget.text(v.name), value: typeof v.value === 'string' ? budget.text(keep ? v.value : 'REDACTED') : '' }] : []));
    if (e.provideClusterInfo === true) copy.provideClusterInfo = true;
    out.exec = copy;
  }
  const provider = body['auth-provider'];
  if (typeof provider === 'object' && provider !== null && !Array.isArray(provider)) {
    const p = provider as Record<string, unknown>;
    const config = typeof p.config === 'object' && p.config !== null && !Array.isArray(p.config) ? p.config as Record<string, unknown> : {};
    out['auth-provider'] = {
      ...(typeof p.name === 'string' ? { name: budget.text(p.name) } : {}),
      config: Object.fromEntries(Object.entries(config).flatMap(([k, v]) => (budget.item(), typeof v === 'string' ? [[budget.text(k), budget.text(keep ? v : 'REDACTED')]] : []))),
    };
  }
  return out;
}

/** The string fields of `body` named in `fields`, as written when kept, else as each field is shown. */
function shown(body: Record<string, unknown>, fields: Record<string, Showing>, keep: boolean, budget: CopyBudget): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, showing] of Object.entries(fields)) {
    const value = str(body[field]);
    if (value !== undefined) out[field] = budget.text(keep || showing === 'as written' ? value : showing);
  }
  return out;
}

function strings(body: Record<string, unknown>, fields: string[], budget: CopyBudget): Record<string, unknown> {
  return shown(body, Object.fromEntries(fields.map((f) => [f, 'as written'])), true, budget);
}

function flags(body: Record<string, unknown>, fields: string[]): Record<string, boolean> {
  return Object.fromEntries(fields.filter((f) => body[f] === true).map((f) => [f, true]));
}

/** A list of strings (other items left out), each shown as written or hidden. */
function stringList(list: unknown, showing: Showing, budget: CopyBudget): string[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.flatMap((item) => (budget.item(), typeof item === 'string' ? [budget.text(showing === 'as written' ? item : showing)] : []));
}

/**
 * JSON, which YAML readers read too, with the characters they would not take as written escaped:
 * DEL and the C1 controls, which YAML 1.1 (kubectl's reader) refuses, U+2028 and U+2029, which it
 * takes for line breaks, and U+FEFF, U+FFFE and U+FFFF. Every other character is itself: an
 * escaped character outside the BMP (a surrogate pair, `\ud83d\ude01`) is refused by Go's YAML.
 */
function yamlSafeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * What the copies may hold, counted in bytes written as they are made: aliases let one string
 * stand in many fields, and each field is written out in full. A character is counted as 1 byte
 * when it is printable ASCII, else as 6 (escaped, or up to 4 of UTF-8), and each field or item
 * as 64 more (its key, indentation and quotes).
 */
class CopyBudget {
  #left: number;
  constructor(bytes: number) {
    this.#left = bytes;
  }
  text(value: string): string {
    let bytes = 64;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      bytes += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? 1 : 6;
    }
    this.#spend(bytes);
    return value;
  }
  /** An item looked at, written or not. */
  item(): void {
    this.#spend(64);
  }
  #spend(bytes: number): void {
    this.#left -= bytes;
    if (this.#left < 0) throw new CopyTooLarge('the kubeconfig copies would be larger than a kubeconfig krew-wasm reads');
  }
}
