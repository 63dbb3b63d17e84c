// The docs check runs after the whole suite (scripts/run-tests.sh): it reads what the suite printed.
export default {
  files: ['dist/test/docs/*.check.js'],
  workerThreads: false,
  environmentVariables: { KREW_WASM_TEST: '1' },
};
