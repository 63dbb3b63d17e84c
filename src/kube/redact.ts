import { dump } from 'js-yaml';
import type { MergedKubeconfig } from './kubeconfig.js';
import { namedEntry } from './kubeconfigYaml.js';

/**
 * What stays readable in another user's entry: names, file paths (the files themselves are not
 * copied), the exec command and its settings, impersonation. Every other string is a credential or
 * may hold one (a token, a key, a password, an auth provider's config, an exec plugin's arguments
 * and environment values).
 */
const SHOWN_KEYS = new Set(['name', 'client-certificate', 'client-key', 'tokenFile', 'username', 'command', 'apiVersion', 'interactiveMode', 'installHint', 'as', 'as-uid', 'as-groups']);

/**
 * The kubeconfig files as a plugin granted `--fs kubeconfig` sees them: the entry of the user the
 * run talks as (`keepUser`: the first entry of that name, as the merge picks it) as written, and
 * every other user's credentials shown as `kubectl config view` shows them (`REDACTED`, and
 * `DATA+OMITTED` for a `-data` field), so that a plugin reads no other user's key or token, as it
 * reads no other user's key or token file. A file with nothing to hide is its bytes as read; one
 * with something hidden is written again (YAML of the same data, anchors kept, comments dropped).
 * With no user selected, every user's credentials are hidden.
 */
export function redactedSources(merged: MergedKubeconfig, keepUser: string | undefined): { file: string; bytes: Buffer }[] {
  let kept = false;
  return merged.sources.map((source, i) => {
    const doc = merged.documents[i];
    if (!Array.isArray(doc.users)) return source;
    const redactor = new Redactor();
    const users = doc.users.map((entry: unknown) => {
      if (!kept && keepUser !== undefined && namedEntry(entry, 'user')?.name === keepUser) {
        kept = true;
        return entry;
      }
      return redactor.redact(entry, 'users');
    });
    if (!redactor.hidSome) return source;
    return { file: source.file, bytes: Buffer.from(dump(withKey(doc, 'users', users), { lineWidth: -1 })) };
  });
}

/** How a string under a key is shown: as written, or hidden by one of kubectl's two words. */
type Showing = 'as written' | 'REDACTED' | 'DATA+OMITTED';

function showing(key: string): Showing {
  return SHOWN_KEYS.has(key) ? 'as written' : key.endsWith('-data') ? 'DATA+OMITTED' : 'REDACTED';
}

/**
 * Hides every string not under a shown key. Copy on write: a value shared through a YAML alias with
 * the kept user stays as it is there. Each mapping is copied once, and each list once per way its
 * strings are shown (its items are shown as its own key says: exec args), so that shared values
 * (an alias bomb: 100 aliases nested) cost their size, not their expansion, and stay shared in the
 * written YAML; a recursive alias (YAML allows `&a [*a]`) is a cycle in the copy too.
 */
class Redactor {
  hidSome = false;
  readonly #mappings = new Map<object, Record<string, unknown>>();
  readonly #lists = new Map<unknown[], Map<Showing, unknown[]>>();

  redact(value: unknown, key: string): unknown {
    if (typeof value === 'string') return this.#string(value, showing(key));
    if (Array.isArray(value)) return this.#list(value, showing(key));
    if (typeof value === 'object' && value !== null) return this.#mapping(value);
    return value;
  }

  #string(value: string, how: Showing): string {
    if (how === 'as written') return value;
    this.hidSome = true;
    return how;
  }

  #list(list: unknown[], how: Showing): unknown[] {
    let byShowing = this.#lists.get(list);
    if (!byShowing) this.#lists.set(list, (byShowing = new Map()));
    const done = byShowing.get(how);
    if (done) return done;
    const copy: unknown[] = [];
    byShowing.set(how, copy);
    for (const item of list) copy.push(typeof item === 'string' ? this.#string(item, how) : Array.isArray(item) ? this.#list(item, how) : this.redact(item, ''));
    return copy;
  }

  #mapping(mapping: object): Record<string, unknown> {
    const done = this.#mappings.get(mapping);
    if (done) return done;
    const copy: Record<string, unknown> = {};
    this.#mappings.set(mapping, copy);
    // defineProperty, not assignment: a `__proto__` key stays a key.
    for (const [k, v] of Object.entries(mapping)) Object.defineProperty(copy, k, { value: this.redact(v, k), enumerable: true, writable: true, configurable: true });
    return copy;
  }
}

/** A copy of a mapping with one key's value replaced, in its place (a `__proto__` key stays a key). */
function withKey(doc: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, k === key ? value : v]));
}
