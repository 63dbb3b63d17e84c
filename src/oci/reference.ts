import path from 'node:path';
import { InvalidReferenceError } from '../errors.js';

/** A parsed registry reference: `registry[:port]/repository[:tag][@digest]`. No IO. */
export interface Reference {
  /** Host and optional port as written, e.g. `localhost:5000`, `ghcr.io`. */
  registry: string;
  /** Repository path, e.g. `flavio/krew-wasm-plugins/kubewarden`. */
  repository: string;
  tag?: string;
  digest?: string;
}

/** Where a plugin comes from: a registry, an OCI image layout folder, or a wasm file. */
export type Source =
  | { kind: 'registry'; ref: Reference }
  | { kind: 'oci-layout'; dir: string; tag?: string; digest?: string }
  | { kind: 'file'; file: string };

const DEFAULT_REGISTRY = 'docker.io';
// The grammar of distribution/reference (reference/regexp.go), anchored piece by piece.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
const MAX_REFERENCE_LENGTH = 4096;

/** Parses a reference the way docker and oras do; the default tag is `latest`. */
export function parseReference(input: string): Reference {
  const fail = (why: string): never => {
    throw new InvalidReferenceError(`invalid reference "${input}": ${why}`, {
      hint: 'expected registry/repository[:tag][@sha256:digest], e.g. ghcr.io/org/plugins/foo:1.0',
    });
  };
  if (input.length === 0) fail('empty');
  if (input.length > MAX_REFERENCE_LENGTH) fail('too long');
  if (/\s/.test(input)) fail('contains white space');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) fail('unexpected URL scheme');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail(`bad digest "${digest}"`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) fail(`bad tag "${tag}"`);
  }

  let registry = DEFAULT_REGISTRY;
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      registry = first;
      repository = rest.slice(firstSlash + 1);
    }
  }
  if (!DOMAIN.test(registry)) fail(`bad registry "${registry}"`);
  const port = /:(\d+)$/.exec(registry)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) fail(`bad port ${port}`);
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  if (repository.length === 0) fail('missing repository');
  if (repository.length > 255) fail('repository name too long');
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) fail(`bad repository path component "${component}"`);
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, tag, digest };
}

/** Canonical text of a reference: registry/repository[:tag][@digest]. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The host name used on the wire: docker.io is served by registry-1.docker.io. */
export function registryHost(ref: Reference): string {
  return ref.registry === DEFAULT_REGISTRY ? 'registry-1.docker.io' : ref.registry;
}

/**
 * Parses any supported source: `oci-layout://DIR[:tag|@digest]`, `file://PATH`, a path (`./x.wasm`,
 * `../x.wasm`, `/abs/x.wasm`, as `run` takes it: no registry reference starts with `.` or `/`), or a registry reference.
 */
export function parseSource(input: string): Source {
  if (input.startsWith('oci-layout://')) return parseLayoutSource(input.slice('oci-layout://'.length), input);
  if (/^\.{0,2}\//.test(input)) return { kind: 'file', file: input };
  if (input.startsWith('file://')) {
    const file = input.slice('file://'.length);
    if (file.length === 0) throw new InvalidReferenceError(`invalid reference "${input}": missing file path`);
    return { kind: 'file', file };
  }
  return { kind: 'registry', ref: parseReference(input) };
}

function parseLayoutSource(body: string, input: string): Source {
  let dir = body;
  let digest: string | undefined;
  let tag: string | undefined;
  const at = dir.lastIndexOf('@');
  if (at >= 0) {
    digest = dir.slice(at + 1);
    dir = dir.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidReferenceError(`invalid reference "${input}": bad digest "${digest}"`);
  }
  const colon = dir.lastIndexOf(':');
  if (colon > dir.lastIndexOf('/')) {
    tag = dir.slice(colon + 1);
    dir = dir.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidReferenceError(`invalid reference "${input}": bad tag "${tag}"`);
  }
  if (dir.length === 0) throw new InvalidReferenceError(`invalid reference "${input}": missing layout directory`);
  return { kind: 'oci-layout', dir, tag, digest };
}

/**
 * Default plugin name where the source alone tells it: the last path segment of a repository, a
 * file's stem. An OCI layout's name comes from its annotations (see nameFromAnnotations), never
 * from its folder, which is usually called `layout`.
 */
export function defaultPluginName(source: Source): string | undefined {
  switch (source.kind) {
    case 'registry': return source.ref.repository.split('/').pop() as string;
    case 'oci-layout': return undefined;
    case 'file': return baseName(source.file).replace(/\.wasm$/, '');
  }
}

const TITLE = 'org.opencontainers.image.title';
const REF_NAME = 'org.opencontainers.image.ref.name';

/**
 * A plugin name from an artifact's annotations: its title, else a ref name that is a whole
 * reference (`ghcr.io/org/pods:1.0` -> `pods`; a bare tag says nothing), else the layer's file
 * name (`pods.wasm` -> `pods`). Undefined when none gives one.
 */
export function nameFromAnnotations(annotations: Record<string, string> | undefined, layerTitle: string | undefined): string | undefined {
  const refName = annotations?.[REF_NAME];
  const fromRef = refName && refName.includes('/') ? refName.replace(/[@].*$/, '').replace(/:[^/]*$/, '').split('/').pop() : undefined;
  const candidates = [annotations?.[TITLE], fromRef, layerTitle ? baseName(layerTitle).replace(/\.wasm$/i, '') : undefined];
  for (const candidate of candidates) {
    const name = candidate?.toLowerCase().replace(/^kubectl[-_]/, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
    if (name && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) return name;
  }
  return undefined;
}

/** A source with its local path made absolute against `cwd`, so that it means the same from anywhere. */
export function absoluteSource(source: Source, cwd: string): Source {
  switch (source.kind) {
    case 'registry': return source;
    case 'oci-layout': return recordableLayout({ ...source, dir: resolvePath(cwd, source.dir) });
    case 'file': return { ...source, file: resolvePath(cwd, source.file) };
  }
}

/**
 * A layout source whose text reads back as itself: a folder named `rel:2`, given as `./rel:2/` or
 * as `.` from inside it, was recorded as `oci-layout:///.../rel:2`, which reads back as folder
 * `rel` at tag `2`, and upgrade installed the sibling folder's plugin with the grants of this
 * one (attack 90).
 */
function recordableLayout(source: Extract<Source, { kind: 'oci-layout' }>): Source {
  let back: Source | undefined;
  try {
    back = parseSource(formatSource(source));
  } catch {
    back = undefined;
  }
  if (back?.kind !== 'oci-layout' || back.dir !== source.dir || back.tag !== source.tag || back.digest !== source.digest) {
    throw new InvalidReferenceError(`the OCI layout folder ${source.dir} has a ":" or "@" in its name, which a reference cannot tell from a tag or a digest`, {
      hint: 'rename the folder, or give it through a symbolic link whose name has neither',
    });
  }
  return source;
}

/** The text of a source, as parseSource reads it back. */
export function formatSource(source: Source): string {
  switch (source.kind) {
    case 'registry': return formatReference(source.ref);
    case 'oci-layout': return `oci-layout://${source.dir}${source.tag ? `:${source.tag}` : ''}${source.digest ? `@${source.digest}` : ''}`;
    case 'file': return `file://${source.file}`;
  }
}

/** Whether a source names content by digest (an upgrade leaves it alone). */
export function isPinned(source: Source): boolean {
  return (source.kind === 'registry' && source.ref.digest !== undefined) || (source.kind === 'oci-layout' && source.digest !== undefined);
}

function resolvePath(cwd: string, p: string): string {
  return path.resolve(cwd, p);
}

function baseName(p: string): string {
  return p.split('/').pop() ?? p;
}
