import fs from 'node:fs';
import path from 'node:path';
import { realpathOr } from '../../hostPaths.js';
import { identityOf, type Identity } from './walk.js';

/** The entries the walk looks at before giving up; past them, every file of more than one link counts as protected. */
const MAX_ENTRIES = 500_000;

/**
 * Whether a regular file a plugin would write or truncate is, under another name, one of the files
 * inside `dirs` (krew-wasm's store and code: hostPaths.ts krewWasmCode). Those are kept from
 * plugins by folder identity, and a hard link is the same file in another folder: pnpm's store
 * holds one of every file pnpm installs, krew-wasm's own included, and whatever its layout (a
 * global virtual store, `nodeLinker: hoisted`), a plugin granted HOME rewrote the code the next
 * pull ran through the store's name (attacks 63 and 64). Only files of more than one link are
 * asked about, and the folders are walked once, at the first such question of a run (none in most
 * runs; ~0.1 s for a checkout's 8,000 files of node_modules), leaving out `skips`: folders inside
 * them that hold none of krew-wasm's files (plugins' data folders, which a plugin could fill past
 * MAX_ENTRIES, and pnpm's stores of every package: attack 65).
 */
/** Why a folder of the walk can be left: it is not there, or no one but its owner may look in it (and so no plugin). */
const FOLDER_OUT_OF_REACH = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP']);

export function protectedFileCheck(dirs: readonly string[], skips: readonly string[] = [], files: readonly string[] = []): (stat: fs.BigIntStats) => boolean {
  let known: { ids: Set<Identity>; complete: boolean; interrupted?: boolean } | undefined;
  let fileIds: Set<Identity> | undefined;
  return (stat) => {
    if (!stat.isFile()) return false;
    // Files of their own (hostPaths: Node's binary in a folder other programs share), by identity: every name of them.
    if (files.length > 0) {
      const ids = fileIds ?? identitiesOfFiles(files);
      // Not looked up (no descriptor left: a plugin can hold them all): this write is refused, and the next asks again.
      if (!ids) return true;
      if ((fileIds = ids).has(identityOf(stat))) return true;
    }
    if (stat.nlink <= 1n) return false;
    const found = known ?? multiplyLinkedFiles(dirs, skips);
    // A walk the process could not finish (no descriptor left: a plugin can hold them all) says
    // nothing, and is not kept: it refuses this open, and the next question walks again (attack 68).
    if (!found.interrupted) known = found;
    return !found.complete || found.ids.has(identityOf(stat));
  };
}

/** The identities of the files at `files`, links followed (one out of reach has none); undefined when one could not be looked up. */
function identitiesOfFiles(files: readonly string[]): Set<Identity> | undefined {
  const ids = new Set<Identity>();
  for (const file of files) {
    try {
      ids.add(identityOf(fs.statSync(file, { bigint: true })));
    } catch (error) {
      if (!FOLDER_OUT_OF_REACH.has((error as NodeJS.ErrnoException).code ?? '')) return undefined;
    }
  }
  return ids;
}

/**
 * The identities of the files of more than one link below `dirs` (each followed if it is a link
 * itself, as a store named through one: attack 65; links below it are not), leaving out `skips`;
 * incomplete past MAX_ENTRIES.
 */
function multiplyLinkedFiles(dirs: readonly string[], skips: readonly string[]): { ids: Set<Identity>; complete: boolean; interrupted?: boolean } {
  const ids = new Set<Identity>();
  const seen = new Set<Identity>();
  for (const skip of skips) {
    try {
      const stat = fs.statSync(skip, { bigint: true, throwIfNoEntry: false });
      if (stat) seen.add(identityOf(stat));
    } catch {
      // not a folder, or not ours to look at: nothing to leave out
    }
  }
  const pending = dirs.map((dir) => realpathOr(dir));
  let entries = 0;
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    let entriesOfDir: fs.Dirent[];
    try {
      const stat = fs.lstatSync(dir, { bigint: true });
      if (!stat.isDirectory() || seen.has(identityOf(stat))) continue;
      seen.add(identityOf(stat));
      entriesOfDir = fs.readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      // Gone, or not ours to read: nothing of it can be reached either. Anything else (EMFILE,
      // ENFILE, ENOMEM, EIO) says nothing of what it holds.
      if (!FOLDER_OUT_OF_REACH.has((error as NodeJS.ErrnoException).code ?? '')) return { ids, complete: false, interrupted: true };
      continue;
    }
    for (const entry of entriesOfDir) {
      if (++entries > MAX_ENTRIES) return { ids, complete: false };
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) pending.push(file);
      else if (entry.isFile()) {
        const stat = fs.lstatSync(file, { bigint: true, throwIfNoEntry: false });
        if (stat && stat.nlink > 1n) ids.add(identityOf(stat));
      }
    }
  }
  return { ids, complete: true };
}
