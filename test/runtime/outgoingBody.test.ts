import test from 'ava';
import { OutgoingBody } from '../../src/runtime/hosts/wasiHttp/types.js';

/**
 * What a request body's stream hands to the transport for the writes a plugin shapes (attack 98:
 * each write was an object of its own, ~200 bytes of host memory that no count saw, and an empty
 * write counted nothing at all). The e2e test (wasiHttp.test.ts, httpstreams tiny) watches memory.
 */

function transport() {
  const writes: number[] = [];
  return { writes, target: { write: (bytes: Uint8Array) => void writes.push(bytes.length), finish() {}, abort() {} } };
}

test('empty writes hand nothing to the transport, before the request is sent or after', (t) => {
  const body = new OutgoingBody();
  const stream = body.write();
  for (let i = 0; i < 1000; i++) stream.write(new Uint8Array(0));
  const { writes, target } = transport();
  body.attach(target);
  for (let i = 0; i < 1000; i++) stream.write(new Uint8Array(0));
  t.deepEqual(writes, []);
  stream.write(new Uint8Array(3));
  t.deepEqual(writes, [3]);
});

test('bytes written before the request is sent go to it as one write, in order, whatever their writes', (t) => {
  const body = new OutgoingBody();
  const stream = body.write();
  for (let i = 0; i < 5000; i++) stream.write(Uint8Array.of(i & 0xff));
  stream.write(Uint8Array.of(1, 2, 3));
  const sent: Uint8Array[] = [];
  body.attach({ write: (bytes) => void sent.push(Uint8Array.from(bytes)), finish() {}, abort() {} });
  t.is(sent.length, 1);
  t.is(sent[0].length, 5003);
  t.true(sent[0].subarray(0, 5000).every((b, i) => b === (i & 0xff)));
  t.deepEqual([...sent[0].subarray(5000)], [1, 2, 3]);
});
