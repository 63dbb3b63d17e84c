import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A test certificate authority and the certificates it issued, as PEM files in one folder. */
export interface TestPki {
  dir: string;
  caCert: string;
  caKey: string;
  /** Issues a server certificate for 127.0.0.1/localhost (and extra SANs). */
  server(name: string, sans?: string[]): { cert: string; key: string };
  /** Issues a client certificate with CN=user and O=groups (Kubernetes reads them so). */
  client(user: string, groups?: string[]): { cert: string; key: string };
  /** A self-signed signing certificate (for JWTs). */
  signer(name: string): { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates a fresh CA with openssl in a temporary folder. */
export function createPki(label = 'krew-wasm-test'): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-pki-'));
  const caKey = path.join(dir, 'ca.key');
  const caCert = path.join(dir, 'ca.crt');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', caCert, '-days', '2', '-subj', `/CN=${label} CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  let serial = 0;
  const issue = (name: string, subject: string, ext: string[]) => {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.crt`);
    const extFile = path.join(dir, `${name}.ext`);
    fs.writeFileSync(extFile, ext.join('\n') + '\n');
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject], dir);
    openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', String(++serial + 1000), '-days', '2',
      '-out', cert, '-extfile', extFile], dir);
    return { cert, key };
  };
  return {
    dir,
    caCert,
    caKey,
    server: (name, sans = []) =>
      issue(name, `/CN=${name}`, [
        `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...sans].join(',')}`,
        'extendedKeyUsage=serverAuth',
        'keyUsage=critical,digitalSignature,keyEncipherment',
      ]),
    client: (user, groups = []) =>
      issue(`client-${user}`, `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`, [
        'extendedKeyUsage=clientAuth',
        'keyUsage=critical,digitalSignature,keyEncipherment',
      ]),
    signer: (name) => {
      const key = path.join(dir, `${name}.key`);
      const cert = path.join(dir, `${name}.crt`);
      openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], dir);
      return { cert, key };
    },
  };
}
