#!/usr/bin/env bash
# Reproduce the Performance table of the README: about 15 minutes on 2 cores.
# Each run writes bench/results/<UTC time>-<workload>.json (and a .png with the bench extra).
# Run it on an otherwise idle machine: every report says how much CPU other processes used.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CONSORTIUM:-.venv/bin/consortium}
[ -x "$BIN" ] || BIN=consortium
export ETH_HASH_BACKEND=${ETH_HASH_BACKEND:-pysha3}

"$BIN" bench --workload erc20 --txs 20000
"$BIN" bench --workload transfer --txs 10000
"$BIN" bench --workload native --txs 10000
"$BIN" bench --workload erc20 --validators 4 --txs 5000
"$BIN" bench --workload erc20 --validators 4 --txs 3000 --rate 100 --batch 10 --no-references
"$BIN" bench --workload erc20 --validators 4 --txs 4000 --rate 200 --batch 10 --no-references
