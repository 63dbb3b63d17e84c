import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump } from 'js-yaml';

/** How a test registry authenticates and serves. */
export interface RegistryOptions {
  tls?: { cert: string; key: string };
  htpasswd?: { user: string; password: string };
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

/** A real Debian docker-registry (distribution 2.8) on 127.0.0.1 with a random port. */
export interface TestRegistry {
  /** host:port, as used in references. */
  host: string;
  /** http(s)://host:port */
  url: string;
  /** Where the registry keeps its blobs (for tamper tests). */
  storageDir: string;
  stop(): Promise<void>;
}

/** Starts a registry with its own storage folder and waits until it listens. */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krew-wasm-registry-'));
  const storageDir = path.join(dir, 'storage');
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'info', formatter: 'text', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: storageDir }, delete: { enabled: true } },
    http: { addr: '127.0.0.1:0', secret: 'krew-wasm-test-secret' },
  };
  const http = config.http as Record<string, unknown>;
  if (options.tls) http.tls = { certificate: options.tls.cert, key: options.tls.key };
  if (options.htpasswd) {
    const file = path.join(dir, 'htpasswd');
    fs.writeFileSync(file, execFileSync('htpasswd', ['-Bbn', options.htpasswd.user, options.htpasswd.password]));
    config.auth = { htpasswd: { realm: 'krew-wasm-test', path: file } };
  }
  if (options.token) {
    config.auth = {
      token: {
        realm: options.token.realm,
        service: options.token.service,
        issuer: options.token.issuer,
        rootcertbundle: options.token.rootCertBundle,
      },
    };
  }
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(configFile, dump(config));
  const child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await waitForPort(child);
  const scheme = options.tls ? 'https' : 'http';
  return {
    host: `127.0.0.1:${port}`,
    url: `${scheme}://127.0.0.1:${port}`,
    storageDir,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function waitForPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`docker-registry did not start:\n${log}`));
    }, 15_000);
    const onData = (data: Buffer) => {
      log += data.toString();
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`docker-registry exited with ${code}:\n${log}`));
    });
  });
}

/** Path of a blob's data file inside the registry storage (distribution's filesystem driver layout). */
export function blobDataPath(storageDir: string, digest: string): string {
  const hex = digest.split(':')[1];
  return path.join(storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}
