import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback token server for the registry's token auth (distribution docs/spec/auth/token.md). */
export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** How many tokens were issued (to check the client caches them). */
  issued(): number;
  /** The Authorization header of every request it received (undefined when none was sent). */
  authorizations: (string | undefined)[];
  stop(): Promise<void>;
}

/**
 * Issues RS256 JWTs signed with `signer` (its certificate travels in the x5c header and is the
 * registry's rootcertbundle) to callers presenting the right Basic credentials; anonymous callers
 * get 401. Each token grants what was asked for in `scope`.
 */
export async function startTokenServer(signer: { cert: string; key: string }, creds: { user: string; password: string }): Promise<TokenServer> {
  const key = fs.readFileSync(signer.key);
  const certDer = new X509Certificate(fs.readFileSync(signer.cert)).raw.toString('base64');
  const service = 'krew-wasm-test-registry';
  const issuer = 'krew-wasm-test-issuer';
  let issued = 0;
  const authorizations: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    const url = new URL(req.url ?? '/', 'http://x');
    const expected = `Basic ${Buffer.from(`${creds.user}:${creds.password}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ details: 'bad credentials' }));
      return;
    }
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const header = b64({ alg: 'RS256', typ: 'JWT', x5c: [certDer] });
    const claims = b64({ iss: issuer, sub: creds.user, aud: url.searchParams.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access });
    const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key).toString('base64url');
    issued++;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${signature}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    issued: () => issued,
    authorizations,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
