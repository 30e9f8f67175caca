#!/usr/bin/env bash
# Set up everything on a fresh machine: a virtual environment with the package and its test
# dependencies, the pinned CometBFT engine and the generated ABCI protobuf classes.
# Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"' \
  || { echo "error: Python 3.11 is required (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }
command -v go >/dev/null || { echo "error: Go 1.22+ is required to build CometBFT (install golang)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "· creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
echo "· installing Python packages"
.venv/bin/python -m pip install --quiet -e ".[test,compile]"
if command -v npm >/dev/null; then
  if [ ! -d node_modules/solc ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "· installing Node packages (solc-js, ethers)"
    npm ci --no-audit --no-fund --silent
  fi
else
  echo "· Node.js not found: Solidity compilation and ethers.js tests are unavailable" >&2
fi
# The revm execution engine (Rust, native/revm_engine): built when cargo is present (Rust
# >= 1.94.1; ~2 min on 2 cores the first time), rebuilt only when its sources change. Without
# it, nodes set to engine = "revm" run py-evm and say so in their log.
if command -v cargo >/dev/null; then
  stamp=.venv/.revm-engine-stamp
  sources=$(cat native/revm_engine/Cargo.toml native/revm_engine/Cargo.lock \
    native/revm_engine/pyproject.toml native/revm_engine/src/*.rs | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sources" ] \
      || ! .venv/bin/python -c 'import consortium_revm' 2>/dev/null; then
    echo "· building the revm execution engine (Rust)"
    CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" \
      .venv/bin/python -m pip install --quiet ./native/revm_engine
    echo "$sources" > "$stamp"
  fi
else
  echo "· cargo not found: the revm execution engine is not built (nodes run py-evm)" >&2
fi
# The native contracts' framework modules compiled with Cython (~1 min on 2 cores, again only
# when their sources change); without a C compiler they run as Python, the same results
.venv/bin/python scripts/compile_hot_paths.py \
  || echo "· the framework modules were not compiled: they run as Python (slower)" >&2
# The console's third-party browser code (htmx, ethers): pinned npm tarballs checked against
# their sha512, never committed (scripts/vendor_console.py)
.venv/bin/python scripts/vendor_console.py
# The console's browser tests drive Debian's chromium (Playwright's own browsers are not used)
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "· installing chromium (the console's browser tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "· /usr/bin/chromium not found: the console's browser tests will be skipped" \
      "(apt-get install chromium)" >&2
  fi
fi
echo "· installing the consensus engine"
.venv/bin/consortium engine install
