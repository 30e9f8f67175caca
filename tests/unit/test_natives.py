"""The native-contract framework: dispatch, ABI, storage, events, value, reverts, gas,
and calls between natives and EVM contracts."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from consortium.api.eth_json import EthReads
from consortium.errors import ExecutionReverted
from consortium.evm.native import (
    NATIVE_STUB_CODE,
    NativeContract,
    error_data,
    event,
    method,
    native_address,
    register,
    registered_natives,
)
from consortium.ledger.ledger import Ledger
from consortium.system.crypto import CRYPTO_ADDRESS
from tests.support.ledger_testkit import ALICE, calldata, new_ledger, run_block, sign

PROBE = native_address(0xFF01)
PROBE_HEX = "0x" + PROBE.hex()
CRYPTO_HEX = "0x" + CRYPTO_ADDRESS.hex()


@register
class Probe(NativeContract):
    """A native used only by these tests."""

    address = PROBE
    Stored = event("Stored(address indexed who, uint256 value, string note)")

    @method("store(uint256,string)")
    def store(self, value: int, note: str) -> None:
        s = self.storage
        s.set_uint(0, value)
        s.set_string(1, note)
        s.set_uint(s.at(2, self.host.caller), value)
        self.emit(self.Stored, self.host.caller, value, note)

    @method("load(address)", returns=("uint256", "string", "uint256"), view=True)
    def load(self, who: bytes) -> tuple[int, str, int]:
        s = self.storage
        return s.get_uint(0), s.get_string(1), s.get_uint(s.at(2, bytes.fromhex(who[2:])))

    @method("boom()")
    def boom(self) -> None:
        raise KeyError(f"secret at {id(self):#x}")

    @method("fail(string)")
    def fail(self, reason: str) -> None:
        self.revert(reason)

    @method("pay()", returns="uint256", payable=True)
    def pay(self) -> int:
        return self.host.value

    @method("whoami()", returns=("address", "address", "uint256", "uint256"), view=True)
    def whoami(self) -> tuple[str, str, int, int]:
        h = self.host
        return ("0x" + h.caller.hex(), "0x" + h.origin.hex(), h.block.number, h.block.chain_id)

    @method("forward(address,bytes)", returns=("bool", "bytes"))
    def forward(self, to: str, data: bytes) -> tuple[bool, bytes]:
        return self.host.call(bytes.fromhex(to[2:]), data)


CALLER_SOURCE = """
# pragma version ^0.4.0
interface Crypto:
    def sm3(data: Bytes[1024]) -> bytes32: view

interface Probe:
    def store(amount: uint256, note: String[64]): nonpayable

last: public(bytes32)

@external
def hashIt(data: Bytes[1024]) -> bytes32:
    h: bytes32 = staticcall Crypto(0x0000000000000000000000000000000000001003).sm3(data)
    self.last = h
    return h

@external
def storeThenFail(amount: uint256):
    extcall Probe(0x000000000000000000000000000000000000ff01).store(amount, "from vyper")
    raise "after the native wrote"

@external
def delegateToProbe() -> bool:
    ok: bool = False
    out: Bytes[128] = b""
    ok, out = raw_call(0x000000000000000000000000000000000000ff01, method_id("pay()"),
                       max_outsize=128, is_delegate_call=True, revert_on_failure=False)
    return ok
"""


def h(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = new_ledger(tmp_path)
    yield ledger
    ledger.close()


def send(ledger: Ledger, data: bytes, *, to: str = PROBE_HEX, value: int = 0,
         gas: int = 300_000):
    nonce = ledger.get_nonce(ALICE.address)
    raw = sign(ALICE, nonce=nonce, to=to, data=data, value=value, gas=gas)
    (res,) = run_block(ledger, [raw]).tx_results
    return res, raw


def test_registry_and_genesis_accounts(ledger: Ledger) -> None:
    natives = registered_natives()
    assert natives[CRYPTO_ADDRESS].__name__ == "Crypto"
    assert natives[PROBE] is Probe
    for address in (CRYPTO_HEX, PROBE_HEX):
        assert ledger.get_code(address) == NATIVE_STUB_CODE
        assert ledger.get_nonce(address) == 1


def test_abi_export() -> None:
    abi = {entry["name"]: entry for entry in Probe.abi()}
    assert abi["store"]["inputs"] == [{"name": "value", "type": "uint256"},
                                      {"name": "note", "type": "string"}]
    assert abi["store"]["stateMutability"] == "nonpayable"
    assert abi["load"]["stateMutability"] == "view"
    assert abi["pay"]["stateMutability"] == "payable"
    assert [o["type"] for o in abi["load"]["outputs"]] == ["uint256", "string", "uint256"]
    assert abi["Stored"] == {
        "type": "event", "name": "Stored", "anonymous": False,
        "inputs": [{"name": "who", "type": "address", "indexed": True},
                   {"name": "value", "type": "uint256", "indexed": False},
                   {"name": "note", "type": "string", "indexed": False}],
    }


def test_an_event_is_named_by_its_attribute_as_if_declared_whole() -> None:
    class Named:
        Moved = event("address indexed from", "uint256 amount")

    whole = event("Moved(address indexed from, uint256 amount)")
    assert Named.Moved == whole and Named.Moved.topic0 == keccak(b"Moved(address,uint256)")
    assert Named.Moved.abi() == whole.abi()
    with pytest.raises(TypeError, match="named by the contract attribute"):
        _ = event("uint256 amount").signature


def test_storage_write_changes_the_state_root_and_emits(ledger: Ledger) -> None:
    before = ledger.info()[1]
    res, raw = send(ledger, calldata("store(uint256,string)", ["uint256", "string"],
                                     [42, "hello native"]))
    assert res.code == 0, res.log
    assert ledger.info()[1] != before
    assert int.from_bytes(ledger.get_storage_at(PROBE_HEX, 0), "big") == 42
    out = ledger.call({"to": PROBE_HEX,
                       "data": calldata("load(address)", ["address"], [ALICE.address])})
    assert abi_decode(["uint256", "string", "uint256"], out.output) == (42, "hello native", 42)
    receipt = EthReads(ledger).get_receipt(h(raw))
    (log,) = receipt["logs"]
    assert log["address"] == PROBE_HEX
    assert log["topics"] == ["0x" + Probe.Stored.topic0.hex(),
                             "0x" + "00" * 12 + ALICE.address.lower()[2:]]
    assert abi_decode(["uint256", "string"], bytes.fromhex(log["data"][2:])) == (
        42, "hello native")
    assert any(e.type == "eth_log" for e in res.events)


def test_python_exception_reverts_with_type_name_only(ledger: Ledger) -> None:
    res, raw = send(ledger, calldata("boom()", [], []))
    assert res.code == ExecutionReverted.abci_code
    assert res.data == error_data("KeyError")
    assert res.log == "execution reverted: KeyError"
    assert EthReads(ledger).get_receipt(h(raw))["status"] == "0x0"


def test_revert_with_reason(ledger: Ledger) -> None:
    data = calldata("fail(string)", ["string"], ["not allowed"])
    res, _ = send(ledger, data)
    assert res.code == ExecutionReverted.abci_code
    assert res.data == error_data("not allowed")
    call = ledger.call({"to": PROBE_HEX, "data": data})
    assert not call.success and call.error == "execution reverted: not allowed"
    with pytest.raises(ExecutionReverted) as info:
        ledger.estimate_gas({"to": PROBE_HEX, "data": data})
    assert info.value.data == error_data("not allowed")


def test_unknown_selector_and_bad_arguments(ledger: Ledger) -> None:
    unknown = ledger.call({"to": PROBE_HEX, "data": "0xdeadbeef"})
    assert not unknown.success and "unknown method 0xdeadbeef" in unknown.error
    short = ledger.call({"to": PROBE_HEX, "data": "0x01"})
    assert not short.success
    bad = ledger.call({"to": PROBE_HEX, "data": calldata("fail(string)", [], [])})
    assert bad.error == "execution reverted: bad arguments for fail(string)"


def test_value_and_payable(ledger: Ledger) -> None:
    res, _ = send(ledger, calldata("pay()", [], []), value=5)
    assert res.code == 0 and abi_decode(["uint256"], res.data) == (5,)
    assert ledger.get_balance(PROBE_HEX) == 5
    res, _ = send(ledger, calldata("boom()", [], []), value=5)
    assert res.data == error_data("boom() is not payable")
    assert ledger.get_balance(PROBE_HEX) == 5  # the value went back


def test_host_facts(ledger: Ledger) -> None:
    res, _ = send(ledger, calldata("whoami()", [], []))
    caller, origin, number, chain_id = abi_decode(["address", "address", "uint256",
                                                   "uint256"], res.data)
    assert caller == origin == ALICE.address.lower()
    assert number == 1 and chain_id == ledger.eth_chain_id


def test_native_calls_another_native(ledger: Ledger) -> None:
    inner = calldata("sm3(bytes)", ["bytes"], [b"abc"])
    out = ledger.call({"to": PROBE_HEX, "data": calldata(
        "forward(address,bytes)", ["address", "bytes"], [CRYPTO_HEX, inner])})
    ok, returned = abi_decode(["bool", "bytes"], out.output)
    assert ok
    assert returned.hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_out_of_gas_inside_a_native(ledger: Ledger) -> None:
    data = calldata("store(uint256,string)", ["uint256", "string"], [1, "x"])
    res, _ = send(ledger, data, gas=30_000)
    assert res.code == ExecutionReverted.abci_code
    assert res.gas_used == 30_000
    assert int.from_bytes(ledger.get_storage_at(PROBE_HEX, 0), "big") == 0


def test_evm_contracts_call_natives_atomically(ledger: Ledger) -> None:
    from tests.support.ledger_testkit import compile_vyper, contract_address

    code, _ = compile_vyper(CALLER_SOURCE)
    res, _ = send(ledger, code, to=None, gas=3_000_000)  # type: ignore[arg-type]
    assert res.code == 0, res.log
    caller = contract_address(ALICE.address.lower(), 0)
    res, _ = send(ledger, calldata("hashIt(bytes)", ["bytes"], [b"abc"]), to=caller)
    assert res.code == 0, res.log
    assert res.data.hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    # a native's write is undone when the EVM caller reverts later in the transaction
    res, _ = send(ledger, calldata("storeThenFail(uint256)", ["uint256"], [9]), to=caller)
    assert res.code == ExecutionReverted.abci_code
    assert res.log == "execution reverted: after the native wrote"
    assert int.from_bytes(ledger.get_storage_at(PROBE_HEX, 0), "big") == 0
    # natives refuse DELEGATECALL (they keep their state at their own address)
    refused = ledger.call({"to": caller, "data": calldata("delegateToProbe()", [], [])})
    assert refused.success and abi_decode(["bool"], refused.output) == (False,)
