import test from 'ava';
import fc from 'fast-check';
import { InvalidReferenceError } from '../../src/errors.js';
import { absoluteSource, defaultPluginName, formatReference, formatSource, isPinned, nameFromAnnotations, parseReference, parseSource } from '../../src/oci/reference.js';

const D = `sha256:${'a'.repeat(64)}`;

const valid: { input: string; want: { registry: string; repository: string; tag?: string; digest?: string } }[] = [
  { input: 'ghcr.io/flavio/krew-wasm-plugins/kubewarden:latest', want: { registry: 'ghcr.io', repository: 'flavio/krew-wasm-plugins/kubewarden', tag: 'latest' } },
  { input: 'ghcr.io/org/plugins/foo', want: { registry: 'ghcr.io', repository: 'org/plugins/foo', tag: 'latest' } },
  { input: 'localhost:5000/x', want: { registry: 'localhost:5000', repository: 'x', tag: 'latest' } },
  { input: 'localhost/x:1', want: { registry: 'localhost', repository: 'x', tag: '1' } },
  { input: '127.0.0.1:5000/a/b:v1.2.3', want: { registry: '127.0.0.1:5000', repository: 'a/b', tag: 'v1.2.3' } },
  { input: `registry.example.com/a@${D}`, want: { registry: 'registry.example.com', repository: 'a', digest: D } },
  { input: `registry.example.com/a:1.0@${D}`, want: { registry: 'registry.example.com', repository: 'a', tag: '1.0', digest: D } },
  { input: 'foo/bar', want: { registry: 'docker.io', repository: 'foo/bar', tag: 'latest' } },
  { input: 'alpine', want: { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' } },
  { input: '[::1]:5000/x:2', want: { registry: '[::1]:5000', repository: 'x', tag: '2' } },
  { input: 'r.io/a__b/c-d.e:Tag_1', want: { registry: 'r.io', repository: 'a__b/c-d.e', tag: 'Tag_1' } },
];

for (const { input, want } of valid) {
  test(`parses ${input}`, (t) => {
    t.deepEqual(parseReference(input), { tag: undefined, digest: undefined, ...want });
  });
}

const invalid = ['', 'r.io/UPPER', 'r.io/a//b', 'r.io/-a', 'r.io/a:', 'r.io/a:-x', `r.io/a@sha256:${'z'.repeat(64)}`, 'r.io/a@md5:abc', 'r.io:99999/a', 'https://r.io/a', 'r.io/a b', 'r.io/', `r.io/a:${'t'.repeat(129)}`];
for (const input of invalid) {
  test(`rejects ${JSON.stringify(input)}`, (t) => {
    t.throws(() => parseReference(input), { instanceOf: InvalidReferenceError });
  });
}

test('format(parse(x)) round-trips canonical references', (t) => {
  for (const input of ['ghcr.io/a/b:1', `localhost:5000/x@${D}`, 'docker.io/library/alpine:latest']) {
    t.is(formatReference(parseReference(input)), input);
  }
});

test('property: any generated valid reference parses back to its parts', (t) => {
  const component = fc.stringMatching(/^[a-z0-9]+([._-][a-z0-9]+)?$/).filter((s) => s.length <= 30);
  const host = fc.oneof(fc.constant('localhost'), fc.stringMatching(/^[a-z][a-z0-9]{0,10}\.[a-z]{2,5}$/));
  const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
  const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
  fc.assert(
    fc.property(host, port, fc.array(component, { minLength: 1, maxLength: 4 }), tag, (h, p, parts, tg) => {
      const registry = p === undefined ? h : `${h}:${p}`;
      const ref = parseReference(`${registry}/${parts.join('/')}:${tg}`);
      return ref.registry === registry && ref.repository === parts.join('/') && ref.tag === tg;
    }),
  );
  t.pass();
});

test('property: arbitrary strings either parse or throw InvalidReferenceError, never anything else', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (s) => {
      try {
        parseReference(s);
      } catch (error) {
        return error instanceof InvalidReferenceError;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('local sources and default names', (t) => {
  t.deepEqual(parseSource('oci-layout://./dir:v1'), { kind: 'oci-layout', dir: './dir', tag: 'v1', digest: undefined });
  t.deepEqual(parseSource(`oci-layout:///abs/dir@${D}`), { kind: 'oci-layout', dir: '/abs/dir', tag: undefined, digest: D });
  t.deepEqual(parseSource('file://./x/plugin.wasm'), { kind: 'file', file: './x/plugin.wasm' });
  t.is(defaultPluginName(parseSource('ghcr.io/flavio/krew-wasm-plugins/kubewarden:latest')), 'kubewarden');
  t.is(defaultPluginName(parseSource('file:///tmp/foo.wasm')), 'foo');
  t.is(defaultPluginName(parseSource('oci-layout://build/layout:1')), undefined, 'never the folder name');
});

test('relative local sources are stored absolute; registry references as they are', (t) => {
  const cwd = '/home/me/work';
  t.is(formatSource(absoluteSource(parseSource('oci-layout://./build/layout:1.0'), cwd)), 'oci-layout:///home/me/work/build/layout:1.0');
  t.is(formatSource(absoluteSource(parseSource(`oci-layout://../x@${D}`), cwd)), `oci-layout:///home/me/x@${D}`);
  t.is(formatSource(absoluteSource(parseSource('file://./p.wasm'), cwd)), 'file:///home/me/work/p.wasm');
  t.is(formatSource(absoluteSource(parseSource('file:///abs/p.wasm'), cwd)), 'file:///abs/p.wasm');
  t.is(formatSource(absoluteSource(parseSource('r.io/a/b:1'), cwd)), 'r.io/a/b:1');
});

test('pinned sources: a registry digest or a layout digest', (t) => {
  t.true(isPinned(parseSource(`r.io/a@${D}`)));
  t.true(isPinned(parseSource(`oci-layout:///x@${D}`)));
  t.false(isPinned(parseSource('r.io/a:1')));
  t.false(isPinned(parseSource('oci-layout:///x:1')));
  t.false(isPinned(parseSource('file:///x.wasm')));
});

const TITLE = 'org.opencontainers.image.title';
const REF = 'org.opencontainers.image.ref.name';
const names: { name: string; annotations?: Record<string, string>; layerTitle?: string; want: string | undefined }[] = [
  { name: 'the title annotation', annotations: { [TITLE]: 'Pods' }, layerTitle: 'other.wasm', want: 'pods' },
  { name: 'a ref name that is a whole reference', annotations: { [REF]: 'ghcr.io/org/plugins/kube-tree:1.0' }, want: 'kube-tree' },
  { name: 'a bare tag as ref name says nothing; the layer file name does', annotations: { [REF]: '1.0' }, layerTitle: 'pods.wasm', want: 'pods' },
  { name: 'a kubectl- file name', layerTitle: 'kubectl-whoami.wasm', want: 'whoami' },
  { name: 'a title made safe', annotations: { [TITLE]: 'My Plugin!' }, want: 'my-plugin' },
  { name: 'nothing usable', annotations: { [TITLE]: '!!!', [REF]: 'v1' }, want: undefined },
  { name: 'no annotations at all', want: undefined },
];
for (const c of names) {
  test(`layout plugin name: ${c.name}`, (t) => {
    t.is(nameFromAnnotations(c.annotations, c.layerTitle), c.want);
  });
}
