import path from 'node:path';
import { DamagedReceiptError, StoreConflictError } from '../errors.js';
import { shellWord } from '../printable.js';
import { normalizeGrants, type Grants } from '../grants.js';
import { atomicWriteFile, LocalFileError, readRegularText } from './fsutil.js';
import { isSafePluginName } from './paths.js';

/** How to reach the registry again (upgrade, repair hints): the options the plugin was pulled with. */
export interface ReceiptTransport {
  plainHttp?: boolean;
  /** Absolute path of the CA file given with --ca-file. */
  caFile?: string;
  insecure?: boolean;
}

/** What was installed under a name; written last, so a receipt means "installed" (as in krew). */
export interface Receipt {
  apiVersion: 'krew-wasm/v1';
  name: string;
  /** The source as the user meant it: a registry reference, or a local source with an absolute path. */
  source: string;
  /** Digest of the resolved image manifest; absent for file:// sources. */
  manifestDigest?: string;
  /** sha256 digest of the wasm layer; its hex names the store entry. */
  layerDigest: string;
  mediaTypes: { manifest?: string; config?: string; layer: string; artifactType?: string };
  /** Size of the wasm layer in bytes. */
  size: number;
  pulledAt: string;
  grants: Grants;
  /** The artifact's annotations (org.opencontainers.image.title, .description, .version, ...). */
  annotations?: Record<string, string>;
  transport?: ReceiptTransport;
}

const KNOWN_FIELDS = new Set(['apiVersion', 'name', 'source', 'manifestDigest', 'layerDigest', 'mediaTypes', 'size', 'pulledAt', 'grants', 'annotations', 'transport']);
const KNOWN_GRANTS = new Set(['filesystem', 'dirs', 'dataDir', 'env', 'network', 'timeoutSeconds', 'maxMemoryMiB']);
const SHA256 = /^sha256:[0-9a-f]{64}$/;
const MANIFEST_DIGEST = /^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/;
const MAX_RECEIPT_BYTES = 1024 * 1024;
const PRINTABLE = /^[^\x00-\x1f\x7f]*$/;

/**
 * Reads and checks the receipt of `name`; undefined when there is none. A receipt that fails its
 * check (syntax, digests, known fields, grant schema) is a DamagedReceiptError: nothing of it is
 * used, so a tampered receipt can neither point the store elsewhere nor widen grants.
 */
export function readReceipt(file: string, name = path.basename(file, '.json')): Receipt | undefined {
  let text: string;
  try {
    text = readRegularText(file, MAX_RECEIPT_BYTES);
  } catch (error) {
    if (error instanceof LocalFileError && error.reason === 'missing') return undefined;
    throw damaged(name, error instanceof LocalFileError ? `its file ${error.detail}` : (error as Error).message, undefined);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged(name, 'it is not JSON', undefined);
  }
  const problem = receiptProblem(raw, name);
  if (problem) throw damaged(name, problem, raw);
  const r = raw as Receipt;
  return { ...r, grants: normalizeGrants(r.grants) };
}

/**
 * The folders a receipt grants (`--allow-dir`), read without the receipt's whole check (half the
 * time of readReceipt): for a run that pins the ways to other plugins' grants, which only ever adds
 * rules. None from a receipt that is gone or is no receipt; a LocalFileError when it cannot be read.
 */
export function readGrantedFolders(file: string): string[] {
  try {
    const dirs = (JSON.parse(readRegularText(file, MAX_RECEIPT_BYTES)) as { grants?: { dirs?: unknown } })?.grants?.dirs;
    return Array.isArray(dirs) ? dirs.map((d: { path?: unknown }) => d?.path).filter((p): p is string => typeof p === 'string' && p.startsWith('/')) : [];
  } catch (error) {
    // A receipt that could not be read at all (no descriptor left: a plugin can hold them all) says
    // nothing of its grants: the caller's check fails (attack 68). One removed meanwhile, or not a
    // receipt, grants nothing.
    if (error instanceof LocalFileError && error.reason === 'io') throw error;
    return [];
  }
}

export function writeReceipt(file: string, receipt: Receipt): void {
  atomicWriteFile(file, receiptText(receipt));
}

/**
 * A receipt as its file holds it; refused when its reader would refuse it (larger than
 * MAX_RECEIPT_BYTES, or a field the reader's check refuses: a `file://` source past 4096
 * characters, attack 89), so that no command writes a receipt that reads as damaged. Fields an
 * artifact fills are bounded far below (annotations, media types: attacks 87 and 88).
 */
export function receiptText(receipt: Receipt): string {
  const text = `${JSON.stringify(receipt, null, 2)}\n`;
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_RECEIPT_BYTES) {
    throw new StoreConflictError(`the receipt of plugin "${receipt.name}" would be ${bytes} bytes, more than the ${MAX_RECEIPT_BYTES} its reader takes: nothing was written`);
  }
  const problem = receiptProblem(JSON.parse(text), receipt.name);
  if (problem) throw new StoreConflictError(`the receipt of plugin "${receipt.name}" would not read back (${problem}): nothing was written`);
  return text;
}

/** Hex part of a sha256 digest: the store entry's folder name. Anything else never reaches a path. */
export function digestHex(digest: string): string {
  if (!SHA256.test(digest)) throw new Error(`not a sha256 digest: ${JSON.stringify(digest).slice(0, 80)}`);
  return digest.slice('sha256:'.length);
}

/** The command that reinstalls a plugin from its source, with the registry options it was pulled with. */
export function reinstallCommand(name: string, source: string | undefined, transport?: ReceiptTransport): string {
  const flags = [
    transport?.plainHttp ? ' --plain-http' : '',
    transport?.caFile ? ` --ca-file ${shellWord(transport.caFile)}` : '',
    transport?.insecure ? ' --insecure' : '',
  ].join('');
  return `krew-wasm pull --force ${source === undefined ? '<reference>' : shellWord(source)} --name ${name}${flags}`;
}

function damaged(name: string, why: string, raw: unknown): DamagedReceiptError {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const source = typeof r.source === 'string' && r.source.length <= 4096 && PRINTABLE.test(r.source) && !/\s/.test(r.source) ? r.source : undefined;
  const plainHttp = typeof r.transport === 'object' && r.transport !== null && (r.transport as ReceiptTransport).plainHttp === true;
  const shown = isSafePluginName(name) ? name : JSON.stringify(name);
  return new DamagedReceiptError(`the receipt of plugin ${shown} is damaged: ${why}`, {
    pluginName: name,
    hint: `remove it with krew-wasm rm ${shown}, then reinstall: ${reinstallCommand(shown, source, plainHttp ? { plainHttp } : undefined)}`,
  });
}

/** What is wrong with a parsed receipt, or undefined when nothing is. */
export function receiptProblem(raw: unknown, name: string): string | undefined {
  if (!isObject(raw)) return 'it is not a JSON object';
  const unknown = Object.keys(raw).filter((k) => !KNOWN_FIELDS.has(k));
  if (unknown.length > 0) return `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}`;
  if (raw.apiVersion !== 'krew-wasm/v1') return `apiVersion is not krew-wasm/v1`;
  if (raw.name !== name || !isSafePluginName(name)) return `its name ${JSON.stringify(raw.name)} is not its file name`;
  if (typeof raw.source !== 'string' || raw.source.length === 0 || raw.source.length > 4096 || !PRINTABLE.test(raw.source)) return 'source is not a reference';
  if (typeof raw.layerDigest !== 'string' || !SHA256.test(raw.layerDigest)) return `layerDigest ${JSON.stringify(raw.layerDigest)} is not sha256:<64 hex digits>`;
  if (raw.manifestDigest !== undefined && (typeof raw.manifestDigest !== 'string' || !MANIFEST_DIGEST.test(raw.manifestDigest))) {
    return `manifestDigest ${JSON.stringify(raw.manifestDigest)} is not a digest`;
  }
  if (!isObject(raw.mediaTypes) || typeof raw.mediaTypes.layer !== 'string'
    || !['manifest', 'config', 'artifactType'].every((k) => optionalString((raw.mediaTypes as Record<string, unknown>)[k]))) return 'mediaTypes is malformed';
  if (typeof raw.size !== 'number' || !Number.isSafeInteger(raw.size) || raw.size < 0) return 'size is not a byte count';
  if (typeof raw.pulledAt !== 'string' || Number.isNaN(Date.parse(raw.pulledAt))) return 'pulledAt is not a date';
  if (raw.annotations !== undefined && (!isObject(raw.annotations) || !Object.values(raw.annotations).every((v) => typeof v === 'string'))) return 'annotations are malformed';
  if (raw.transport !== undefined && transportProblem(raw.transport)) return `transport ${transportProblem(raw.transport)}`;
  const grants = grantsProblem(raw.grants);
  return grants ? `grants: ${grants}` : undefined;
}

function transportProblem(t: unknown): string | undefined {
  if (!isObject(t)) return 'is not an object';
  if (Object.keys(t).some((k) => k !== 'plainHttp' && k !== 'caFile' && k !== 'insecure')) return 'has unknown fields';
  if (!optionalBoolean(t.plainHttp) || !optionalBoolean(t.insecure)) return 'is malformed';
  if (t.caFile !== undefined && (typeof t.caFile !== 'string' || !path.isAbsolute(t.caFile) || !PRINTABLE.test(t.caFile))) return 'caFile is not an absolute path';
  return undefined;
}

/** The grant schema: every known field with a valid value; missing ones take their defaults. */
function grantsProblem(g: unknown): string | undefined {
  if (!isObject(g)) return 'not an object';
  const unknown = Object.keys(g).filter((k) => !KNOWN_GRANTS.has(k));
  if (unknown.length > 0) return `unknown grant ${unknown.map((k) => JSON.stringify(k)).join(', ')}`;
  if (g.filesystem !== undefined && !['home', 'kubeconfig', 'none'].includes(g.filesystem as string)) return `filesystem ${JSON.stringify(g.filesystem)} is not home, kubeconfig or none`;
  if (g.network !== undefined && !['api-server', 'none'].includes(g.network as string)) return `network ${JSON.stringify(g.network)} is not api-server or none`;
  if (!optionalBoolean(g.dataDir)) return 'dataDir is not true or false';
  if (g.dirs !== undefined) {
    if (!Array.isArray(g.dirs)) return 'dirs is not a list';
    for (const d of g.dirs) {
      if (!isObject(d) || typeof d.path !== 'string' || !path.isAbsolute(d.path) || d.path.includes('\0') || !optionalBoolean(d.readOnly)
        || Object.keys(d).some((k) => k !== 'path' && k !== 'readOnly')) return 'a folder grant is not {path (absolute), readOnly}';
    }
  }
  if (g.env !== undefined && !envGrantIsValid(g.env)) return 'env is not all, only some variables or all except some';
  for (const limit of ['timeoutSeconds', 'maxMemoryMiB'] as const) {
    const v = g[limit];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) return `${limit} is not a positive number`;
  }
  return undefined;
}

/** `{mode: 'only' | 'all-except', names}`, or the older `'all'` and plain list that normalizeGrants migrates. */
function envGrantIsValid(env: unknown): boolean {
  const names = (v: unknown) => Array.isArray(v) && v.every((n) => typeof n === 'string' && /^[^=\s\0]+$/.test(n));
  if (env === 'all' || names(env)) return true;
  return isObject(env) && (env.mode === 'only' || env.mode === 'all-except') && names(env.names)
    && Object.keys(env).every((k) => k === 'mode' || k === 'names');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(v: unknown): boolean {
  return v === undefined || typeof v === 'string';
}

function optionalBoolean(v: unknown): boolean {
  return v === undefined || typeof v === 'boolean';
}
