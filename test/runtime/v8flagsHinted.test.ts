import test from 'ava';
import v8 from 'node:v8';
import { restoreDefaultV8Flags, setV8Flags } from '../../src/builtin.js';
import { HINTED_V8_FLAGS, hintsWork } from '../../src/runtime/compileHints.js';
import { BIG_MODULE_V8_FLAGS } from '../../src/runtime/compile.js';

/**
 * The flags of a big plugin's run that follows its compilation hints, and the natives syntax a
 * recording run turns on and off again (runtime/compileHints.ts), set as a run sets them, in a
 * process of their own: at exit they go back to V8's start-up set, or the code caches written then
 * would be refused by every next start.
 */
test("a hinted run's flags and a recording run's natives syntax are put back for the code caches", (t) => {
  const before = v8.cachedDataVersionTag();
  setV8Flags(BIG_MODULE_V8_FLAGS);
  // As a run sets them: only where V8 follows hints (Node 24's V8 keeps its --experimental on).
  if (hintsWork()) setV8Flags(HINTED_V8_FLAGS);
  setV8Flags('--allow-natives-syntax');
  setV8Flags('--no-allow-natives-syntax');
  t.not(v8.cachedDataVersionTag(), before, 'the flags changed what V8 tags code caches with');
  t.true(restoreDefaultV8Flags());
  t.is(v8.cachedDataVersionTag(), before);
});
