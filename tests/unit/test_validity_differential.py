"""Differential test of the validity rules: generated edge-case transactions go to admission
(`Ledger.check_tx`) and to block execution on both engines (revm and py-evm, one ledger each,
one genesis). It fails on any transaction admitted but not executed (in the block with a
receipt, status 0 or 1), on any disagreement between the engines (CheckTx answers, outcomes,
gas, state roots), and on any refusal that comes from an engine instead of the shared rules.

The edges: balance around gas × maxFeePerGas + value (with the sender's pending spend),
maxFee / tip combinations (tip above the cap included), initcode around 49,152 bytes, a
sender with code, gas around the intrinsic gas (with initcode words and the EIP-7623 floor)
and the block gas limit, nonces off by one, non-members, legacy / EIP-2930 / EIP-1559.

A block is made the way CometBFT's proposer reaps the mempool (admitted transactions in order
while their gas fits the block's max_gas), then the refused ones are appended, so execution
of what CheckTx refused is compared between the engines too.

Each run prints its seed and settings (`-s` shows them); rerun one with VALIDITY_SEED=<seed>.
The default run tries VALIDITY_EXAMPLES (60) blocks, the slow one 600.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from consortium.api.eth_json import EthReads
from consortium.errors import ExecutionReverted, TxError
from consortium.evm.revm_engine import UNAVAILABLE, available
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import BlockOutcome
from tests.support.ledger_testkit import ALICE, BOB, CAROL, MALLORY, ctx, sign
from tests.support.validity_testkit import DAVE, POOR, validity_ledger

pytestmark = pytest.mark.skipif(not available(), reason=UNAVAILABLE)

SEED = int(os.environ.get("VALIDITY_SEED", random.randrange(2**32)))
EXAMPLES = int(os.environ.get("VALIDITY_EXAMPLES", "60"))
GAS_LIMIT = 2_000_000  # small, so gas around it is reachable with initcode near its limit
SENDERS = [ALICE, BOB, POOR, DAVE, CAROL, MALLORY]  # DAVE has code; CAROL has no balance;
# MALLORY is not a member
INITCODE_SIZES = [0, 1, 32, 33, 1_000, 49_151, 49_152, 49_153, 49_184, 49_185]
EXECUTED = (0, ExecutionReverted.abci_code)
# the one refusal with the generic code that the rules (not an engine) give: decoding
TIP_ABOVE_CAP = "maxPriorityFeePerGas is above maxFeePerGas"
SEEN: Counter[str] = Counter()  # outcomes tried, printed at the end of a run


def intrinsic(create: bool, data: bytes) -> int:
    """The least gas, written out independently of the ledger's own computation: base,
    creation, calldata, EIP-3860 initcode words, and the EIP-7623 calldata floor."""
    zeros = data.count(0)
    nonzero = len(data) - zeros
    gas = 21_000 + 4 * zeros + 16 * nonzero
    if create:
        gas += 32_000 + 2 * ((len(data) + 31) // 32)
    return max(gas, 21_000 + 10 * (zeros + 4 * nonzero))


@dataclass
class Model:
    """What a sender may still spend: its balance less its admitted transactions' max cost."""

    ledger: Ledger
    spent: dict[str, int]

    def balance(self, account: Any) -> int:
        address = account.address.lower()
        return self.ledger.get_balance(address) - self.spent.get(address, 0)


def draw_tx(draw: Any, model: Model) -> bytes:
    """One transaction at the edges, relative to the live state of the model's ledger."""
    account = draw(st.sampled_from(SENDERS[:3]) | st.sampled_from(SENDERS))  # mostly able
    tx_type = draw(st.sampled_from([0, 1, 2]))
    create = draw(st.booleans())
    if create:
        size = draw(st.sampled_from(INITCODE_SIZES) | st.integers(0, 50_000))
        fill = draw(st.sampled_from([b"\x00", b"\x5b", b"\xfe"]))  # STOP, JUMPDEST, INVALID
    else:
        size = draw(st.sampled_from([0, 4, 100, 1_000]))
        fill = draw(st.sampled_from([b"\x00", b"\x01"]))
    data = fill * size
    need = intrinsic(create, data)
    gas = draw(st.sampled_from([need, need + 1, need + 5_000])
               | st.sampled_from([need - 1, GAS_LIMIT - 1, GAS_LIMIT, GAS_LIMIT + 1])
               | st.integers(max(need - 100, 0), need + 200_000))
    gas = max(gas, 0)
    available_wei = max(model.balance(account), 0)
    fee = draw(st.sampled_from([
        0, 1, 7, available_wei // max(gas, 1), available_wei // max(gas, 1) + 1,
    ]))
    value_room = available_wei - gas * fee
    value = draw(st.sampled_from([0, 1, value_room - 1, value_room, value_room + 1]))
    value = max(value, 0)
    nonce = model.ledger.pending_nonce(account.address) + draw(st.sampled_from([0, 0, 0, -1, 1]))
    if nonce < 0:
        nonce = 0
    extra: dict[str, Any] = {}
    if tx_type == 2:
        tip = draw(st.sampled_from([0, fee, fee // 2, fee + 1]))
        extra = {"maxFeePerGas": fee, "maxPriorityFeePerGas": tip}
    to = None if create else BOB.address
    return sign(account, nonce=nonce, to=to, value=value, data=data, gas=gas,
                tx_type=tx_type, gas_price=fee, **extra)


def proposer_block(txs: list[tuple[bytes, int]]) -> list[tuple[bytes, bool]]:
    """CometBFT's reaping with max_gas = the block gas limit of the admitted transactions
    (raw, gas wanted; 0 when refused), in order; then the refused ones."""
    block: list[tuple[bytes, bool]] = []
    total = 0
    for raw, wanted in txs:
        if wanted:
            if total + wanted > GAS_LIMIT:
                break
            total += wanted
            block.append((raw, True))
    return block + [(raw, False) for raw, wanted in txs if not wanted]


def check_block(draw: Any) -> None:
    with tempfile.TemporaryDirectory(prefix="validity-") as tmp:
        revm = validity_ledger(Path(tmp) / "revm", "revm", gas_limit=GAS_LIMIT)
        pyevm = validity_ledger(Path(tmp) / "py-evm", "py-evm", gas_limit=GAS_LIMIT)
        try:
            assert (revm.engine, pyevm.engine) == ("revm", "py-evm")
            run_example(draw, revm, pyevm)
        finally:
            revm.close()
            pyevm.close()


def run_example(draw: Any, revm: Ledger, pyevm: Ledger) -> None:
    """Admit 1-4 drawn transactions on both ledgers, execute the proposer's block on both."""
    model = Model(revm, {})
    txs: list[tuple[bytes, int]] = []
    for _ in range(draw(st.integers(1, 4))):
        raw = draw_tx(draw, model)
        checked = revm.check_tx(raw)
        other = pyevm.check_tx(raw)
        assert (checked.code, checked.log) == (other.code, other.log), "CheckTx disagrees"
        txs.append((raw, checked.gas_wanted if checked.code == 0 else 0))
        if checked.code == 0:
            stx = revm.senders.decode(raw, revm.eth_chain_id)
            model.spent[checked.sender] = model.spent.get(checked.sender, 0) + stx.max_cost
    block = proposer_block(txs)
    raws = [raw for raw, _ in block]
    out_revm = revm.finalize_block(ctx(1), raws)
    out_pyevm = pyevm.finalize_block(ctx(1), raws)
    revm.commit()
    pyevm.commit()
    compare(raws, out_revm, out_pyevm)
    committed = {keccak(raw) for raw, r in zip(raws, out_revm.tx_results, strict=True)
                 if r.code in EXECUTED}
    for (raw, was_admitted), result in zip(block, out_revm.tx_results, strict=True):
        SEEN[f"{'admitted' if was_admitted else 'refused'} -> "
             f"{'executed' if result.code in EXECUTED else result.log.split(' ')[0]}"] += 1
        if was_admitted:
            assert result.code in EXECUTED, (
                f"admitted but not executed: code {result.code} {result.log!r}")
        tx_hash = "0x" + keccak(raw).hex()
        for ledger in (revm, pyevm):
            if result.code in EXECUTED:
                assert EthReads(ledger).get_receipt(tx_hash) is not None
            elif keccak(raw) in committed:  # the same bytes twice: the committed one wins
                assert ledger.transaction_rejection(tx_hash) is None
            else:
                record = ledger.transaction_rejection(tx_hash)
                assert record is not None and record["code"] == result.code


def compare(block: list[bytes], a: BlockOutcome, b: BlockOutcome) -> None:
    assert len(a.tx_results) == len(b.tx_results) == len(block)
    for i, (x, y) in enumerate(zip(a.tx_results, b.tx_results, strict=True)):
        assert (x.code, x.gas_used, x.data) == (y.code, y.gas_used, y.data), (
            f"engines disagree on transaction {i}: revm {x.code} {x.log!r}, "
            f"py-evm {y.code} {y.log!r}")
        if x.code == TxError.abci_code:  # the rules', not an engine's refusal
            assert x.log == y.log == TIP_ABOVE_CAP, f"an engine refused: {x.log!r} / {y.log!r}"
    assert a.app_hash == b.app_hash, "state roots differ"


def _run(examples: int) -> None:
    print(f"\nvalidity differential: seed {SEED}, {examples} examples, block gas limit "
          f"{GAS_LIMIT:,} (rerun with VALIDITY_SEED={SEED})")

    @seed(SEED)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def property_(data: st.DataObject) -> None:
        check_block(data.draw)

    SEEN.clear()
    property_()
    print("outcomes (CheckTx -> block):",
          ", ".join(f"{k}: {n}" for k, n in sorted(SEEN.items())))


def test_admitted_transactions_execute_alike_on_both_engines() -> None:
    _run(EXAMPLES)


@pytest.mark.slow
def test_admitted_transactions_execute_alike_on_both_engines_slow() -> None:
    _run(EXAMPLES * 10)
