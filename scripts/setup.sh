#!/usr/bin/env bash
# Set up nativa on a fresh machine: Debian packages, a virtual environment, the cached llama-cpp-python
# wheel, the package itself, and the assembled embedded model. Safe to run again: each step is skipped
# when already done, so `make demo` and `make test` stay fast on a machine that has run them before.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
LLAMA_VERSION=0.3.36
CACHE=${NATIVA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nativa}
TESTS=${NATIVA_SETUP_TESTS:-0}  # `make test`: also what the test suite needs (PostgreSQL servers and driver, Ray, the 1.5B model)
if [ "$TESTS" = 1 ]; then EXTRAS=${NATIVA_EXTRAS:-dev,serve,postgres,pgserver,memory,ray,docs,large}; else EXTRAS=${NATIVA_EXTRAS:-dev,serve,memory,docs}; fi

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# 1. Debian packages: bubblewrap (the sandbox's tier A), setpriv (util-linux: drop to an unprivileged uid),
#    libseccomp2 (the seccomp filter), and a system python3.11 that tier B can use when the venv's Python
#    lives under a private directory. Without root or apt, the sandbox reports a lower tier instead of
#    pretending (see `nativa doctor`).
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
ldconfig -p 2>/dev/null | grep -q libseccomp.so.2 || missing+=(libseccomp2)
[ -x /usr/bin/python3.11 ] || missing+=(python3.11)
# The PostgreSQL read-only tests start a throwaway cluster with the server's own binaries.
if [ "$TESTS" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing+=(postgresql); fi
# The console's browser tests drive Debian's headless Chromium through its own chromedriver (Selenium);
# nothing is downloaded at test time.
if [ "$TESTS" = 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo -n)
  if command -v apt-get >/dev/null 2>&1 && { [ ${#SUDO[@]} -eq 0 ] || sudo -n true 2>/dev/null; }; then
    log "installing ${missing[*]}"
    "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "WARNING: ${missing[*]} missing and cannot be installed here; the sandbox will use a lower tier"
  fi
fi

# 2. Python environment.
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "nativa needs Python >= 3.11")'
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip)

# 3. llama-cpp-python builds from source (minutes on 2 cores): build the wheel once per machine and CPU
#    (the build is tuned to the CPU it runs on) and keep it in the cache.
#    AMX is left out: on VMs whose CPU reports AMX (amx_tile, amx_int8), ggml's AMX kernel died with a general
#    protection fault at `ldtilecfg` on the first decode (seen here on a Xeon guest, Linux 6.18), killing every
#    model call; the AVX-512/AVX2 kernels it falls back to are what the other machines here run anyway.
LLAMA_CFLAGS=""
case "$(uname -m)" in x86_64) LLAMA_CFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" ;; esac
cpu_key=$({ grep -m1 '^flags' /proc/cpuinfo 2>/dev/null; echo "$LLAMA_CFLAGS"; } | sha256sum | cut -c1-12 || echo generic)
WHEELS="$CACHE/wheels/$cpu_key"
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  log "building llama-cpp-python $LLAMA_VERSION (once per machine, a few minutes)"
  # --no-cache-dir: pip's own wheel cache would hand back a build made without these flags.
  CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_C_FLAGS='$LLAMA_CFLAGS' -DCMAKE_CXX_FLAGS='$LLAMA_CFLAGS'" \
    "${PIP[@]}" wheel -q --no-cache-dir --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS"
fi

# 4. nativa and its dependencies; re-run only when pyproject.toml changed.
stamp="$VENV/.nativa-installed"
# The stamp names the extras and the wheel build, so a venv holding an older build of llama-cpp-python
# (same version, other flags) gets the cached one.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$(cat "$stamp")" != "$EXTRAS $cpu_key" ]; then
  log "installing nativa[$EXTRAS]"
  # The memory extra's embedder needs torch: pin the CPU build first (pip takes it from this machine's
  # wheel cache); an unpinned torch pulled in by sentence-transformers would be a CUDA build of several GB.
  case ",$EXTRAS," in *,memory,*) "${PIP[@]}" install -q "torch==2.13.0" ;; esac
  "${PIP[@]}" install -q --force-reinstall --no-deps --no-index --find-links "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
  "${PIP[@]}" install -q --find-links "$WHEELS" -e ".[$EXTRAS]"
  printf '%s' "$EXTRAS $cpu_key" > "$stamp"
fi

# 5. A real third-party OTLP receiver (Arize Phoenix, in its own venv) for the tracing integration test.
if [ "${NATIVA_SKIP_OTLP_RECEIVER:-0}" != 1 ]; then
  bash scripts/install_otlp_receiver.sh
fi

# 6. Assemble and verify the embedded model (cached under NATIVA_HOME).
"$VENV/bin/nativa" models --verify >/dev/null
log "ready: $VENV/bin/nativa"
