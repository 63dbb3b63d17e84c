import { InvalidPluginError } from '../errors.js';
import { shortened } from '../printable.js';
import { unversioned } from './component.js';

/**
 * A component's interface types, checked against the ones the host implements.
 *
 * jco makes the glue from the types the component declares: a plugin that imports
 * `wasi:cli/environment` but declares `get-environment: func(x: list<list<r>>)` has its argument
 * lifted as declared, one JS object per element of lists that all alias the same guest memory,
 * which no bound on copies counts (found by an attack: 64 KiB of guest memory, a 4 GB host heap).
 * wasmtime type-checks imports at link time; here jco's own rendering of the types is compared:
 * each declaration of each interface the plugin imports (and of wasi:cli/run and the other
 * interfaces the host calls) must be one jco writes for the interface the host implements
 * (generated/hostTypes.ts, made by `make bindings` from wit/). A plugin may import fewer functions,
 * and an older 0.2 version, never other ones. TypeScript's rendering merges some WIT types (all
 * integers are `number`), which changes sizes but not how many objects a byte of guest memory can
 * make.
 */
export async function checkInterfaceTypes(files: Record<string, Uint8Array>, imports: string[], exports: [string, string][]): Promise<void> {
  const bare = exports.filter(([, kind]) => kind === 'function').map(([name]) => name);
  if (bare.length > 0) {
    // A function the host would never call, and `then` would be called by the host's promises (outside every limit).
    throw new InvalidPluginError(`the component exports functions at its top level (${bare.join(', ')}); a plugin exports interfaces (wasi:cli/run)`);
  }
  const { HOST_TYPES } = await import('../../generated/hostTypes.js');
  const declarations = interfaceFiles(files);
  const imported = new Set(imports.map(unversioned));
  for (const [iface, { versioned, dts }] of declarations) {
    const reference = HOST_TYPES[iface];
    if (reference === undefined) {
      if (imported.has(iface)) throw new InvalidPluginError(`the component imports ${iface}, which krew-wasm does not provide`);
      continue; // an export the host never calls
    }
    // The host implements WASI 0.2 (each 0.2.x adds to the one before) and outbound-http 0.1.
    const other = versioned.find((v) => !/^(wasi:[a-z-]+\/[a-z-]+@0\.2\.\d+|krew-wasm:outbound-http\/[a-z-]+@0\.1\.0)$/.test(v));
    if (other !== undefined) {
      throw new InvalidPluginError(`the component uses ${other}, a version krew-wasm does not implement (WASI 0.2.x, krew-wasm:outbound-http 0.1.0)`);
    }
    const known = new Set(declarationsOf(reference));
    // `private constructor();` is how jco renders a resource whose constructor the plugin does not use.
    const foreign = declarationsOf(dts).find((d) => !known.has(d) && !d.endsWith('/ private constructor();'));
    if (foreign !== undefined) {
      throw new InvalidPluginError(`the component's ${iface} has types krew-wasm does not implement (${shortened(foreign, 80)})`);
    }
  }
  const missing = [...imported].filter((i) => !declarations.has(i));
  if (missing.length > 0) throw undeclared(missing.join(', '));
}

function undeclared(names: string): InvalidPluginError {
  return new InvalidPluginError(`cannot check the types of ${names}: jco wrote no declarations for them`);
}

/** Each interface jco wrote declarations for (plugin.d.ts names them), by unversioned name. */
function interfaceFiles(files: Record<string, Uint8Array>): Map<string, { versioned: string[]; dts: string }> {
  const text = (name: string) => (files[name] ? Buffer.from(files[name]).toString('utf8') : undefined);
  const world = text('plugin.d.ts') ?? '';
  const found = new Map<string, { versioned: string[]; dts: string }>();
  for (const [, file, iface] of world.matchAll(/^import type \* as \w+ from '\.\/(interfaces\/[^']+)\.js'; \/\/ (\S+)$/gm)) {
    const dts = text(`${file}.d.ts`);
    if (dts === undefined) throw undeclared(iface!);
    const name = unversioned(iface!);
    const seen = found.get(name);
    // Two versions of one interface: both are checked.
    found.set(name, { versioned: [...(seen?.versioned ?? []), iface!], dts: seen === undefined ? dts : `${seen.dts}\n${dts}` });
  }
  return found;
}

/**
 * The declarations of a .d.ts jco wrote, comments aside: each top-level line, and each member line
 * of a block (an interface's fields, a class's methods) prefixed by its block's first line, so that
 * a plugin's subset of a resource's methods compares line by line.
 */
export function declarationsOf(dts: string): string[] {
  const text = dts.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const items: string[] = [];
  const blocks: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (line === '}' || line === '};') {
      blocks.pop();
      continue;
    }
    items.push([...blocks, line].join(' / '));
    if (line.endsWith('{')) blocks.push(line);
  }
  return items;
}
