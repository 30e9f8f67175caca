#!/usr/bin/env bash
# Reruns issue 23's table, every row beside its reference measured in the same run, writes
# each run's JSON report to bench/results/ and prints one table (also written as
# bench/results/<UTC time>-reproduce.json):
#   ERC-20, 1 validator, 30,000 txs, 32 lanes           against CometBFT's kvstore
#   ERC-20, 4 validators, 20,000 txs, 8 lanes           against CometBFT's kvstore
#   ERC-20 at half the goal rate (0.25 x kvstore), 1 and 4 validators: p99 against 1 s
#   invoice, securities, credit, registry (1 validator)  against ERC-20 of this run (network,
#                                                        and in process)
#   securities-mix (1 validator: 50 % resting placements, 25 % cancels, 25 % crossing orders)
#                                                        against 2,000 orders/s, beside ERC-20;
#                                                        again with 250 ms blocks
#   securities and securities-mix with the block gas limit at 4e9 (not the cap)
#   20,000 transfers at 1,000,000 accounts               against 1,000 accounts (end to end)
# About 15 minutes on 2 cores; --quick: small sizes, a smoke run of every row (~5 minutes).
# --all then also reruns the other Performance tables (issues 11, 17, 18, 20: ~45 minutes).
# --profile records node0 with py-spy in the first row (flame graph in bench/flamegraphs/).
# On a shared machine compare the ratios, not the absolute figures.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CONSORTIUM:-.venv/bin/consortium}
[ -x "$BIN" ] || BIN=consortium
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export ETH_HASH_BACKEND=${ETH_HASH_BACKEND:-pysha3}

QUICK=0 ALL=0 PROFILE=()
for arg in "$@"; do
  case $arg in
    --quick) QUICK=1 ;;
    --all) ALL=1 ;;
    --profile) PROFILE=(--profile) ;;
    *) echo "usage: bench/reproduce.sh [--quick] [--all] [--profile]" >&2; exit 2 ;;
  esac
done
if [ $QUICK = 1 ]; then
  LAT_SECONDS=2 ERC1=5000 ERC4=3000 SVC=1000 STATE_ACCOUNTS=100000 STATE_TXS=5000 INPROC="--txs 500 --rounds 1"
else
  LAT_SECONDS=8 ERC1=30000 ERC4=20000 SVC=5000 STATE_ACCOUNTS=1000000 STATE_TXS=20000 INPROC="--txs 2000 --rounds 3"
fi

RESULTS=${RESULTS:-bench/results}  # where the reports go
mkdir -p "$RESULTS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
MANIFEST=$(mktemp -t consortium-reproduce-XXXXXX)
trap 'rm -f "$MANIFEST"' EXIT

# run KIND LABEL consortium-bench-args...: the run writes into a folder of its own, so the
# report found there is this run's even if someone else writes to bench/results meanwhile.
run() {
  local kind=$1 label=$2 dir report
  shift 2
  dir=$(mktemp -d -t consortium-reproduce-run-XXXXXX)
  "$BIN" bench "$@" --out "$dir"
  report=$(ls "$dir"/*.json)
  if [ -d "$dir/flamegraphs" ]; then
    mkdir -p bench/flamegraphs
    mv "$dir"/flamegraphs/* bench/flamegraphs/
    rmdir "$dir/flamegraphs"
  fi
  mv "$dir"/* "$RESULTS"/
  rmdir "$dir"
  printf '%s\t%s\t%s\n' "$kind" "$label" "$RESULTS/$(basename "$report")" >> "$MANIFEST"
}

# quarter_kvstore: 0.25 x the kvstore figure of the last run (half the goal of 0.5 x kvstore)
quarter_kvstore() {
  "$PY" -c 'import json, sys; print(max(1, round(0.25 * json.load(open(sys.argv[1]))
            ["engine_ceiling"]["tps"])))' "$(tail -n 1 "$MANIFEST" | cut -f3)"
}
# latency V: ERC-20 on V validators sent at half the goal rate for ~$LAT_SECONDS s, batches of 100
latency() {
  local rate
  rate=$(quarter_kvstore)
  run latency "ERC-20, $1 validator(s), at half the goal rate" --workload erc20 \
    --validators "$1" --txs $((rate * LAT_SECONDS)) --rate "$rate" --no-references
}
run kvstore "ERC-20, 1 validator, $ERC1 txs, 32 lanes" \
  --workload erc20 --txs "$ERC1" --concurrency 32 "${PROFILE[@]}"
latency 1
run kvstore "ERC-20, 4 validators, $ERC4 txs, 8 lanes" \
  --workload erc20 --validators 4 --txs "$ERC4" --concurrency 8
latency 4
# the services against ERC-20 at the same size and lanes (1 validator, 8 lanes)
run erc20 "ERC-20, 1 validator, $SVC txs, 8 lanes (the services' reference)" \
  --workload erc20 --txs "$SVC" --no-references
for svc in invoice securities credit registry; do
  run service "$svc, 1 validator, $SVC txs, 8 lanes" --workload "$svc" --txs "$SVC" --no-references
done
run mix "securities-mix, 1 validator, $SVC orders, 8 lanes" \
  --workload securities-mix --txs "$SVC" --no-references
# the same with 250 ms blocks: at 500 ms the block's gas (the sum of the orders' limits, 1e9)
# caps the mix near 2,000 orders/s however fast execution is (docs/performance.md)
run mix "securities-mix, 1 validator, $SVC orders, 8 lanes, 250 ms blocks" \
  --workload securities-mix --txs "$SVC" --no-references --timeout-commit 250ms
# both securities workloads with the block gas limit lifted to 4e9: at 1e9 a block holds 500
# matching orders of 2 M gas limit each (or ~1,000 of the mix), the cap of the rows above
# whatever the node's speed; here the node's speed shows
run service "securities, 1 validator, $SVC txs, 8 lanes, block gas limit 4e9" \
  --workload securities --txs "$SVC" --no-references --block-gas-limit 4000000000
run mix "securities-mix, 1 validator, $SVC orders, 8 lanes, block gas limit 4e9" \
  --workload securities-mix --txs "$SVC" --no-references --block-gas-limit 4000000000
# the same workloads on a ledger in process (FinalizeBlock + Commit, no network), CPU tx/s
INPROC_JSON="$RESULTS/$STAMP-services-inprocess.json"
# shellcheck disable=SC2086
"$PY" bench/services_inprocess.py $INPROC --json > "$INPROC_JSON"
printf '%s\t%s\t%s\n' inprocess "in process, CPU tx/s" "$INPROC_JSON" >> "$MANIFEST"
run state "$STATE_TXS transfers at $STATE_ACCOUNTS accounts, 1 validator" \
  state --network --accounts "$STATE_ACCOUNTS" --txs "$STATE_TXS"

echo
"$PY" -m consortium.bench.reproduce "$MANIFEST" --out "$RESULTS/$STAMP-reproduce.json"
echo "table: $RESULTS/$STAMP-reproduce.json"
[ $ALL = 1 ] || exit 0

# --all: the other Performance tables of docs/performance.md and bench/README.md.
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
