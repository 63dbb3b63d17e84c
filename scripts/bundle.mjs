#!/usr/bin/env node
// Bundles krew-wasm with esbuild into two trees (Node resolves and evaluates one module per file,
// so fewer files is a faster start; see bench/):
//   dist/wrapper/  wrapper mode, CommonJS: wrapper.js, and the kubeconfig loader and the stale-entry
//                  refresh as files required only by the runs that need them.
//   dist/bundle/   direct mode, CommonJS: main.js, one file with a V8 code cache (scripts/codecache.mjs),
//                  and command-list.js (command-ls.js), the same without the other commands.
// The jco and shim packages stay external: they are loaded from node_modules only when needed.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  external: ['@bytecodealliance/*'],
  logLevel: 'warning',
  // Whitespace and syntax only, names kept (stack traces stay readable; the linked source maps
  // give the lines): the CLI bundle is read, hashed and its code cache deserialized on every
  // command, the wrapper bundle on every plugin run. At a third less source, `list` started
  // ~2 ms sooner (bench/RESULTS.md).
  minifyWhitespace: true,
  minifySyntax: true,
  // clipanion is CommonJS and requires Node built-ins; give ESM output a require() for that.
  banner: { js: "import { createRequire as __krewCreateRequire } from 'node:module'; const require = __krewCreateRequire(import.meta.url);" },
};

/**
 * In the wrapper bundle, the kubeconfig loader stays a separate file (see below), required through
 * src/builtin.ts requireSibling: with the bin's code cache, as the bundles are.
 */
const separateFiles = {
  name: 'separate-files',
  setup(b) {
    b.onResolve({ filter: /^\.\/kubeconfig\.js$/ }, (args) => (args.importer.endsWith('.ts') ? { path: 'kubeconfig.js', namespace: 'sibling' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'sibling' }, (args) => ({
      contents: `module.exports = require('./src/builtin.ts').requireSibling(${JSON.stringify(args.path)});`,
      resolveDir: root,
      loader: 'js',
    }));
  },
};

/**
 * In CommonJS output esbuild turns each `import fs from 'node:fs'` into __toESM(require('node:fs')),
 * copying every property of the built-in at each import site: ~2.7 ms of loading the wrapper bundle,
 * on every plugin run, for ~30 sites. Here each built-in our sources import becomes one ES module,
 * required once, whose default export is the built-in itself and whose named exports are the plain
 * data properties our sources import by name (never a getter: reading one can load more of Node,
 * as fs.promises does). Only those: the module's body reads each one at every start (~0.25 ms for
 * node:fs and node:path, fs.opendir loading Node's internal Dir module). A name imported in a form
 * the scan misses fails the build ("No matching export"), never a run.
 */
const namedImports = new Map();
for (const file of fs.readdirSync(path.join(root, 'src'), { recursive: true })) {
  if (!file.endsWith('.ts')) continue;
  const text = fs.readFileSync(path.join(root, 'src', file), 'utf8');
  for (const [, list, specifier] of text.matchAll(/import\s+(?:[\w$]+\s*,\s*)?\{([^}]*)\}\s*from\s*'(node:[^']+)'/g)) {
    const names = namedImports.get(specifier) ?? new Set();
    for (const part of list.split(',').map((p) => p.trim())) {
      if (part && !part.startsWith('type ')) names.add(part.split(/\s+as\s+/)[0]);
    }
    namedImports.set(specifier, names);
  }
}
const builtinsOnce = {
  name: 'builtins-once',
  setup(b) {
    const require = createRequire(import.meta.url);
    b.onResolve({ filter: /^node:/ }, (args) => (args.namespace === 'builtin-once' || !args.importer.endsWith('.ts') ? { path: args.path, external: true } : { path: args.path, namespace: 'builtin-once' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin-once' }, (args) => {
      // node:module is imported for createRequire alone (src/builtin.ts, a require for Node's
      // built-ins); in a CommonJS bundle that is the bundle's own require, and node:module, which
      // Node does not load at start-up, is ~0.4 ms of every run.
      if (args.path === 'node:module') return { contents: 'export const createRequire = () => require;', loader: 'js' };
      const builtin = require(args.path);
      const imported = namedImports.get(args.path) ?? new Set();
      const names = Object.keys(builtin).filter((n) => imported.has(n) && 'value' in Object.getOwnPropertyDescriptor(builtin, n));
      const contents = [`const m = require(${JSON.stringify(args.path)});`, 'export default m;', ...names.map((n) => `export const ${n} = m.${n};`)].join('\n');
      return { contents, loader: 'js' };
    });
  },
};

/**
 * clipanion, as direct mode uses it. Loading its Cli made process.stdin, stdout and stderr and
 * loaded node:tty for a colour depth (node:tty loads node:net and node:stream): ~4 ms of every
 * command, measured. krew-wasm gives every command its own streams (src/cli/stdio.ts) and turns
 * clipanion's colours and output capture off, the two things its node platform module is for, so
 * clipanion's own browser platform module (no node:tty) is used, and its default context keeps
 * the process's streams as getters that spreading the context does not call. The build fails
 * when clipanion's source no longer matches (a new clipanion version: look again).
 */
const clipanionLean = {
  name: 'clipanion-lean',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/platform$/ }, (args) => (/[\\/]clipanion[\\/]lib[\\/]advanced$/.test(args.resolveDir) ? { path: path.join(args.resolveDir, '../platform/browser.js') } : undefined));
    b.onLoad({ filter: /[\\/]clipanion[\\/]lib[\\/]advanced[\\/]Cli\.js$/ }, (args) => {
      const source = fs.readFileSync(args.path, 'utf8');
      const eager = /Cli\.defaultContext = \{\n {4}env: process\.env,\n {4}stdin: process\.stdin,\n {4}stdout: process\.stdout,\n {4}stderr: process\.stderr,\n {4}colorDepth: platform\.getDefaultColorDepth\(\),\n\};/;
      if (!eager.test(source)) throw new Error(`${args.path}: Cli.defaultContext is not what scripts/bundle.mjs expects`);
      const lazy = `Cli.defaultContext = Object.defineProperties({ env: process.env, colorDepth: platform.getDefaultColorDepth() }, {
    stdin: { get: () => process.stdin },
    stdout: { get: () => process.stdout },
    stderr: { get: () => process.stderr },
});`;
      return { contents: source.replace(eager, lazy), loader: 'js' };
    });
  },
};

/**
 * In the CLI bundle, `js-yaml` is the sibling file dist/bundle/yaml.js (built below), reached by
 * require(), also from `await import('js-yaml')`: an import() left in the bundle would fail in code
 * restored from its V8 code cache (see src/builtin.ts, importModule).
 */
const yamlApart = {
  name: 'yaml-apart',
  setup(b) {
    b.onResolve({ filter: /^js-yaml$/ }, (args) => (args.importer.endsWith('.ts') ? { path: 'js-yaml', namespace: 'yaml-apart' } : undefined));
    b.onResolve({ filter: /^\.\/yaml\.js$/, namespace: 'yaml-apart' }, () => ({ path: './yaml.js', external: true }));
    b.onLoad({ filter: /.*/, namespace: 'yaml-apart' }, () => ({ contents: "module.exports = require('./yaml.js');", loader: 'js' }));
  },
};

for (const dir of ['dist/bundle', 'dist/wrapper']) fs.rmSync(path.join(root, dir), { recursive: true, force: true });
/**
 * CommonJS output: import.meta.url becomes the file's own URL (the adapters and the worker sit
 * beside it), made when first used: pathToFileURL was ~0.4 ms of loading the wrapper bundle.
 */
const commonJs = {
  format: 'cjs',
  define: { 'import.meta.url': '__krewImportMeta.url' },
  banner: { js: "const __krewImportMeta = { get url() { return (this.href ??= require('node:url').pathToFileURL(__filename).href); } };" },
};
// Direct mode: one CommonJS file, loaded by bin/krew-wasm.js with a V8 code cache (Node 20 caches
// no ES module code: as ES module chunks, `list` spent ~9 ms compiling them). One file, so every
// module exists once. The worker is a file of its own, as a worker must be, and so is the
// stale-entry refresh, which runPlugin.ts imports by URL (as in the wrapper tree).
await build({
  ...common,
  ...commonJs,
  entryPoints: { main: 'src/main.ts', refreshEntry: 'src/services/refreshEntry.ts', httpWorker: 'src/runtime/hosts/httpWorker.ts', compileCache: 'src/runtime/compileCache.ts' },
  outdir: 'dist/bundle',
  entryNames: '[name]',
  plugins: [builtinsOnce, clipanionLean, yamlApart],
});
/**
 * `list` has a CLI bundle of its own, main.js with every other command left out, as
 * dist/bundle/command-<word>.js for each word that names it (`list`, `ls`); bin/krew-wasm.js loads
 * it for those words. Scripts and prompts run `list` most, and V8 deserializes a code cache in
 * proportion to the script it was made for: in main.js, every function of every command is a
 * function of the script's top level (esbuild hoists them), and list's start was 1.6-2.7 ms
 * slower (bench/RESULTS.md). A left-out command's module throws when loaded, which no route of
 * `list` does (help and completion, which load every command, are main.js's).
 */
const OWN_BUNDLE_COMMANDS = ['list'];
const commandIndex = fs.readFileSync(path.join(root, 'src/cli/commandIndex.ts'), 'utf8');
for (const command of OWN_BUNDLE_COMMANDS) {
  const entry = new RegExp(`\\{ words: \\[([^\\]]*)\\], load: async \\(\\) => \\(await import\\('\\./commands/${command}\\.js'\\)\\)`).exec(commandIndex);
  if (!entry) throw new Error(`src/cli/commandIndex.ts: no entry for ./commands/${command}.js of the shape scripts/bundle.mjs reads`);
  const words = [...entry[1].matchAll(/'([a-z]+)'/g)].map((m) => m[1]);
  const onlyCommand = {
    name: 'only-command',
    setup(b) {
      b.onResolve({ filter: /^\.\/commands\/\w+\.js$/ }, (args) =>
        args.importer.endsWith(path.join('src', 'cli', 'commandIndex.ts')) && args.path !== `./commands/${command}.js` ? { path: args.path, namespace: 'left-out' } : undefined);
      b.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({ contents: `throw new Error(${JSON.stringify(`${args.path} is left out of the ${command} bundle (scripts/bundle.mjs)`)});`, loader: 'js' }));
    },
  };
  await build({
    ...common,
    ...commonJs,
    entryPoints: { [`command-${words[0]}`]: 'src/main.ts' },
    outdir: 'dist/bundle',
    entryNames: '[name]',
    plugins: [builtinsOnce, clipanionLean, yamlApart, onlyCommand],
  });
  for (const word of words.slice(1)) fs.copyFileSync(path.join(root, `dist/bundle/command-${words[0]}.js`), path.join(root, `dist/bundle/command-${word}.js`));
}
const commandBundles = fs.readdirSync(path.join(root, 'dist/bundle')).filter((f) => /^command-[a-z]+\.js$/.test(f)).map((f) => `dist/bundle/${f}`);
// The YAML library for the CLI bundle: a fifth of its size, needed only by `-o yaml` and a
// kubeconfig read (`run`), so a sibling file, required by those alone. Stateless: one copy per
// tree is harmless (the wrapper tree's is inside its kubeconfig loader).
await build({
  ...common,
  ...commonJs,
  entryPoints: { yaml: createRequire(import.meta.url).resolve('js-yaml') },
  outdir: 'dist/bundle',
  entryNames: '[name]',
});
// Wrapper mode: CommonJS (dist/wrapper/package.json), as bin/krew-wasm.js; see there why. One
// bundle holds everything a run may need, so that each module (the wake word, the stream classes
// jco checks with instanceof) exists once. Two stateless parts are separate files, loaded only by
// the runs that need them: the kubeconfig loader with its YAML parser, and the stale-entry refresh
// with the transpiler (imported by URL, as a sibling). The HTTP worker is a file of its own.
await build({
  ...common,
  ...commonJs,
  entryPoints: {
    wrapper: 'src/wrapper.ts',
    kubeconfig: 'src/kube/kubeconfig.ts',
    refreshEntry: 'src/services/refreshEntry.ts',
    httpWorker: 'src/runtime/hosts/httpWorker.ts',
    // The process that compiles a big plugin's hot functions after a run (runtime/compiledCache.ts).
    compileCache: 'src/runtime/compileCache.ts',
  },
  outdir: 'dist/wrapper',
  entryNames: '[name]',
  plugins: [separateFiles, builtinsOnce],
});
for (const dir of ['dist/bundle', 'dist/wrapper']) fs.writeFileSync(path.join(root, dir, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
// The files bin/krew-wasm.js loads with a V8 code cache are scripts whose value is the CommonJS
// module function, written as Node writes it: V8 takes the file's text as it is read, where the
// bin once made that function around it at every start, a string V8 had to copy before it could
// take the cache (~0.13 ms of each start, measured; bench/RESULTS.md). Their last line is their
// build: the bin names a bundle's V8 code cache by it, as npm gives every file of a package the
// same mtime and V8 checks only the source's length, so an upgrade to a bundle of the same size
// would otherwise run the old bundle's compiled code.
for (const file of ['dist/bundle/main.js', ...commandBundles, 'dist/wrapper/wrapper.js', 'dist/wrapper/kubeconfig.js']) {
  const source = Buffer.from(`(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(path.join(root, file), 'utf8')}\n})\n`);
  fs.writeFileSync(path.join(root, file), Buffer.concat([source, Buffer.from(`// krew-wasm build ${createHash('sha256').update(source).digest('hex').slice(0, 16)}\n`)]));
}
