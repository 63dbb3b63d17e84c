#!/bin/sh
# Installs the Debian packages the tests, fixtures and benchmarks use, when run as root on a
# machine with apt and when something is missing. When something cannot be installed (not root,
# no apt, no such package) it says what and exits 1: the tests need every one of them, kubectl
# included, and a test that names a real part fails without it rather than skip.
#   docker-registry          the real OCI registry the tests start on 127.0.0.1
#   clang lld wasi-libc libclang-rt-dev-wasm32   C test plugins for wasm32-wasi
#   apache2-utils            htpasswd (bcrypt) for the registry's Basic auth tests
#   skopeo                   an independent OCI client: pulls what krew-wasm pushes, pushes what it pulls
#   hyperfine                whole-process timings in bench/
#   zsh fish                 the shells whose completion scripts the tests load (bash is always there)
#   kubectl                  real kubectl for plugin discovery (kubectl on Debian 13, kubernetes-client on 12)
set -u
missing=""
need() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need docker-registry docker-registry
need clang clang
need wasm-ld lld
need htpasswd apache2-utils
need skopeo skopeo
need hyperfine hyperfine
need zsh zsh
need fish fish
[ -f /usr/include/wasm32-wasi/stdio.h ] || [ -d /usr/lib/wasm32-wasi ] || missing="$missing wasi-libc"
ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || missing="$missing libclang-rt-dev-wasm32"
need_kubectl=0
command -v kubectl >/dev/null 2>&1 || need_kubectl=1

if [ -z "$missing" ] && [ "$need_kubectl" = 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "krew-wasm: error: missing system packages:$missing$( [ $need_kubectl = 1 ] && echo ' kubectl')" >&2
  echo "krew-wasm: install them with your package manager (or run make as root on Debian/Ubuntu), then run make again" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null || { echo "krew-wasm: error: apt-get install$missing failed" >&2; exit 1; }
fi
if [ "$need_kubectl" = 1 ]; then
  apt-get install -y -qq --no-install-recommends kubectl >/dev/null 2>&1 \
    || apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null 2>&1
  if ! kubectl version --client >/dev/null 2>&1; then
    echo "krew-wasm: error: kubectl could not be installed (neither the kubectl nor the kubernetes-client package installed a working kubectl); the tests run the real kubectl: install it, then run make again" >&2
    exit 1
  fi
fi
