import test from 'ava';
import { MAX_HANDLES, TooManyHandles } from '../../src/runtime/limits.js';
import { FdTable } from '../../src/runtime/preview1/host.js';

test('a preview1 module holds at most MAX_HANDLES descriptors, as a component its handles: the next one ends the run', (t) => {
  // Its table had no bound: a plugin opened files until the process had no descriptor left, and
  // the host's own checks then had none either (attack 68); each entry is host memory too.
  const table = new FdTable({ args: [], env: {} } as unknown as ConstructorParameters<typeof FdTable>[0]);
  const entry = { kind: 'stdout', rights: 0n, fdflags: 0 } as unknown as Parameters<FdTable['add']>[0];
  for (let i = 3; i < MAX_HANDLES; i++) table.add(entry);
  const error = t.throws(() => table.add(entry));
  t.true(error instanceof TooManyHandles);
  t.true(table.has(MAX_HANDLES - 1));
  t.false(table.has(MAX_HANDLES));
});

test('a preview1 descriptor is the lowest one free, as POSIX gives it', (t) => {
  const table = new FdTable({ args: [], env: {} } as unknown as ConstructorParameters<typeof FdTable>[0]);
  const entry = { kind: 'stdout', rights: 0n, fdflags: 0 } as unknown as Parameters<FdTable['add']>[0];
  t.deepEqual([table.add(entry), table.add(entry), table.add(entry), table.add(entry)], [3, 4, 5, 6]);
  table.close(5);
  table.close(4);
  t.is(table.add(entry), 4);
  t.is(table.add(entry), 5);
  t.is(table.add(entry), 7);
  table.renumber(3, 6);
  t.is(table.add(entry), 3);
});
