#!/usr/bin/env node
// `kubectl krew-wasm ...` and kubectl's completion of it (as `kubectl_complete-krew_wasm`):
// krew-wasm's own commands, never a plugin. A file of its own, so that the links `krew-wasm setup`
// makes in the plugin bin folder never look like plugin links to the store's repair.
'use strict';
require('./krew-wasm.js');
