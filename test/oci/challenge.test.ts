import test from 'ava';
import fc from 'fast-check';
import { parseChallenge } from '../../src/oci/auth/challenge.js';

const cases: { name: string; input: string; want: ReturnType<typeof parseChallenge> }[] = [
  {
    name: 'docker hub style bearer',
    input: 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    want: { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
  },
  { name: 'basic', input: 'Basic realm="Registry Realm"', want: { scheme: 'basic', params: { realm: 'Registry Realm' } } },
  {
    name: 'comma inside a quoted scope, spaces around separators',
    input: 'Bearer realm="https://r/t" , scope="repository:a:pull,push" ,service=svc',
    want: { scheme: 'bearer', params: { realm: 'https://r/t', scope: 'repository:a:pull,push', service: 'svc' } },
  },
  { name: 'escaped quote', input: 'Bearer realm="a\\"b"', want: { scheme: 'bearer', params: { realm: 'a"b' } } },
  {
    name: 'error parameters from distribution',
    input: 'Bearer realm="https://r/t",service="s",scope="repository:x:pull",error="insufficient_scope"',
    want: { scheme: 'bearer', params: { realm: 'https://r/t', service: 's', scope: 'repository:x:pull', error: 'insufficient_scope' } },
  },
  { name: 'scheme case-insensitive', input: 'BEARER Realm="x"', want: { scheme: 'bearer', params: { realm: 'x' } } },
  { name: 'unterminated quote', input: 'Bearer realm="x', want: undefined },
  { name: 'empty', input: '', want: undefined },
];

for (const c of cases) {
  test(`WWW-Authenticate: ${c.name}`, (t) => {
    t.deepEqual(parseChallenge(c.input), c.want);
  });
}

test('property: quoted values survive a round trip through the header syntax', (t) => {
  const value = fc.string({ maxLength: 40 });
  fc.assert(
    fc.property(value, value, (realm, scope) => {
      const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
      const parsed = parseChallenge(`Bearer realm=${q(realm)},scope=${q(scope)}`);
      return parsed?.params.realm === realm && parsed.params.scope === scope;
    }),
  );
  t.pass();
});

test('property: never throws on arbitrary input', (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => { parseChallenge(s); return true; }), { numRuns: 3000 });
  t.pass();
});
