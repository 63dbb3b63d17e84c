import { firstLineOf, InvalidPluginError } from '../errors.js';
import { importModule } from '../builtin.js';
import { shortened } from '../printable.js';
import { RUN_EXPORT } from './component.js';
import { COMPONENT_PREAMBLE, externDesc, externName, forEachSection, leb128, Reader, sortIndex } from './wasmReader.js';

/**
 * The type of the `run` the host calls, read from the component's own types.
 *
 * jco lifts what `run` returns by the type the component declares, and its declarations show only
 * the ok side of a result: `run: func() -> result<_, list<list<bool>>>` passed every other check,
 * and its err payload was lifted as declared, tuples nested 90 deep made ~90 host objects per
 * guest byte (found by an attack). wasmtime checks an export's type against the world it calls;
 * here wasm-tools (inside jco) decodes the component's types, as jco does before it transpiles, and
 * prints them. It prints an exported WASI interface by name only, so the `wasi:cli/run` export is
 * renamed in a copy of the binary to a plain name, which it prints with its body. That body must be
 * WASI's: `run: func() -> result;` and nothing else.
 */
const CHECKED_NAME = 'krew-wasm-checked-run';
const WASI_RUN_BODY = ['run: func() -> result;'];

export async function checkRunType(component: Uint8Array): Promise<void> {
  let renamed: { bytes: Uint8Array; count: number };
  try {
    renamed = renameExports(component, (name) => RUN_EXPORT.test(name), CHECKED_NAME);
  } catch (error) {
    throw new InvalidPluginError(`cannot read the component's exports: ${(error as Error).message}`);
  }
  if (renamed.count !== 1) {
    throw new InvalidPluginError(`the component exports wasi:cli/run ${renamed.count} times; a plugin exports it once`);
  }
  const { componentWit } = await importModule<typeof import('@bytecodealliance/jco-transpile/wasm-tools')>('@bytecodealliance/jco-transpile/wasm-tools');
  let wit: string;
  try {
    wit = await componentWit(renamed.bytes);
  } catch (error) {
    throw new InvalidPluginError(`cannot read the type of the component's wasi:cli/run: ${firstLineOf(error)}`);
  }
  const body = exportedInterfaceBody(wit, CHECKED_NAME);
  if (body === undefined || body.length !== WASI_RUN_BODY.length || body.some((line, i) => line !== WASI_RUN_BODY[i])) {
    const shown = body === undefined || body.length === 0 ? 'nothing' : JSON.stringify(shortened(body.join(' '), 100));
    throw new InvalidPluginError(`the component's wasi:cli/run declares ${shown}, not WASI's "run: func() -> result;"`);
  }
}


/** The lines inside `export <name>: interface { ... }` of a printed world, trimmed, blank ones left out. */
function exportedInterfaceBody(wit: string, name: string): string[] | undefined {
  const lines = wit.split('\n').map((line) => line.trim());
  const start = lines.indexOf(`export ${name}: interface {`);
  if (start < 0) return undefined;
  const end = lines.indexOf('}', start);
  if (end < 0) return undefined;
  return lines.slice(start + 1, end).filter((line) => line.length > 0);
}

/**
 * A copy of a component whose top-level exports matching `isTarget` are named `to` instead
 * (their kind, index and type ascription kept), and how many there were.
 */
export function renameExports(component: Uint8Array, isTarget: (name: string) => boolean, to: string): { bytes: Uint8Array; count: number } {
  const parts: Uint8Array[] = [Uint8Array.from(COMPONENT_PREAMBLE)];
  let count = 0;
  forEachSection(new Reader(component), COMPONENT_PREAMBLE, 'a component', (id, body) => {
    if (id !== 11) {
      const bytes = body.rest();
      parts.push(sectionHeader(id, bytes.length), bytes);
      return;
    }
    const entries: Uint8Array[] = [];
    const n = body.u32();
    for (let i = 0; i < n; i++) {
      const name = externName(body);
      const start = body.position;
      sortIndex(body);
      if (body.byte() === 0x01) externDesc(body);
      const target = isTarget(name);
      if (target) count++;
      entries.push(encodeName(target ? to : name), body.since(start));
    }
    body.end();
    const content = Buffer.concat([leb128(n), ...entries]);
    parts.push(sectionHeader(id, content.length), content);
  });
  return { bytes: Buffer.concat(parts), count };
}

function encodeName(name: string): Uint8Array {
  const bytes = new TextEncoder().encode(name);
  return Buffer.concat([Uint8Array.of(0x00), leb128(bytes.length), bytes]);
}

function sectionHeader(id: number, size: number): Uint8Array {
  return Buffer.concat([Uint8Array.of(id), leb128(size)]);
}
