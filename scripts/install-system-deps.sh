#!/bin/sh
# Installs the Debian packages the tests, fixtures and benchmarks use, when run as root on a
# machine with apt and when something is missing. Elsewhere it only says what is missing.
#   docker-registry          the real OCI registry the tests start on 127.0.0.1
#   clang lld wasi-libc libclang-rt-dev-wasm32   C test plugins for wasm32-wasi
#   apache2-utils            htpasswd (bcrypt) for the registry's Basic auth tests
#   hyperfine                whole-process timings in bench/
#   kubectl                  real kubectl for plugin discovery (kubectl on Debian 13, kubernetes-client on 12)
set -u
missing=""
need() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need docker-registry docker-registry
need clang clang
need wasm-ld lld
need htpasswd apache2-utils
need hyperfine hyperfine
[ -f /usr/include/wasm32-wasi/stdio.h ] || [ -d /usr/lib/wasm32-wasi ] || missing="$missing wasi-libc"
ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || missing="$missing libclang-rt-dev-wasm32"
need_kubectl=0
command -v kubectl >/dev/null 2>&1 || need_kubectl=1

if [ -z "$missing" ] && [ "$need_kubectl" = 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "krew-wasm: missing system packages:$missing$( [ $need_kubectl = 1 ] && echo ' kubectl')" >&2
  echo "krew-wasm: install them with your package manager (tests that need them will fail or say they skipped)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null || { echo "krew-wasm: apt-get install$missing failed" >&2; exit 1; }
fi
if [ "$need_kubectl" = 1 ]; then
  apt-get install -y -qq --no-install-recommends kubectl >/dev/null 2>&1 \
    || apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null 2>&1 \
    || echo "krew-wasm: kubectl is not installable here; kubectl tests will say they skipped" >&2
fi
