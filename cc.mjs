import fs from 'node:fs';
import { checkCompileCost } from '/work/main/dist/src/runtime/compileCost.js';
for (const f of process.argv.slice(2)) { const t = performance.now(); try { checkCompileCost(fs.readFileSync(f)); console.log('ok', f.slice(-60), (performance.now() - t).toFixed(1), 'ms'); } catch (e) { console.log('REFUSED', f.slice(-60), e.message); } }
