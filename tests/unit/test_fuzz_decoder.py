"""Fuzzing of the transaction decoder and CheckTx (issue 17): raw bytes, RLP structures and
valid transactions mutated field by field go to `decode_transaction` (through py-evm and
through the Rust decoder) and to `Ledger.check_tx`. Decoding raises nothing but a TxError;
CheckTx always answers a CheckOutcome with a code, and a log when it refuses; the two decoders
accept the same transactions with the same fields and refuse the same ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from consortium.errors import TxError
from consortium.evm.revm_engine import available, parse_transaction
from consortium.ledger.ledger import Ledger
from consortium.ledger.transactions import SignedTx, decode_transaction
from consortium.ledger.types import CheckOutcome
from tests.support.ledger_testkit import ALICE, BOB, CHAIN_ID, MALLORY, new_ledger, sign

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
needs_revm = pytest.mark.skipif(not available(), reason="consortium_revm is not built")

# --- what goes in ------------------------------------------------------------------------------

rlp_items: st.SearchStrategy[Any] = st.recursive(
    st.binary(max_size=40) | st.integers(0, 2**300).map(lambda n: n.to_bytes(
        (n.bit_length() + 7) // 8, "big")),
    lambda inner: st.lists(inner, max_size=14),
    max_leaves=40,
)


@st.composite
def rlp_structures(draw: st.DrawFn) -> bytes:
    """An RLP encoding of anything, with a transaction type byte in front or not."""
    prefix = draw(st.sampled_from([b"", b"\x01", b"\x02", b"\x03", b"\x04", b"\x7f"]))
    return prefix + rlp.encode(draw(rlp_items))


@st.composite
def valid_txs(draw: st.DrawFn) -> bytes:
    """A correctly signed transaction of any accepted type with fields drawn from their
    whole ranges (and past them where the signer lets us)."""
    tx_type = draw(st.sampled_from([0, 1, 2]))
    fee = draw(st.integers(0, 2**64))
    return sign(
        draw(st.sampled_from([ALICE, BOB, MALLORY])),
        nonce=draw(st.integers(0, 2**64 - 2)),
        to=draw(st.sampled_from([BOB.address, None])),
        value=draw(st.integers(0, 2**256 - 1)),
        data=draw(st.binary(max_size=200)),
        gas=draw(st.integers(0, 2**63)),
        tx_type=tx_type,
        chain_id=draw(st.sampled_from([CHAIN_ID, 1, 2**32])),
        gas_price=fee,
    )


@st.composite
def admissible_txs(draw: st.DrawFn) -> bytes:
    """Transactions near what CheckTx admits (a member, this chain, small nonces and gas),
    so the accepting path and its pending nonces are fuzzed too."""
    return sign(
        draw(st.sampled_from([ALICE, BOB])),
        nonce=draw(st.integers(0, 3)),
        to=draw(st.sampled_from([BOB.address, None])),
        value=draw(st.integers(0, 10**21)),
        data=draw(st.binary(max_size=64)),
        gas=draw(st.integers(20_000, 2_000_000)),
        tx_type=draw(st.sampled_from([0, 1, 2])),
        gas_price=draw(st.integers(0, 10**9)),
    )


MUTATIONS = ("drop", "add", "huge", "list", "bytes", "empty", "swap")


@st.composite
def mutated_txs(draw: st.DrawFn) -> bytes:
    """A valid transaction whose RLP fields were then changed: a field dropped or added, a
    number made huge, a scalar made a list, bytes of another length, fields swapped."""
    raw = draw(valid_txs())
    prefix, body = (raw[:1], raw[1:]) if raw[0] < 0x7F else (b"", raw)
    fields: list[Any] = list(rlp.decode(body))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(MUTATIONS))
        at = draw(st.integers(0, len(fields) - 1)) if fields else 0
        if how == "drop" and fields:
            fields.pop(at)
        elif how == "add":
            fields.insert(at, draw(rlp_items))
        elif how == "huge" and fields:
            fields[at] = draw(st.integers(2**64 - 2, 2**300))
        elif how == "list" and fields:
            fields[at] = [fields[at]]
        elif how == "bytes" and fields:
            fields[at] = draw(st.binary(max_size=70))
        elif how == "empty" and fields:
            fields[at] = b""
        elif how == "swap" and len(fields) > 1:
            other = draw(st.integers(0, len(fields) - 1))
            fields[at], fields[other] = fields[other], fields[at]
    return prefix + rlp.encode(fields)


any_input = st.binary(max_size=400) | rlp_structures() | mutated_txs() | valid_txs()

# --- what must come out ------------------------------------------------------------------------


def decoded(raw: bytes, parse: Any) -> tuple[str, Any]:
    """("ok", the fields the ledger uses) or ("refused", the TxError's class); any other
    exception fails the test."""
    try:
        stx = decode_transaction(raw, CHAIN_ID, parse)
    except TxError as err:
        assert err.message, f"{type(err).__name__} without a message for {raw.hex()}"
        return "refused", type(err).__name__
    return "ok", fields_of(stx)


def fields_of(stx: SignedTx) -> tuple[Any, ...]:
    tx = stx.tx
    access = tuple((bytes(a), tuple(int(s) for s in slots)) for a, slots in tx.access_list)
    return (stx.hash, stx.sender, stx.type_id, stx.chain_id, stx.min_gas, tx.nonce, tx.gas,
            bytes(tx.to), tx.value, bytes(tx.data), tx.r, tx.s, tx.max_fee_per_gas,
            tx.max_priority_fee_per_gas, access)


@FUZZ
@given(any_input)
def test_decoder_raises_only_tx_errors(raw: bytes) -> None:
    decoded(raw, None)


@needs_revm
@FUZZ
@given(any_input)
def test_rust_and_py_evm_decoders_agree(raw: bytes) -> None:
    rust = decoded(raw, parse_transaction)
    event(rust[0] if rust[0] == "ok" else f"refused: {rust[1]}")
    assert rust == decoded(raw, None), raw.hex()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    led = new_ledger(Path(tmp_path_factory.mktemp("fuzz-ledger")))
    yield led
    led.close()


@FUZZ
@given(raw=any_input | admissible_txs())
def test_check_tx_always_answers(ledger: Ledger, raw: bytes) -> None:
    out = ledger.check_tx(raw)
    event(f"code {out.code}")
    assert isinstance(out, CheckOutcome)
    assert isinstance(out.code, int) and out.code >= 0
    if out.code != 0:
        assert out.log.strip(), f"refusal code {out.code} without a log for {raw.hex()}"
    else:
        assert out.tx_hash.startswith("0x") and out.sender.startswith("0x")
