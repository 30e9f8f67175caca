"""Hex parsing with errors that name the parameter; error mapping; filter bookkeeping."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode

from consortium.api import encoding as enc
from consortium.api.filters import BLOCKS, FilterRegistry, LogCriteria
from consortium.api.rpc_error import (
    ExecutionRevertedError,
    InvalidParams,
    LimitExceeded,
    NotFound,
    revert_reason,
    rpc_error_for,
)
from consortium.errors import ExecutionReverted, NonceTooLow, NotPermitted, error_for_abci_code
from consortium.ledger.types import LogEntry


@pytest.mark.parametrize(("value", "expected"), [
    ("0x0", 0), ("0x1f", 31), ("0X10", 16), (7, 7), ("0x" + "f" * 64, (1 << 256) - 1),
])
def test_quantity_accepts(value, expected):
    assert enc.quantity(value, "params[0]") == expected


@pytest.mark.parametrize(("value", "needle"), [
    ("12", "must start with 0x"), ("0x", "not a hex quantity"), ("0xzz", "not a hex quantity"),
    (True, "boolean"), (None, "null"), (1.5, "a number"), (-1, "negative"),
    ("0x1" + "0" * 64, "not a hex quantity"), ([], "an array"),
])
def test_quantity_refuses_with_reason(value, needle):
    with pytest.raises(InvalidParams, match=needle) as info:
        enc.quantity(value, "params[1]")
    assert info.value.code == -32602
    assert info.value.message.startswith("params[1]: ")


def test_data_and_address():
    assert enc.data("0x", "p") == b""
    assert enc.data("0x0aFF", "p") == b"\x0a\xff"
    with pytest.raises(InvalidParams, match="odd number"):
        enc.data("0xabc", "p")
    with pytest.raises(InvalidParams, match="not valid hex"):
        enc.data("0xgg", "p")
    with pytest.raises(InvalidParams, match=r"params\[0\]: address must be 20 bytes hex"):
        enc.address("0x1234", "params[0]")
    checksummed = "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c"
    assert enc.address(checksummed, "p") == checksummed.lower()
    with pytest.raises(InvalidParams, match="32 bytes"):
        enc.hash32("0x00", "p", what="block hash")


def test_block_ref_forms():
    assert enc.block_ref("latest", "p") == enc.BlockRef(tag="latest")
    assert enc.block_ref(None, "p") == enc.LATEST
    assert enc.block_ref("0x10", "p") == enc.BlockRef(number=16)
    block_hash = "0x" + "ab" * 32
    assert enc.block_ref(block_hash, "p") == enc.BlockRef(hash=block_hash)
    assert enc.block_ref({"blockHash": block_hash, "requireCanonical": True}, "p").hash \
        == block_hash
    assert enc.block_ref({"blockNumber": "0x5"}, "p") == enc.BlockRef(number=5)
    with pytest.raises(InvalidParams, match="one of latest"):
        enc.block_ref("newest", "params[1]")
    with pytest.raises(InvalidParams, match="blockHash or blockNumber"):
        enc.block_ref({}, "p")
    with pytest.raises(InvalidParams, match="not both"):
        enc.block_ref({"blockHash": block_hash, "blockNumber": "0x1"}, "p")


def test_call_object_normalizes():
    tx = enc.call_object({"from": "0x" + "AB" * 20, "to": None, "gas": "0x0010",
                          "input": "0x01", "accessList": []}, "params[0]")
    assert tx == {"from": "0x" + "ab" * 20, "gas": "0x10", "input": "0x01", "data": "0x01",
                  "accessList": []}
    with pytest.raises(InvalidParams, match="different values"):
        enc.call_object({"data": "0x01", "input": "0x02"}, "params[0]")
    with pytest.raises(InvalidParams, match=r"params\[0\].bogus: unknown"):
        enc.call_object({"bogus": 1}, "params[0]")
    with pytest.raises(InvalidParams, match=r"params\[0\].value"):
        enc.call_object({"value": "ten"}, "params[0]")


def test_params_arity():
    p = enc.Params(["0x1"], "m")
    assert p.required(0, enc.quantity) == 1
    assert p.optional(1, enc.quantity, 9) == 9
    with pytest.raises(InvalidParams, match=r"params\[1\]: missing"):
        p.required(1, enc.quantity)
    with pytest.raises(InvalidParams, match="too many arguments"):
        enc.Params([1, 2, 3], "m").at_most(2)
    with pytest.raises(InvalidParams, match="params must be an array"):
        enc.Params({"a": 1}, "m")


def test_topics():
    t = "0x" + "11" * 32
    assert enc.topics([t, None, [t, t]], "p") == [t, None, [t, t]]
    with pytest.raises(InvalidParams, match="at most 4"):
        enc.topics([None] * 5, "p")
    with pytest.raises(InvalidParams, match=r"p\[0\]: topic must be 32 bytes"):
        enc.topics(["0x01"], "p")


def test_revert_reasons():
    error = bytes.fromhex("08c379a0") + abi_encode(["string"], ["insufficient balance"])
    assert revert_reason(error) == "insufficient balance"
    panic = bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")
    assert revert_reason(panic) == "panic: arithmetic underflow or overflow (0x11)"
    assert revert_reason(b"\x01\x02") is None
    err = ExecutionRevertedError(error)
    assert err.to_json() == {"code": 3, "message": "execution reverted: insufficient balance",
                             "data": "0x" + error.hex()}
    assert ExecutionRevertedError(b"").to_json() == {
        "code": 3, "message": "execution reverted", "data": "0x"}


def test_node_errors_map_to_their_rpc_codes():
    assert rpc_error_for(NotPermitted("not a member")).to_json() == {
        "code": -32003, "message": "not a member"}
    assert rpc_error_for(error_for_abci_code(6, "nonce 0 already used")).code == -32000
    assert isinstance(error_for_abci_code(6, "x"), NonceTooLow)
    reverted = rpc_error_for(ExecutionReverted("execution reverted: no", data=b"\xaa"))
    assert reverted.to_json() == {"code": 3, "message": "execution reverted: no", "data": "0xaa"}


def _log(address: str, *topics: str) -> LogEntry:
    return LogEntry(address, topics, b"", 1, "0x" + "00" * 32, "0x" + "00" * 32, 0, 0)


def test_log_criteria_match():
    a, b = "0x" + "aa" * 20, "0x" + "bb" * 20
    t1, t2, t3 = ("0x" + c * 32 for c in ("11", "22", "33"))
    entry = _log(a, t1, t2)
    assert LogCriteria().matches(entry)
    assert LogCriteria.of([a], []).matches(entry)
    assert not LogCriteria.of([b], []).matches(entry)
    assert LogCriteria.of([], [t1]).matches(entry)
    assert LogCriteria.of([], [None, [t3, t2]]).matches(entry)
    assert not LogCriteria.of([], [None, t3]).matches(entry)
    assert not LogCriteria.of([], [None, None, t3]).matches(entry)  # log has 2 topics
    assert LogCriteria.of([], [t1, None, None]).matches(entry)  # trailing wildcards dropped


def test_filter_registry_expiry_and_limits():
    now = [1000.0]
    reg = FilterRegistry(ttl=300, max_filters=2, clock=lambda: now[0])
    fid = reg.install(BLOCKS, 5)
    assert reg.get(fid).last_height == 5
    reg.advance(fid, 9)
    assert reg.get(fid.upper().replace("0X", "0x")).last_height == 9
    reg.install(BLOCKS, 5)
    with pytest.raises(LimitExceeded, match="too many filters"):
        reg.install(BLOCKS, 5)
    now[0] += 200
    reg.get(fid)  # polled: kept alive
    now[0] += 200
    assert reg.expire() == 1  # the other one was never polled
    assert len(reg) == 1
    now[0] += 301
    with pytest.raises(NotFound, match="expire"):
        reg.get(fid)
    assert not reg.uninstall(fid)
