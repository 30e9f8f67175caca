"""The services' benchmark writes: pre-signed credit reports and asset applications (with the
registry's setup by proposals and votes) all commit on a real Ledger whose members are the
bench accounts."""

from __future__ import annotations

from pathlib import Path

from consortium.apps.credit.bench import signed_report_txs
from consortium.apps.credit.model import CREDIT_ADDRESS
from consortium.apps.credit.reader import CreditReader
from consortium.apps.registry.bench import class_setup, signed_apply_txs, votes_needed
from consortium.apps.registry.reader import RegistryReader
from consortium.bench.workloads import BenchAccount
from consortium.errors import ExecutionReverted
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.network.init import NEW_CHAIN_NATIVE_VERSIONS
from tests.support.ledger_testkit import CHAIN_ID, GAS_LIMIT, run_block

ACCOUNTS = [BenchAccount.from_key(bytes([0x90 + i]) * 32) for i in range(3)]


def bench_ledger(path: Path, roles: list[str]) -> Ledger:
    """A chain as `consortium init` makes the bench's (the workloads' gas limits are sized
    for its gas schedule and layouts)."""
    ledger = Ledger(path)
    ledger.init_chain(AppState.from_json({
        "eth_chain_id": CHAIN_ID,
        "block_gas_limit": GAS_LIMIT,
        "native_gas": 2,
        "native_versions": NEW_CHAIN_NATIVE_VERSIONS,
        "members": [{"name": f"Bench {i:04d}", "accounts": ["0x" + a.address.hex()]}
                    for i, a in enumerate(ACCOUNTS)],
        "alloc": {},
        "governance": {"roles": {"0x" + a.address.hex(): roles for a in ACCOUNTS}} if roles
        else {},
    }), 1)
    return ledger


def call(ledger: Ledger):  # type: ignore[no-untyped-def]
    def run(to: bytes, data: bytes) -> bytes:
        result = ledger.call({"to": "0x" + to.hex(), "data": "0x" + data.hex()})
        if not result.success:
            raise ExecutionReverted(result.error)
        return result.output

    return run


def test_votes_needed_is_a_simple_majority() -> None:
    assert [votes_needed(n) for n in (2, 3, 4, 5, 10)] == [2, 2, 3, 3, 6]


def test_signed_reports_commit(tmp_path: Path) -> None:
    ledger = bench_ledger(tmp_path, ["lender"])
    txs = signed_report_txs(ACCOUNTS, 30, CHAIN_ID)
    assert [t.nonce for t in txs[:4]] == [0, 0, 0, 1]
    out = run_block(ledger, [t.raw for t in txs])
    assert all(r.code == 0 for r in out.tx_results), [r.log for r in out.tx_results if r.code]
    records = CreditReader(call(ledger)).records()
    assert len(records) == 30 and len({r["recordHash"] for r in records}) == 30
    assert max(r.gas_used for r in out.tx_results) < 400_000
    assert CREDIT_ADDRESS.hex().endswith("2002")
    ledger.close()


def test_registry_setup_and_signed_applications_commit(tmp_path: Path) -> None:
    ledger = bench_ledger(tmp_path, [])
    setup = class_setup(ACCOUNTS, CHAIN_ID)
    out = run_block(ledger, [t.raw for t in setup.txs])
    assert all(r.code == 0 for r in out.tx_results), [r.log for r in out.tx_results if r.code]
    reader = RegistryReader(call(ledger))
    assert reader.asset_class(1)["name"] == "Bench assets"  # type: ignore[index]
    txs = signed_apply_txs(ACCOUNTS, 30, CHAIN_ID)
    out = run_block(ledger, [t.raw for t in txs])
    assert all(r.code == 0 for r in out.tx_results), [r.log for r in out.tx_results if r.code]
    assets = reader.assets()
    assert len(assets) == 30 and all(a["state"] == "applied" for a in assets)
    assert max(r.gas_used for r in out.tx_results) < 600_000
    ledger.close()
