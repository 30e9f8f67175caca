"""Out-of-range input at the declared surface (the outside test's B2, B5, P5): numbers a
contract's uint256 cannot hold, heights the chain has not reached, and a transaction that
reverts only at its block's height — each answered as a bad parameter or with the reason,
never as an internal error or a bare "execution reverted"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consortium.api.encoding import Params
from consortium.api.rpc_error import InvalidParams
from consortium.api.service_surface import rest_routes, rpc_handlers
from consortium.apps.securities.contract import Securities
from consortium.apps.securities.surface import SECURITIES
from consortium.apps.service_client import ServiceClient
from consortium.apps.surface import (
    AMOUNT,
    HEIGHT,
    UINT256_MAX,
    BadValue,
    Param,
    Read,
    Service,
    encoded,
)
from consortium.errors import ExecutionReverted
from consortium.evm.native import NativeCalls
from consortium.sdk.client import ConsortiumClient
from tests.support.securities_testkit import securities_ledger

BIG = 2**256
ISIN = "US0378331005"
ONE, TWO = "0x" + "11" * 20, "0x" + "22" * 20


async def _now(fn: Any) -> Any:
    return fn()


def test_whole_numbers_beyond_uint256_are_refused_naming_the_range() -> None:
    assert AMOUNT.parse(UINT256_MAX, "n") == UINT256_MAX
    assert AMOUNT.parse(str(UINT256_MAX), "n") == UINT256_MAX
    for big in (BIG, str(BIG), hex(BIG), 10**100):
        with pytest.raises(BadValue, match=r"^n: .* is out of range: 0 to 2\*\*256-1$"):
            AMOUNT.parse(big, "n")
    # the securities' own count kind shares the parser, so its message too
    count = next(p for p in SECURITIES.reads if p.name == "restriction").params[-1].kind
    with pytest.raises(BadValue, match=r"amount: 115792…9936 \(78 digits\) is out of range"):
        count.parse(BIG, "amount")


def test_an_argument_the_abi_cannot_hold_is_refused_naming_it() -> None:
    calls = NativeCalls(Securities)
    with pytest.raises(BadValue, match=r"^placeOrder: quantity .* out of range: 0 to 2\*\*256-1$"):
        encoded(calls, "placeOrder", ISIN, 0, 1, BIG, 0)
    with pytest.raises(BadValue, match=r"^placeOrder: price must be 0 or more, not -1$"):
        encoded(calls, "placeOrder", ISIN, 0, -1, 1, 0)
    with pytest.raises(BadValue, match=r"^placeOrder: side 300 is out of range: 0 to 2\*\*8-1$"):
        encoded(calls, "placeOrder", ISIN, 300, 1, 1, 0)
    assert encoded(calls, "placeOrder", ISIN, 0, 1, 1, 0) == calls.encode(
        "placeOrder", ISIN, 0, 1, 1, 0)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Any:
    found = securities_ledger(tmp_path_factory.mktemp("edges") / "ledger")
    yield found
    found.close()


def test_rest_and_json_rpc_refuse_numbers_beyond_uint256_as_bad_parameters(ledger: Any) -> None:
    """B2: the restriction's amount and the holders' height of 2**256 are 400 / -32602
    naming the parameter (they were 500 / -32603, the ABI encoder's traceback)."""
    http = TestClient(Starlette(routes=rest_routes(SECURITIES, ledger, _now)))
    base = "/api/v1/securities"
    bad = http.get(f"{base}/restriction", params={"isin": ISIN, "from": ONE, "to": TWO,
                                                  "amount": str(BIG)})
    assert bad.status_code == 400 and bad.json()["error"].startswith("amount: "), bad.text
    assert "out of range" in bad.json()["error"]
    bad = http.get(f"{base}/instruments/{ISIN}/holders", params={"height": str(BIG)})
    assert bad.status_code == 400 and bad.json()["error"].startswith("height: "), bad.text
    fine = http.get(f"{base}/restriction", params={"isin": ISIN, "from": ONE, "to": TWO,
                                                   "amount": "1"})
    assert fine.status_code == 200, fine.text
    rpc = rpc_handlers((SECURITIES,))
    with pytest.raises(InvalidParams, match=r"params\[3\] \(amount\): .* out of range"):
        rpc["consortium_transferRestriction"](ledger, Params([ISIN, ONE, TWO, BIG],
                                                             "consortium_transferRestriction"))
    with pytest.raises(InvalidParams, match=r"params\[1\] \(height\): .* out of range"):
        rpc["consortium_holders"](ledger, Params([ISIN, BIG], "consortium_holders"))


class _Reader:
    """A reader whose one read encodes a uint8 argument, and one with a height."""

    calls = NativeCalls(Securities)

    def __init__(self, _call: Any, _logs: Any) -> None:
        pass

    def side(self, side: int) -> Any:
        return len(encoded(self.calls, "placeOrder", ISIN, side, 1, 1, 0))

    def at(self, height: int | None = None) -> Any:
        return {"height": height}


EDGES = Service("edges", "Edges", _Reader, (
    Read("side", "A side", rpc="x_side", rest="/side/{side}", params=(Param("side", AMOUNT),)),
    Read("at", "At a height", rpc="x_at", rest="/at",
         params=(Param("height", HEIGHT, default=None),)),
))


class _Ledger:
    def latest_height(self) -> int:
        return 10


def test_a_value_the_reader_cannot_encode_and_a_future_height_are_bad_parameters() -> None:
    """What the kinds let through but the contract's ABI cannot hold is still a bad
    parameter; a HEIGHT above the chain's is refused (P5), not answered with today's state."""
    http = TestClient(Starlette(routes=rest_routes(EDGES, _Ledger(), _now)))  # type: ignore[arg-type]
    assert http.get("/api/v1/edges/side/1").json() > 0
    bad = http.get("/api/v1/edges/side/300")
    assert (bad.status_code, bad.json()) == (
        400, {"error": "placeOrder: side 300 is out of range: 0 to 2**8-1"})
    assert http.get("/api/v1/edges/at?height=10").json() == {"height": 10}
    assert http.get("/api/v1/edges/at").json() == {"height": None}
    bad = http.get("/api/v1/edges/at?height=11")
    assert (bad.status_code, bad.json()) == (
        400, {"error": "height: height 11 is in the future; the chain is at 10"})
    rpc = rpc_handlers((EDGES,))
    with pytest.raises(InvalidParams, match=re.escape("side 300 is out of range")):
        rpc["x_side"](_Ledger(), Params([300], "x_side"))  # type: ignore[arg-type]
    with pytest.raises(InvalidParams, match="height 99 is in the future; the chain is at 10"):
        rpc["x_at"](_Ledger(), Params([99], "x_at"))  # type: ignore[arg-type]


class _Node:
    """A node where a call reverted in block 7 for its height alone: replayed on block 6
    it passes (as an order whose expiry is 7 does), on block 7 it reverts with the reason."""

    reverted = ConsortiumClient.reverted

    def confirm(self, tx_hash: bytes, to: bytes, data: bytes, timeout: float) -> Any:
        raise self.reverted(tx_hash, 7, lambda: self.call_data(to, data, 6, "0x01"))

    def wait_receipt(self, tx_hash: bytes, timeout: float) -> dict[str, Any]:
        return {"blockNumber": 7, "from": "0x01", "status": 0}

    def call_data(self, to: bytes, data: bytes, block: Any, sender: Any = None) -> bytes:
        if block >= 7:
            raise ExecutionReverted("execution reverted: expiry height 7 has passed (the "
                                    "chain is at 7)")
        return b""


def test_a_write_that_reverts_at_its_own_height_reports_the_reason(tmp_path: Path) -> None:
    """B5: the reason comes from replaying the call at its block when the state before the
    block does not reproduce the revert (every service's writes share this receipt)."""

    class Client(ServiceClient):
        transitions: dict[str, Any] = {}

    client = Client("http://127.0.0.1:9")
    client.address, client.calls = bytes(Securities.address), NativeCalls(Securities)
    client.client = _Node()  # type: ignore[assignment]
    with pytest.raises(ExecutionReverted) as err:
        client.receipt(b"\x01" * 32, "placeOrder", (ISIN, 1, 5, 1, 7))
    assert err.value.message == (f"transaction 0x{'01' * 32} reverted in block 7: execution "
                                 "reverted: expiry height 7 has passed (the chain is at 7)")
