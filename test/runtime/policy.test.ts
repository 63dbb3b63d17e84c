import test from 'ava';
import fc from 'fast-check';
import { checkDestination, resolveAgainstServer } from '../../src/runtime/policy.js';

const server = 'https://127.0.0.1:6443';
const prefixed = 'https://api.example.com/k8s/clusters/c-1';

const cases: { uri: string; server?: string; want: 'allowed' | 'destination-not-allowed' | 'invalid-url' }[] = [
  { uri: 'https://127.0.0.1:6443/api/v1/pods', want: 'allowed' },
  { uri: 'https://127.0.0.1:6443/api/v1/pods?watch=1#frag', want: 'allowed' },
  { uri: 'HTTPS://127.0.0.1:6443/version', want: 'allowed' },
  { uri: 'https://127.0.0.1:6444/api', want: 'destination-not-allowed' },
  { uri: 'http://127.0.0.1:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://localhost:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://127.0.0.2:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://user:pw@127.0.0.1:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://127.0.0.1:6443@evil.example/api', want: 'destination-not-allowed' },
  { uri: 'https://evil.example#@127.0.0.1:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://2130706433:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://0x7f000001:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://0177.0.0.1:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://127.1:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://%31%32%37.0.0.1:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://[::ffff:127.0.0.1]:6443/api', want: 'destination-not-allowed' },
  { uri: 'https://127.0.0.1.:6443/api', want: 'destination-not-allowed' },
  { uri: 'file:///etc/passwd', want: 'destination-not-allowed' },
  { uri: 'ftp://127.0.0.1:6443/', want: 'destination-not-allowed' },
  { uri: 'https://127.0.0.1:6443/api/%2e%2e/%2e%2e/secret', want: 'destination-not-allowed' },
  { uri: 'https://127.0.0.1:6443/api/v1/namespaces/a%2Fb/pods', want: 'destination-not-allowed' },
  { uri: 'not a url', want: 'invalid-url' },
  { uri: '/api/v1/pods', want: 'invalid-url' },
  { uri: 'https://127.0.0.1:6443/api\nHost: evil', want: 'invalid-url' },
  { uri: 'https://api.example.com/k8s/clusters/c-1/api/v1/pods', server: prefixed, want: 'allowed' },
  { uri: 'https://api.example.com/k8s/clusters/c-1', server: prefixed, want: 'allowed' },
  { uri: 'https://api.example.com:443/k8s/clusters/c-1/api', server: prefixed, want: 'allowed' },
  { uri: 'https://api.example.com/k8s/clusters/c-2/api', server: prefixed, want: 'destination-not-allowed' },
  { uri: 'https://api.example.com/k8s/clusters/c-10/api', server: prefixed, want: 'destination-not-allowed' },
  { uri: 'https://api.example.com/k8s/clusters/c-1/../c-2/api', server: prefixed, want: 'destination-not-allowed' },
  { uri: 'https://api.example.com/', server: prefixed, want: 'destination-not-allowed' },
  { uri: 'https://[::1]:6443/api', server: 'https://[::1]:6443', want: 'allowed' },
  { uri: 'https://[0:0::1]:6443/api', server: 'https://[::1]:6443', want: 'destination-not-allowed' },
];

for (const c of cases) {
  test(`policy: ${JSON.stringify(c.uri)} against ${c.server ?? server} -> ${c.want}`, (t) => {
    const verdict = checkDestination(c.uri, c.server ?? server);
    t.is(verdict.allowed ? 'allowed' : verdict.error, c.want, verdict.allowed ? '' : verdict.reason);
  });
}

test('paths resolve against the server URL, its path prefix included; protocol-relative URIs do not', (t) => {
  t.is(resolveAgainstServer('/api/v1/pods', prefixed), 'https://api.example.com/k8s/clusters/c-1/api/v1/pods');
  t.is(resolveAgainstServer('/version', `${server}/`), 'https://127.0.0.1:6443/version');
  t.is(resolveAgainstServer('//evil.example/api', server), '//evil.example/api');
  t.false(checkDestination(resolveAgainstServer('//evil.example/api', server), server).allowed);
});

test('property: a URL on any other host or port is never allowed', (t) => {
  const host = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6().map((a) => `[${a}]`));
  fc.assert(
    fc.property(host, fc.integer({ min: 1, max: 65535 }), fc.webPath(), (h, port, p) => {
      if ((h === '127.0.0.1' && port === 6443)) return true;
      return !checkDestination(`https://${h}:${port}${p}`, server).allowed;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: arbitrary strings never throw and are allowed only on the server origin', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 120 }), fc.webUrl(), (s, u) => {
      for (const uri of [s, u, `${server}${s}`]) {
        const v = checkDestination(uri, server);
        if (v.allowed && v.url.origin !== server) return false;
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
