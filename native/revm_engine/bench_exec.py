"""Execution-only figures: py-evm against the revm engine on the bench's pre-signed workloads.

    python native/revm_engine/bench_exec.py [--txs 10000] [--block 1000] [--workload erc20]

Every engine starts from the same genesis (the bench accounts' balances, the natives' stub
accounts, the workload's setup transactions) in memory and applies the same signed
transactions in blocks, persisting a state root per block; the roots must agree. Measured:

- py-evm:      the consortium fork's `state.apply_transaction`, senders recovered before
               the clock starts (the ledger's path with py-evm);
- revm/py:     `RevmWorldState.apply_transaction` per transaction from Python (the ledger's
               path with revm: py-evm decoded objects, senders known);
- revm/block:  one call per block into Rust (`World.apply_block`), senders known;
- revm/recover: the same, senders recovered in Rust inside the clock.

`--state N` first adds N funded accounts and N slots of the workload's contract (written by
revm, checked against alloy-trie's full recompute), so the tries are deep as on a used chain.

No consensus, RPC or disk: compare with `consortium bench` for end to end.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from eth.db.atomic import AtomicDB

import consortium.evm  # noqa: F401
import consortium.system  # noqa: F401
from consortium.bench.execution import _genesis
from consortium.bench.workloads import BenchAccount, make_workload, presign
from consortium.evm import revm_engine as revm
from consortium.evm.engine import EMPTY_ROOT, WorldState
from consortium.evm.header import BlockEnv
from consortium.ledger.transactions import decode_transaction

CHAIN_ID = 20251


def env(number: int) -> BlockEnv:
    return BlockEnv(number, 1_700_000_000 + number, b"\xaa" * 20, b"\x01" * 32,
                    1_000_000_000, CHAIN_ID)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=10_000)
    parser.add_argument("--block", type=int, default=1_000)
    parser.add_argument("--senders", type=int, default=64)
    parser.add_argument("--workload", default="erc20", choices=["erc20", "transfer", "native"])
    parser.add_argument("--skip-py-evm", action="store_true")
    parser.add_argument("--state", type=int, default=0, help="filler accounts and slots")
    args = parser.parse_args()

    accounts = [BenchAccount.from_key((i + 1).to_bytes(32, "big")) for i in range(args.senders)]
    workload = make_workload(args.workload)
    setup = workload.prepare(accounts, CHAIN_ID)
    txs = presign(workload, accounts, args.txs, CHAIN_ID, setup.next_nonces(len(accounts)))
    decoded = [decode_transaction(t.raw, CHAIN_ID) for t in txs]
    blocks = [decoded[i:i + args.block] for i in range(0, len(decoded), args.block)]

    # genesis + setup, with py-evm, into one store both engines copy
    db = AtomicDB()
    genesis = WorldState(db, EMPTY_ROOT, env(0))
    _genesis(genesis._state, [a.address for a in accounts])
    for item in setup.txs:
        genesis.apply_transaction(decode_transaction(item.raw, CHAIN_ID).tx)
    root0 = genesis.persist()
    if args.state:
        from eth_hash.auto import keccak

        t0 = time.perf_counter()
        filler = revm.RevmWorldState(db, root0, env(0))
        contract = getattr(workload, "token", b"") or b"\x00" * 19 + b"\x01"
        for i in range(args.state):
            word = keccak(i.to_bytes(8, "big"))
            filler.set_balance(word[:20], 10**18 + i)
            filler.set_storage(contract, int.from_bytes(word, "big"), i + 1)
        root0 = filler.persist()
        t1 = time.perf_counter()
        assert filler.full_root() == root0, "incremental root != full recompute"
        print(f"state: +{args.state:,} accounts and slots in {t1 - t0:.1f} s; root checked "
              f"against alloy-trie's full recompute in {time.perf_counter() - t1:.1f} s")
    kv = dict(db.wrapped_db.kv_store)  # type: ignore[attr-defined]

    def store() -> Any:
        s = AtomicDB()
        s.wrapped_db.kv_store.update(kv)  # type: ignore[attr-defined]
        return s

    results: dict[str, tuple[float, bytes]] = {}

    def run(name: str, make: Any, apply: Any) -> None:
        s, root, elapsed, failed = store(), root0, 0.0, 0
        for number, block in enumerate(blocks, 1):
            world = make(s, root, env(number))
            t0 = time.perf_counter()
            failed += apply(world, block)
            root = world.persist()
            elapsed += time.perf_counter() - t0
        results[name] = (elapsed, root)
        print(f"{name:13s} {len(decoded) / elapsed:>10,.0f} tx/s  "
              f"{elapsed / len(decoded) * 1e6:7.1f} µs/tx  failed {failed}  root {root.hex()[:16]}")

    def per_tx(world: Any, block: list[Any]) -> int:
        return sum(1 for stx in block if world.apply_transaction(stx.tx).status != 1)

    def batch(with_senders: bool) -> Any:
        def apply(world: Any, block: list[Any]) -> int:
            senders = [stx.sender if with_senders else None for stx in block]
            out = world._world.apply_block([stx.raw for stx in block], senders)
            return sum(1 for r in out if isinstance(r, str) or r[0] != 1)
        return apply

    engine = revm.shared_engine()

    def rv(s: Any, root: bytes, e: BlockEnv) -> Any:
        return revm.RevmWorldState(s, root, e, engine=engine)

    print(f"{args.workload}: {len(decoded):,} txs, blocks of {args.block}, "
          f"{len(accounts)} senders")
    if not args.skip_py_evm:
        run("py-evm", WorldState, per_tx)
    run("revm/py", rv, per_tx)
    run("revm/block", rv, batch(True))
    run("revm/recover", rv, batch(False))
    roots = {root for _, root in results.values()}
    print("roots equal" if len(roots) == 1 else f"ROOTS DIFFER: {roots}")


if __name__ == "__main__":
    main()
