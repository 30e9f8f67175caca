#!/usr/bin/env bash
# Install (if needed), start a local 4-node consortium in ./consortium-net and run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export ETH_HASH_BACKEND=pysha3
exec .venv/bin/consortium demo --dir consortium-net "$@"
