import test from 'ava';
import { isInside } from '../src/hostPaths.js';

test('isInside: a folder and what is below it, not its parent nor its neighbours; a name starting with two dots is a name', (t) => {
  t.true(isInside('/a/b', '/a/b'));
  t.true(isInside('/a/b/c', '/a/b'));
  t.true(isInside('/a/b/..x', '/a/b'), '..x is a child of /a/b');
  t.true(isInside('/a/b/..x/y', '/a/b'));
  t.false(isInside('/a', '/a/b'));
  t.false(isInside('/a/bc', '/a/b'));
  t.false(isInside('/a/c/..x', '/a/b'));
  t.false(isInside('/x/y', '/a/b'));
});
