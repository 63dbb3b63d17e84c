import fs from 'node:fs';
import { LocalFileError, openRegularFile, readOpenedFileInto } from '../store/fsutil.js';
import { STATE_MODULE } from './coreState.js';
import { leb128, MODULE_PREAMBLE, Reader, SECTION } from './wasmReader.js';

/**
 * A big core module's data, moved at pull out of the module into an image file that a run reads
 * straight into the memory the host makes for it (coreState.ts: the host makes every memory a
 * module defines).
 *
 * Why: V8 copies a module's bytes when it compiles them, and its data segments once more into
 * memory at instantiation, and a run reads the module into a buffer before either: each copy
 * faults in fresh pages, which costs more than the copy itself. The 12.5 MB JS plugin carries
 * 3.1 MB of data in 10,000 segments; without them in its module, Node reading, compiling and
 * instantiating it took ~7 ms (8-9%) less (bench/RESULTS.md, round thirteen). The image is read
 * from the page cache into the memory's pages directly: one copy, one fault per page.
 *
 * The memory holds the same bytes when guest code first runs (its start function included):
 * only a module whose every active segment is of its own first memory, at an `i32.const` offset,
 * inside that memory's initial size, has its data moved (a segment out of bounds makes
 * instantiation fail, and such a module keeps its data so that it still does). Active segments
 * are applied in their order, before any guest code, and dropped once applied; each stays in the
 * module as an empty active segment at offset 0, so every segment index (`memory.init`,
 * `data.drop`) and the data count stay what they were. Passive segments stay as they are.
 */

/** A module with less active data keeps it: an image is one more file to open and read. */
export const DATA_IMAGE_MIN_BYTES = 256 * 1024;
/** Segments closer than this are one run of the image, the bytes between them zeros (as the fresh memory holds). */
const MERGE_GAP = 4096;
/** Runs are listed in meta.json, which every run reads: a module scattering its data more keeps it, and so do the modules of an entry beyond this many in all (transpile.ts). */
export const MAX_IMAGE_RUNS = 1024;

/** One run of an image: `length` bytes of the image file, in order, read into memory at `at`. */
export type ImageRun = [at: number, length: number];

export interface DataImage {
  /** The module with its active segments emptied. */
  module: Uint8Array;
  /** The runs' bytes, one after the other. */
  image: Uint8Array;
  runs: ImageRun[];
}

const WASM_PAGE = 65536;
const MEMORY = 0x02;

interface ActiveSegment {
  at: number;
  bytes: Uint8Array;
}

/** The module's data as an image, or undefined when it keeps its data (see above). */
export function extractDataImage(bytes: Uint8Array): DataImage | undefined {
  const r = new Reader(bytes);
  r.expect(MODULE_PREAMBLE, 'a core module');
  let memoryPages: number | undefined;
  let data: { start: number; end: number; body: Reader } | undefined;
  while (!r.done()) {
    const start = r.position;
    const id = r.byte();
    const body = r.sub(r.u32());
    if (id === SECTION.import) memoryPages = firstMemoryPages(body);
    else if (id === SECTION.data) data = { start, end: r.position, body };
  }
  if (memoryPages === undefined || !data) return undefined;
  const segments = readSegments(data.body, memoryPages * WASM_PAGE);
  if (!segments) return undefined;
  const activeBytes = segments.active.reduce((sum, s) => sum + s.bytes.length, 0);
  if (activeBytes < DATA_IMAGE_MIN_BYTES) return undefined;
  const runs = imageRuns(segments.active, activeBytes);
  if (!runs) return undefined;
  return {
    module: Buffer.concat([bytes.subarray(0, data.start), dataSection(segments.kept), bytes.subarray(data.end)]),
    image: imageOf(segments.active, runs),
    runs: runs.map((run) => [run.at, run.length]),
  };
}

/**
 * The initial pages of the module's memory 0 when the host makes it (the first memory import is
 * of STATE_MODULE, not shared); else undefined.
 */
function firstMemoryPages(body: Reader): number | undefined {
  for (let n = body.u32(); n > 0; n--) {
    const { module, kind } = importHead(body);
    if (kind !== MEMORY) {
      body.importDescription(kind);
      continue;
    }
    const flags = body.byte();
    const initial = body.u32();
    if (flags & 0x01) body.u32();
    return module === STATE_MODULE && flags <= 0x01 ? initial : undefined;
  }
  return undefined;
}

function importHead(body: Reader): { module: string; kind: number } {
  const module = body.name();
  body.nameBytes();
  return { module, kind: body.byte() };
}

/**
 * The active segments (each of memory 0 at an i32.const offset, inside `memoryBytes`) and every
 * segment as the new data section keeps it; undefined when an active segment is of another kind.
 */
function readSegments(body: Reader, memoryBytes: number): { active: ActiveSegment[]; kept: Uint8Array[] } | undefined {
  const active: ActiveSegment[] = [];
  const kept: Uint8Array[] = [];
  for (let n = body.u32(); n > 0; n--) {
    const start = body.position;
    const flags = body.u32();
    if (flags === 1) {
      body.sub(body.u32());
      kept.push(body.since(start));
      continue;
    }
    if (flags === 2 && body.u32() !== 0) return undefined;
    if (flags > 2 || body.byte() !== 0x41) return undefined;
    const at = body.s32() >>> 0;
    if (body.byte() !== 0x0b) return undefined;
    const length = body.u32();
    if (at + length > memoryBytes) return undefined;
    active.push({ at, bytes: body.sub(length).rest() });
    kept.push(EMPTY_ACTIVE_SEGMENT);
  }
  body.end();
  return { active, kept };
}

/** Flags 0 (active, memory 0), i32.const 0, end, no bytes. */
const EMPTY_ACTIVE_SEGMENT = Uint8Array.of(0x00, 0x41, 0x00, 0x0b, 0x00);

function dataSection(segments: Uint8Array[]): Uint8Array {
  const content = Buffer.concat([leb128(segments.length), ...segments]);
  return Buffer.concat([Uint8Array.of(SECTION.data), leb128(content.length), content]);
}

interface Run {
  at: number;
  length: number;
  /** Where its bytes start in the image. */
  offset: number;
}

/**
 * The memory ranges the segments cover, as runs: segments closer than MERGE_GAP share one while
 * the zeros between them stay under a quarter of the data (else only touching ones do), and at
 * most MAX_IMAGE_RUNS runs.
 */
function imageRuns(active: ActiveSegment[], activeBytes: number): Run[] | undefined {
  const byAddress = active.filter((s) => s.bytes.length > 0).sort((a, b) => a.at - b.at);
  const merged = (gap: number) => {
    const runs: Run[] = [];
    let size = 0;
    for (const { at, bytes } of byAddress) {
      const last = runs.at(-1);
      const end = at + bytes.length;
      if (last && at <= last.at + last.length + gap) {
        const grown = Math.max(last.at + last.length, end) - last.at;
        size += grown - last.length;
        last.length = grown;
      } else {
        runs.push({ at, length: bytes.length, offset: size });
        size += bytes.length;
      }
    }
    return { runs, size };
  };
  let { runs, size } = merged(MERGE_GAP);
  if (size > activeBytes * 1.25) ({ runs, size } = merged(0));
  return runs.length <= MAX_IMAGE_RUNS ? runs : undefined;
}

/** The image: each segment copied in the module's order, so that a later one wins where two overlap, as at instantiation. */
function imageOf(active: ActiveSegment[], runs: Run[]): Uint8Array {
  const last = runs.at(-1);
  const image = new Uint8Array(last ? last.offset + last.length : 0);
  for (const { at, bytes } of active) {
    if (bytes.length === 0) continue;
    const run = runHolding(runs, at);
    image.set(bytes, run.offset + at - run.at);
  }
  return image;
}

/** The run whose range holds `at` (every segment's start is in one). */
function runHolding(runs: Run[], at: number): Run {
  let low = 0;
  let high = runs.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (runs[middle]!.at <= at) low = middle;
    else high = middle - 1;
  }
  return runs[low]!;
}

/**
 * Reads an entry's image file into `memory`, run by run: a regular file (never through a link) of
 * the image's size exactly, each run inside the memory; else a LocalFileError.
 */
export function readImageInto(memory: WebAssembly.Memory, file: string, runs: ImageRun[]): void {
  const { fd, size } = openRegularFile(file, { followLinks: false });
  const expected = runs.reduce((sum, [, length]) => sum + length, 0);
  const fits = runs.every(([at, length]) => at + length <= memory.buffer.byteLength);
  if (size !== expected || !fits) {
    fs.closeSync(fd);
    throw new LocalFileError(file, size !== expected ? `is ${size} bytes, not the ${expected} its entry records` : 'holds data beyond its memory', 'io');
  }
  readOpenedFileInto(file, fd, runs.map(([at, length]) => new Uint8Array(memory.buffer, at, length)));
}
