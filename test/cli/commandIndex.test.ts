import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMANDS, commandNamed } from '../../src/cli/commandIndex.js';

const commandsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/commands');

test('the index routes each word to the class whose paths declare it', async (t) => {
  for (const entry of COMMANDS) {
    const commandClass = await entry.load();
    t.deepEqual((commandClass.paths ?? []).map((p) => p.join(' ')), [...entry.words], commandClass.name);
    for (const word of entry.words) t.is(commandNamed(word), entry, word);
  }
  t.is(commandNamed('lst'), undefined);
});

test('every command module is in the index', async (t) => {
  const indexed = new Set(await Promise.all(COMMANDS.map((c) => c.load())));
  const modules = fs.readdirSync(commandsDir).filter((f) => f.endsWith('.js'));
  t.true(modules.length >= COMMANDS.length);
  for (const file of modules) {
    const exported = Object.values(await import(path.join(commandsDir, file)) as Record<string, unknown>).filter((v) => typeof v === 'function' && 'paths' in v);
    t.true(exported.length > 0, file);
    for (const commandClass of exported) t.true(indexed.has(commandClass as never), `${file}: ${(commandClass as { name: string }).name}`);
  }
});
