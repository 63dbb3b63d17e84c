#!/bin/sh
# Runs npm. Some machines come up with /usr/bin/npm missing after a failed npm self-upgrade, while
# an intact copy of npm stays in /usr/lib/node_modules; fall back to it rather than fail.
if command -v npm >/dev/null 2>&1 && npm --version >/dev/null 2>&1; then exec npm "$@"; fi
for cli in /usr/lib/node_modules/npm/bin/npm-cli.js /usr/local/lib/node_modules/npm/bin/npm-cli.js \
           /usr/lib/node_modules/.npm-*/bin/npm-cli.js /usr/local/lib/node_modules/.npm-*/bin/npm-cli.js; do
  if [ -f "$cli" ] && node "$cli" --version >/dev/null 2>&1; then exec node "$cli" "$@"; fi
done
echo "krew-wasm: npm not found; install Node.js >= 20 with npm" >&2
exit 127
