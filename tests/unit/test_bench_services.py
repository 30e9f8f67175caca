"""The finance services' bench workloads as `consortium bench` runs them: chosen by name,
their senders given the roles they need at genesis, every pre-signed transaction succeeding
on a real Ledger and in both execution references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consortium.bench.execution import engine_execution, execution_ceiling
from consortium.bench.networks import bench_member_names
from consortium.bench.workloads import BenchAccount, Workload, make_workload, presign
from consortium.evm.revm_engine import available
from consortium.ledger.executor import decode_revert_reason
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.network.init import NEW_CHAIN_NATIVE_VERSIONS
from tests.support.ledger_testkit import CHAIN_ID, GAS_LIMIT, run_block

ACCOUNTS = [BenchAccount.from_key(bytes([0xA0 + i]) * 32) for i in range(4)]
NAMES = bench_member_names(len(ACCOUNTS))
SERVICES = ("invoice", "securities", "credit", "registry")
TXS = 24


def genesis(workload: Workload) -> dict[str, Any]:
    """The app_state `init_network` writes for the bench members, with the workload's roles."""
    roles = workload.genesis_roles(NAMES)
    return {
        "eth_chain_id": CHAIN_ID,
        "block_gas_limit": GAS_LIMIT,
        # as `init_network` writes them: the workloads' gas limits assume them
        "native_gas": 2,
        "native_versions": NEW_CHAIN_NATIVE_VERSIONS,
        "members": [{"name": n, "accounts": ["0x" + a.address.hex()]}
                    for n, a in zip(NAMES, ACCOUNTS, strict=True)],
        "alloc": {"0x" + a.address.hex(): {"balance": hex(10**24)} for a in ACCOUNTS},
        "governance": {"roles": {"0x" + a.address.hex(): roles[n]
                                 for n, a in zip(NAMES, ACCOUNTS, strict=True) if n in roles}},
    }


@pytest.mark.parametrize("name", [*SERVICES, "native", "native-small"])
def test_service_workload_commits_on_a_ledger(tmp_path: Path, name: str) -> None:
    workload = make_workload(name)
    assert workload.name == name
    ledger = Ledger(tmp_path / name)
    try:
        ledger.init_chain(AppState.from_json(genesis(workload)), 1)
        setup = workload.prepare(ACCOUNTS, CHAIN_ID)
        txs = presign(workload, ACCOUNTS, TXS, CHAIN_ID, setup.next_nonces(len(ACCOUNTS)))
        per_sender: dict[int, list[int]] = {}
        for t in txs:
            per_sender.setdefault(t.sender, []).append(t.nonce)
        assert all(n == sorted(n) for n in per_sender.values())  # nonces in order per sender
        if setup.txs:
            out = run_block(ledger, [t.raw for t in setup.txs])
            assert all(r.code == 0 for r in out.tx_results), [
                decode_revert_reason(r.data) or r.log for r in out.tx_results if r.code]
        out = run_block(ledger, [t.raw for t in txs])
        assert [decode_revert_reason(r.data) or r.log for r in out.tx_results if r.code] == []
        assert max(r.gas_used for r in out.tx_results) < workload.gas
    finally:
        ledger.close()


@pytest.mark.parametrize("name", SERVICES)
def test_service_workload_runs_in_the_execution_references(name: str) -> None:
    workload = make_workload(name)
    app_state = genesis(workload)
    setup = workload.prepare(ACCOUNTS, CHAIN_ID)
    txs = presign(workload, ACCOUNTS, TXS, CHAIN_ID, setup.next_nonces(len(ACCOUNTS)))
    addresses = [a.address for a in ACCOUNTS]
    stock = execution_ceiling(addresses, setup.txs, txs, CHAIN_ID, app_state=app_state)
    assert (stock.txs, stock.failed) == (TXS, 0)
    for engine in ("revm", "py-evm") if available() else ("py-evm",):
        own = engine_execution(engine, addresses, setup.txs, txs, CHAIN_ID, app_state=app_state)
        assert (own.engine, own.txs, own.failed) == (engine, TXS, 0)


def test_invoice_workload_needs_a_buyer() -> None:
    with pytest.raises(ValueError, match="at least two accounts"):
        make_workload("invoice").prepare(ACCOUNTS[:1], CHAIN_ID)


def test_genesis_roles_are_what_init_accepts() -> None:
    from consortium.system.model import ROLES

    for name in (*SERVICES, "transfer", "native", "native-small"):
        roles = make_workload(name).genesis_roles(NAMES)
        assert set(roles) <= set(NAMES)
        assert all(r in ROLES for wanted in roles.values() for r in wanted)
    assert make_workload("invoice").genesis_roles(NAMES) == {n: ["seller", "buyer"]
                                                           for n in NAMES}
    assert make_workload("transfer").genesis_roles(NAMES) == {}
