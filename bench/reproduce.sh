#!/usr/bin/env bash
# Reproduce the Performance tables of the README: the main table (about 20 minutes on 2
# cores), then the finance services' workloads, both engines side by side, py-evm nodes and
# the large-state benches (about 20 more minutes).
# Each run writes bench/results/<UTC time>-<workload>.json (and a .png with the bench extra).
# Run it on an otherwise idle machine: every report says how much CPU other processes used.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CONSORTIUM:-.venv/bin/consortium}
[ -x "$BIN" ] || BIN=consortium
export ETH_HASH_BACKEND=${ETH_HASH_BACKEND:-pysha3}

# 1 validator, closed loop: 32 lanes of 100-transaction batches keep admission busy.
"$BIN" bench --workload erc20 --txs 50000 --concurrency 32
"$BIN" bench --workload transfer --txs 20000 --concurrency 32
"$BIN" bench --workload native --txs 50000 --concurrency 32
# the same native call with an ERC-20 transfer's calldata size (68 bytes), to compare at
# equal transaction size
"$BIN" bench --workload native-small --txs 50000 --concurrency 32
# 4 validators on the same 2 cores: the most they commit, then latency at fixed rates.
"$BIN" bench --workload erc20 --validators 4 --txs 20000
"$BIN" bench --workload erc20 --validators 4 --txs 3000 --rate 100 --batch 10 --no-references
"$BIN" bench --workload erc20 --validators 4 --txs 10000 --rate 750 --batch 10 --no-references
# half the most 4 validators committed here on 2026-12-02 (815 tx/s), in batches of 100 and of 10
"$BIN" bench --workload erc20 --validators 4 --txs 6000 --rate 400 --batch 100 --no-references
"$BIN" bench --workload erc20 --validators 4 --txs 6000 --rate 400 --batch 10 --no-references
# half the most they committed on a faster hour of 2026-12-02 (1,524 tx/s)
"$BIN" bench --workload erc20 --validators 4 --txs 10000 --rate 762 --batch 100 --no-references

# The finance services' writes (native contracts), with both references.
"$BIN" bench --workload invoice --txs 5000
"$BIN" bench --workload securities --txs 3000
"$BIN" bench --workload credit --txs 5000
"$BIN" bench --workload registry --txs 5000
# The same signed transactions on a revm network, then a py-evm one: one table, their ratio.
"$BIN" bench --workload erc20 --txs 5000 --engine both --no-references
# The native calls against ERC-20 on py-evm nodes, the engine issue #7's targets were set for.
"$BIN" bench --workload erc20 --txs 5000 --concurrency 8 --engine py-evm
"$BIN" bench --workload native --txs 5000 --concurrency 8 --engine py-evm
# Issue #11's large state: 1,000,000 accounts against 1,000, in process (real LMDB, revm);
# about a minute and 2 GB of memory. For a quick look: --accounts 100000.
"$BIN" bench state --accounts 1000000 --blocks 10
# ... and end to end: two 1-validator networks, one filled through the chain to 1,000,000
# accounts, the same 20,000 transfers through JSON-RPC on each (about 4 minutes).
"$BIN" bench state --network --accounts 1000000
# Issue 17: the block rate of 4 validators while 2 are flooded with worst-case eth_calls,
# against quiet windows before and after (about 2 minutes).
"$BIN" bench call-flood
# Issue 18: what HTTPS and a bearer token on every request cost, against plain HTTP, the same
# transfers alternated over two rounds (about 3 minutes).
"$BIN" bench api-access
# Issue 20: the explorer's address index's cost per block, and the console's pages on a
# 100,000-block, 1,000,000-transaction chain filled in process (about 25 minutes, ~3 GB).
"$BIN" bench explorer
