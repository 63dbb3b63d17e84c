import fs from 'node:fs';
import path from 'node:path';

/**
 * Entry point. krew-wasm is in wrapper mode exactly when it was started through a `kubectl-<name>`
 * link (basename of argv[1]); anything else, including an absolute path to krew-wasm itself, is
 * direct mode. Wrapper mode never loads the CLI framework, the OCI client or the transpiler.
 */
export async function main(): Promise<void> {
  const invokedAs = path.basename(process.argv[1] ?? '');
  let code: number;
  if (/^kubectl-./.test(invokedAs)) {
    const { wrapperMain } = await import('./wrapper.js');
    code = await wrapperMain(invokedAs, process.argv.slice(2));
  } else {
    const { runCli } = await import('./cli/cli.js');
    code = await runCli(process.argv.slice(2), executablePath());
  }
  // The shim's IO worker keeps the event loop alive, so we end explicitly; but only after what the
  // plugin wrote has left: a pipe whose reader is slow holds queued writes that exit would drop.
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableLength === 0) return resolve();
    stream.once('error', () => resolve());
    stream.write('', () => resolve());
  });
}

/** The file kubectl-* links should point at: the real path of the script we were started as. */
function executablePath(): string {
  const script = process.argv[1];
  try {
    return fs.realpathSync(script);
  } catch {
    return path.resolve(script);
  }
}
