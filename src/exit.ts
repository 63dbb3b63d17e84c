/**
 * Ends the process with `code` once what was written to stdout and stderr has left: a pipe whose
 * reader is slow holds queued writes that exit would drop. (The shim's IO worker keeps the event
 * loop alive, so both modes end explicitly.)
 */
export async function exitWhenDrained(code: number): Promise<never> {
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
