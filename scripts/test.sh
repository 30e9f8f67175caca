#!/usr/bin/env bash
# Install (if needed) and run the default test suite: unit tests and real multi-node
# integration tests. Slow tests are marked and run with: scripts/test.sh -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export ETH_HASH_BACKEND=pysha3
.venv/bin/ruff check .
.venv/bin/mypy src
# the revm extension's own Rust tests (~45 s the first time on 2 cores), after its format
# (rustfmt.toml) where rustfmt is installed
if command -v cargo >/dev/null; then
  if cargo fmt --version >/dev/null 2>&1; then
    (cd native/revm_engine && cargo fmt --check)
  fi
  (cd native/revm_engine && CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo test --quiet)
fi
if [ "$#" -eq 0 ]; then set -- -m "not slow"; fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
