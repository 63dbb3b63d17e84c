import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { StoreConflictError } from '../../src/errors.js';
import { DEFAULT_GRANTS, type Grants } from '../../src/grants.js';
import { Paths } from '../../src/store/paths.js';
import type { Receipt } from '../../src/store/receipt.js';
import { PluginStore } from '../../src/store/store.js';
import { storeSnapshot } from '../helpers/cli.js';
import { scratchFolders } from '../helpers/scratch.js';

// The checks PluginStore.install makes under the store lock, at the commit: what a concurrent
// command changed after a pull's early checks passed (attack 89).
const scratch = scratchFolders('store');

function storeIn(dir: string): PluginStore {
  return new PluginStore(new Paths(path.join(dir, 'root')), path.join(dir, 'krew-wasm.js'));
}

function staged(dir: string, name: string, source: string, layer = 'a'): { receipt: Omit<Receipt, 'grants'>; entryDir: string } {
  const entryDir = fs.mkdtempSync(path.join(dir, 'entry-'));
  fs.writeFileSync(path.join(entryDir, 'meta.json'), '{}');
  const receipt = {
    apiVersion: 'krew-wasm/v1' as const, name, source, layerDigest: `sha256:${layer.repeat(64)}`,
    mediaTypes: { layer: 'application/wasm' }, size: 1, pulledAt: new Date().toISOString(),
  };
  return { receipt, entryDir };
}

const GRANTED: Grants = { ...DEFAULT_GRANTS, dirs: [{ path: '/home/u/.kube', readOnly: false }] };

test("a layout's title that names a plugin installed from elsewhere meanwhile is refused at the commit, under the lock, and nothing changes", async (t) => {
  const dir = scratch();
  const store = storeIn(dir);
  t.truthy(await store.install({ ...staged(dir, 'secrets', 'file:///plugins/secrets.wasm'), grants: () => GRANTED, force: false }));
  const before = storeSnapshot(store.paths.root);
  // What a `pull --force` of a layout titled `secrets` commits when `secrets` was installed after its early check.
  const layout = staged(dir, 'secrets', 'oci-layout:///downloads/layout:v1', 'b');
  await t.throwsAsync(store.install({ ...layout, grants: (kept) => kept ?? DEFAULT_GRANTS, force: true, nameFromArtifact: true }), {
    instanceOf: StoreConflictError,
    message: 'the artifact names itself "secrets", and plugin "secrets" is installed from file:///plugins/secrets.wasm: --force replaces a plugin of that name only when you give the name',
  });
  t.deepEqual(storeSnapshot(store.paths.root), before);
  // The name given by the user (no nameFromArtifact): replaced, its grants kept.
  const replaced = await store.install({ ...layout, grants: (kept) => kept ?? DEFAULT_GRANTS, force: true });
  t.like(replaced?.grants, GRANTED);
  // A reinstall from the same source, the layout's title its name: what --force is for.
  t.truthy(await store.install({ ...staged(dir, 'secrets', 'oci-layout:///downloads/layout:v1', 'c'), grants: (kept) => kept ?? DEFAULT_GRANTS, force: true, nameFromArtifact: true }));
});

test('a receipt its reader would refuse is refused at the commit, before anything is written', async (t) => {
  const dir = scratch();
  const store = storeIn(dir);
  const before = storeSnapshot(store.paths.root);
  await t.throwsAsync(store.install({ ...staged(dir, 'long', `file:///${'x'.repeat(4096)}.wasm`), grants: () => DEFAULT_GRANTS, force: false }), {
    instanceOf: StoreConflictError,
    message: 'the receipt of plugin "long" would not read back (source is not a reference): nothing was written',
  });
  t.deepEqual(storeSnapshot(store.paths.root), before);
});

test('repair removes what an ended removal left of a data folder through handles: a link in it stays a link, what it names stays (attack 105)', async (t) => {
  const dir = scratch();
  const store = storeIn(dir);
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'precious'), 'kept');
  // Left by an rm whose process ended while a run of the plugin was still writing (pid 2^22 + 1: above Linux's pid_max, never running).
  const left = path.join(store.paths.tmpDir, `gone-${2 ** 22 + 1}-x`, 'tree');
  fs.mkdirSync(path.join(left, 'a', 'b'), { recursive: true });
  fs.symlinkSync(outside, path.join(left, 'a', 'b', 'link'));
  fs.symlinkSync('../../../../outside', path.join(left, 'rel'));
  t.true(store.needsRepair());
  await store.repair();
  t.deepEqual(fs.readdirSync(store.paths.tmpDir), []);
  t.deepEqual(fs.readdirSync(outside), ['precious']);
  t.false(store.needsRepair());
});

test("repair removes a data folder no plugin has: a run that read its receipt before rm and set up its sandbox after made it again (attack 106); an installed plugin's stays", async (t) => {
  const dir = scratch();
  const store = storeIn(dir);
  t.truthy(await store.install({ ...staged(dir, 'kept', 'file:///plugins/kept.wasm'), grants: () => ({ ...DEFAULT_GRANTS, dataDir: true }), force: false }));
  fs.mkdirSync(store.paths.dataDir('kept'), { recursive: true });
  fs.writeFileSync(path.join(store.paths.dataDir('kept'), 'state'), 'mine');
  fs.mkdirSync(store.paths.dataDir('gone'), { recursive: true });
  fs.writeFileSync(path.join(store.paths.dataDir('gone'), 'state'), 'the old plugin\'s');
  t.true(store.needsRepair());
  await store.repair();
  t.deepEqual(fs.readdirSync(store.paths.dataRoot), ['kept']);
  t.is(fs.readFileSync(path.join(store.paths.dataDir('kept'), 'state'), 'utf8'), 'mine');
  t.deepEqual(fs.readdirSync(store.paths.tmpDir), []);
  t.false(store.needsRepair());
});
