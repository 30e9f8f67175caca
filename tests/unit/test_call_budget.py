"""Bounded reads: eth_call / estimateGas / getLogs under a gas cap and a `CallBudget`
(deadline, cancel), through a real ledger on both engines; revm runs calls without the GIL.

The endless loop is hand-written bytecode (JUMPDEST PUSH0 JUMP): the cheapest loop there is,
so the one a clock check that is too rare would miss first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as abi_decode

from consortium.errors import CallCancelled, CallTimeout, GasLimitError
from consortium.evm import revm_engine
from consortium.evm.budget import CallBudget
from consortium.ledger import reads
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import TxFilter
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    app_state,
    calldata,
    contract_address,
    run_block,
    sign,
    token_deploy_data,
)

LOOP_RUNTIME = bytes.fromhex("5b5f56")  # JUMPDEST PUSH0 JUMP
# PUSH3 runtime, PUSH0, MSTORE, PUSH1 3, PUSH1 29, RETURN: deploys LOOP_RUNTIME
LOOP_INIT = bytes.fromhex("62" + LOOP_RUNTIME.hex() + "5f526003601df3")
ENGINES = ["revm", "py-evm"] if revm_engine.available() else ["py-evm"]
needs_revm = pytest.mark.skipif(not revm_engine.available(), reason="revm not built")


class Chain:
    """A ledger with the endless loop (nonce 0) and a token (nonce 1) deployed."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        run_block(ledger, [
            sign(ALICE, nonce=0, data=LOOP_INIT, gas=100_000),
            sign(ALICE, nonce=1, data=token_deploy_data(10**6), gas=2_000_000),
        ])
        self.loop = contract_address(ALICE.address.lower(), 0)
        self.token = contract_address(ALICE.address.lower(), 1)
        assert ledger.get_code(self.loop) == LOOP_RUNTIME


@pytest.fixture(params=ENGINES)
def chain(request: Any, tmp_path: Path) -> Iterator[Chain]:
    ledger = Ledger(tmp_path, engine=request.param)
    assert ledger.engine == request.param
    ledger.init_chain(app_state(), 1)
    yield Chain(ledger)
    ledger.close()


@pytest.fixture
def revm_chain(tmp_path: Path) -> Iterator[Chain]:
    if not revm_engine.available():
        pytest.skip("revm not built")
    ledger = Ledger(tmp_path, engine="revm")
    ledger.init_chain(app_state(), 1)
    yield Chain(ledger)
    ledger.close()


def timed_error(fn: Any) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises((CallTimeout, CallCancelled)) as caught:
        fn()
    return caught.value, time.monotonic() - start


# --- the deadline and the cancel flag ------------------------------------------------------


def test_the_deadline_stops_an_endless_loop(chain: Chain) -> None:
    # no gas cap: only the block gas limit (10^9), seconds of work on revm, hours on py-evm
    budget = CallBudget(0.3)
    err, elapsed = timed_error(
        lambda: chain.ledger.call({"to": chain.loop}, budget=budget, gas_cap=0))
    assert isinstance(err, CallTimeout)
    assert str(err) == "execution aborted (timeout = 300ms)" and err.rpc_code == -32000
    assert 0.3 <= elapsed < 0.3 * 1.1 + 0.25  # one loop iteration past it, on a busy machine
    assert budget.expired and not budget.cancelled


def test_a_spent_budget_refuses_at_once(chain: Chain) -> None:
    budget = CallBudget(0)
    err, elapsed = timed_error(lambda: chain.ledger.call({"to": chain.token}, budget=budget))
    assert isinstance(err, CallTimeout) and elapsed < 0.5
    budget = CallBudget(60)
    budget.cancel()
    err, _ = timed_error(lambda: chain.ledger.call({"to": chain.token}, budget=budget))
    assert isinstance(err, CallCancelled)
    assert str(err) == "execution aborted (cancelled)"


def test_cancel_from_another_thread_stops_the_call(chain: Chain) -> None:
    budget = CallBudget(None)  # no deadline: only the cancel can stop it before 10^9 gas
    timer = threading.Timer(0.2, budget.cancel)
    timer.start()
    try:
        err, elapsed = timed_error(
            lambda: chain.ledger.call({"to": chain.loop}, budget=budget, gas_cap=0))
    finally:
        timer.cancel()
    assert isinstance(err, CallCancelled)
    assert 0.2 <= elapsed < 2.0


def test_a_call_within_its_budget_answers_as_without_one(chain: Chain) -> None:
    tx = {"to": chain.token, "data": "0x" + calldata("totalSupply()", [], []).hex()}
    plain = chain.ledger.call(tx)
    budgeted = chain.ledger.call(tx, budget=CallBudget(30))
    assert budgeted == plain and abi_decode(["uint256"], plain.output) == (10**6,)
    # and the same world serves a block afterwards: the budget left nothing behind
    (res,) = run_block(chain.ledger, [sign(ALICE, nonce=2, to=BOB.address, value=1,
                                          gas=21_000)]).tx_results
    assert res.code == 0


def test_budgeted_calls_reach_native_contracts(chain: Chain) -> None:
    permissions = "0x" + "00" * 18 + "1001"
    data = calldata("roles(address)", ["address"], [ALICE.address])
    tx = {"to": permissions, "data": "0x" + data.hex()}
    plain = chain.ledger.call(tx)
    assert plain.success and chain.ledger.call(tx, budget=CallBudget(30)) == plain
    with pytest.raises(CallTimeout):
        chain.ledger.call(tx, budget=CallBudget(0))


def test_the_deadline_stops_a_loop_a_native_contract_calls(chain: Chain) -> None:
    # the test natives' Probe forwards a call: a native's nested frames are budgeted too
    from test_natives import PROBE_HEX

    data = calldata("forward(address,bytes)", ["address", "bytes"], [chain.loop, b""])
    tx = {"to": PROBE_HEX, "data": "0x" + data.hex()}
    assert chain.ledger.call({**tx, "gas": hex(10**6)}).success  # the loop ran out of gas
    err, elapsed = timed_error(lambda: chain.ledger.call(tx, budget=CallBudget(0.3), gas_cap=0))
    assert isinstance(err, CallTimeout) and 0.3 <= elapsed < 0.3 * 1.1 + 0.25


# --- the gas cap ---------------------------------------------------------------------------


def test_the_gas_cap_clamps_a_larger_gas_limit(chain: Chain) -> None:
    out = chain.ledger.call({"to": chain.loop, "gas": hex(10**9)}, gas_cap=100_000)
    assert not out.success and out.gas_used == 100_000
    assert out.error == "OutOfGas (gas limited to the node's RPC gas cap of 100000)"
    # a gas limit under the cap is the caller's own: the error does not blame the cap
    out = chain.ledger.call({"to": chain.loop, "gas": hex(50_000)}, gas_cap=100_000)
    assert out.gas_used == 50_000 and out.error == "OutOfGas"
    # a call that fits runs as before, whatever gas it asked for
    tx = {"to": chain.token, "data": "0x" + calldata("totalSupply()", [], []).hex()}
    assert chain.ledger.call({**tx, "gas": hex(10**9)}, gas_cap=100_000).success


@needs_revm
def test_the_default_gas_cap_is_geths(revm_chain: Chain) -> None:
    assert reads.RPC_GAS_CAP == 50_000_000
    out = revm_chain.ledger.call({"to": revm_chain.loop})
    assert out.gas_used == 50_000_000 and "RPC gas cap of 50000000" in out.error


def test_estimate_gas_says_when_the_cap_is_not_enough(chain: Chain) -> None:
    with pytest.raises(GasLimitError, match=r"allowance \(100000\) \(the node's RPC gas cap\)"):
        chain.ledger.estimate_gas({"to": chain.loop}, gas_cap=100_000)


def test_estimate_gas_shares_one_budget(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    run_call = reads.LedgerReads._run_call

    def spy(self: Any, tx: dict, height: Any, gas: int, budget: Any = None) -> Any:
        seen.append(budget)
        return run_call(self, tx, height, gas, budget)

    monkeypatch.setattr(reads.LedgerReads, "_run_call", spy)
    data = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 1])
    tx = {"from": ALICE.address, "to": chain.token, "data": "0x" + data.hex()}
    budget = CallBudget(30)
    assert chain.ledger.estimate_gas(tx, budget=budget) > 21_000
    assert len(seen) >= 2 and all(b is budget for b in seen)
    # spent by an earlier step, it stops the next one
    seen.clear()
    budget = CallBudget(30)

    def cancel_after_first(self: Any, tx: dict, height: Any, gas: int, b: Any = None) -> Any:
        out = spy(self, tx, height, gas, b)
        budget.cancel()
        return out

    monkeypatch.setattr(reads.LedgerReads, "_run_call", cancel_after_first)
    with pytest.raises(CallCancelled):
        chain.ledger.estimate_gas(tx, budget=budget)


# --- the GIL ---------------------------------------------------------------------------------


@needs_revm
def test_revm_releases_the_gil_while_a_call_runs(revm_chain: Chain) -> None:
    """A Python thread keeps running while a long call runs on another: the largest pause
    it sees is far shorter than the call (with the GIL held it would be the whole call)."""
    stop = threading.Event()
    beats: list[float] = []

    def counter() -> None:
        while not stop.is_set():
            beats.append(time.monotonic())
            time.sleep(0.001)

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        while not beats:
            time.sleep(0.001)
        start = time.monotonic()
        # up to 10^9 gas of the loop (~0.5 s here), at most 0.6 s
        try:
            out = revm_chain.ledger.call({"to": revm_chain.loop}, gas_cap=0,
                                         budget=CallBudget(0.6))
            assert out.error == "OutOfGas"
        except CallTimeout:
            pass
        end = time.monotonic()
    finally:
        stop.set()
        thread.join()
    during = [t for t in beats if start <= t <= end]
    assert end - start > 0.1 and len(during) >= 10
    gaps = [b - a for a, b in zip([start, *during], [*during, end], strict=True)]
    assert max(gaps) < (end - start) / 2


# --- eth_getLogs -----------------------------------------------------------------------------


def transfers(chain: Chain, blocks: int) -> None:
    nonce = 2
    for _ in range(blocks):
        data = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 1])
        run_block(chain.ledger, [sign(ALICE, nonce=nonce, to=chain.token, data=data)])
        nonce += 1


def test_get_logs_honours_a_budget(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    transfers(chain, 4)
    everything = TxFilter(from_block=0, to_block=10)
    assert len(chain.ledger.get_logs(everything, budget=CallBudget(30))) == 5
    with pytest.raises(CallTimeout):
        chain.ledger.get_logs(everything, budget=CallBudget(0))
    by_address = TxFilter(from_block=0, to_block=10, addresses=[chain.token])
    with pytest.raises(CallTimeout):
        chain.ledger.get_logs(by_address, budget=CallBudget(0))
    # checked while it scans: a budget cancelled after the first slice of heights stops it
    monkeypatch.setattr(reads, "LOG_SCAN_HEIGHTS", 1)
    budget = CallBudget(30)
    scan = chain.ledger.chain.logs_in_heights
    slices: list[int] = []

    def cancelling_scan(lo: int, hi: int) -> Any:
        slices.append(lo)
        budget.cancel()
        return scan(lo, hi)

    monkeypatch.setattr(chain.ledger.chain, "logs_in_heights", cancelling_scan)
    with pytest.raises(CallCancelled):
        chain.ledger.get_logs(everything, budget=budget)
    assert len(slices) == 1
    assert len(chain.ledger.get_logs(everything)) == 5  # no budget: unbounded, as before


# --- the budget type ----------------------------------------------------------------------------


def test_call_budget_type() -> None:
    budget = CallBudget(None)
    assert not budget.expired and budget.remaining() is None
    budget.check()
    with pytest.raises(ValueError):
        CallBudget(-1)

    class Token:
        cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    linked, unlinked = Token(), Token()
    budget.link(linked)
    budget.link(unlinked)
    budget.unlink(unlinked)
    budget.cancel()
    assert linked.cancelled and not unlinked.cancelled and budget.expired
    late = Token()
    budget.link(late)  # linked after the cancel: cancelled at once
    assert late.cancelled
    assert str(CallBudget(5).error(cancelled=False)) == "execution aborted (timeout = 5s)"
    assert str(CallBudget(1.5).error(cancelled=False)) == "execution aborted (timeout = 1.5s)"
