import test from 'ava';
import { defaultPluginName, parseSource } from '../../src/oci/reference.js';

// pull takes a path as run does: ./x.wasm, ../x.wasm and /abs/x.wasm are files, like file://PATH.
const cases: { input: string; want: ReturnType<typeof parseSource>; name: string }[] = [
  { input: './pods.wasm', want: { kind: 'file', file: './pods.wasm' }, name: 'pods' },
  { input: '../build/pods.wasm', want: { kind: 'file', file: '../build/pods.wasm' }, name: 'pods' },
  { input: '/abs/dir/kubectl-tool.wasm', want: { kind: 'file', file: '/abs/dir/kubectl-tool.wasm' }, name: 'kubectl-tool' },
  { input: 'file://./pods.wasm', want: { kind: 'file', file: './pods.wasm' }, name: 'pods' },
  { input: 'file:///abs/pods.wasm', want: { kind: 'file', file: '/abs/pods.wasm' }, name: 'pods' },
  { input: 'localhost:5000/plugins/pods:1.0', want: { kind: 'registry', ref: { registry: 'localhost:5000', repository: 'plugins/pods', tag: '1.0', digest: undefined } }, name: 'pods' },
  { input: 'ghcr.io/org/pods', want: { kind: 'registry', ref: { registry: 'ghcr.io', repository: 'org/pods', tag: 'latest', digest: undefined } }, name: 'pods' },
];

for (const { input, want, name } of cases) {
  test(`parseSource("${input}")`, (t) => {
    const source = parseSource(input);
    t.deepEqual(source, want);
    t.is(defaultPluginName(source), name);
  });
}

test('a name that only looks like a path is still a reference (and invalid)', (t) => {
  t.throws(() => parseSource('.hidden/pods'), { message: /^invalid reference "\.hidden\/pods"/ });
});
