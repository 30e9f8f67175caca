"""Securities through a node's API: the typed SecuritiesClient over HTTP, the securities
JSON-RPC methods, the REST routes and the `consortium securities` commands — on a real Ledger
behind a real API server, with a stub engine that commits what CheckTx admits."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from eth_account import Account
from jsonrpc_testkit import StubEngine
from securities_testkit import (
    AGENT,
    ALICE,
    BANK,
    BOB,
    CAROL,
    DAVE,
    OPERATOR,
    REGULATOR,
    STRANGER,
    low,
    securities_ledger,
)
from starlette.testclient import TestClient

from consortium.api.app import create_app
from consortium.apps.securities import SecuritiesClient
from consortium.cli.main import main
from consortium.errors import ExecutionReverted

PARTIES = {"bank": BANK, "agent": AGENT, "alice": ALICE, "bob": BOB, "carol": CAROL,
           "regulator": REGULATOR, "operator": OPERATOR, "stranger": STRANGER, "dave": DAVE}
ISIN = "GB0002634946"


class SerialEngine(StubEngine):
    """The stub engine with CometBFT's ordering: CheckTx never runs while a block commits,
    and what is left in the mempool is rechecked after it."""

    def __init__(self, ledger: Any) -> None:
        self.lock = threading.Lock()
        super().__init__(ledger)

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return super().answer(req)

    def commit_block(self) -> None:
        with self.lock:
            super().commit_block()
            for raw in self.mempool:
                self.ledger.check_tx(raw, recheck=True)


class LiveNode:
    """A securities ledger, its API on a loopback port, and blocks made every 50 ms."""

    def __init__(self, path: Path) -> None:
        self.ledger = securities_ledger(path / "ledger")
        self.engine = SerialEngine(self.ledger)
        self.app = create_app(self.ledger, self.engine.url, node_name="securities-node")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        )
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.server.run, daemon=True),
                        threading.Thread(target=self._blocks, daemon=True)]
        for t in self.threads:
            t.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "API server did not start"
            time.sleep(0.02)
        self.keys = path / "keys"
        self.keys.mkdir()
        self.password_file = path / "empty-password"
        self.password_file.write_text("")
        for name, acct in PARTIES.items():
            keystore = Account.encrypt(acct.key, "", kdf="pbkdf2", iterations=2)
            (self.keys / f"{name}.json").write_text(json.dumps(keystore))
        self.client = SecuritiesClient(self.url)

    def _blocks(self) -> None:
        while not self.stop.is_set():
            self.engine.commit_block()  # empty blocks too: heights advance
            time.sleep(0.05)

    def keystore(self, name: str) -> str:
        return str(self.keys / f"{name}.json")

    def close(self) -> None:
        self.stop.set()
        self.server.should_exit = True
        for t in self.threads:
            t.join(timeout=10)
        self.engine.close()
        self.ledger.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("securities-api"))
    yield node
    node.close()


def rpc(live: LiveNode, method: str, *params: Any) -> dict[str, Any]:
    answer = TestClient(live.app).post(
        "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def cli(capsys: pytest.CaptureFixture[str], live: LiveNode, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--rpc", live.url])
    out = capsys.readouterr()
    return code, out.out, out.err


def signed(live: LiveNode, name: str) -> list[str]:
    return ["--from", live.keystore(name), "--password-file", str(live.password_file)]


def test_client_flow_and_refusal_reasons(live: LiveNode) -> None:
    sec = live.client
    sec.create_token(BANK, "CNY", "Bank A digital CNY")
    for acct in (AGENT, ALICE, BOB):
        sec.set_investor(BANK, acct.address, kyc_expiry=10**9, jurisdiction="CN")
        sec.mint_cash(BANK, "CNY", acct.address, 100_000)
        sec.approve(acct, "CNY")
    out = sec.issue(AGENT, ISIN, "BP plc", 1_000, currency="CNY", document=b"prospectus")
    assert [t["to"] for t in out["transitions"]] == ["active"]
    sec.transfer(AGENT, ISIN, ALICE.address, 100)
    out = sec.sell(ALICE, ISIN, 10, price=101)
    assert out["orderState"] == "open" and out["trades"] == []
    sell_id = out["orderId"]
    out = sec.buy(BOB, ISIN, 4, price=102)
    (trade,) = out["trades"]
    assert (trade["quantity"], trade["price"], trade["state"]) == (4, 101, "settled")
    assert out["orderState"] == "filled"
    assert sec.read.holding(ISIN, BOB.address)["balance"] == 4
    # Refusals raise with the contract's reason before anything is sent.
    with pytest.raises(ExecutionReverted, match="only the order's owner"):
        sec.cancel_order(STRANGER, sell_id)
    with pytest.raises(ExecutionReverted, match=r"code 2\): recipient is not a registered"):
        sec.transfer(ALICE, ISIN, DAVE.address, 1)
    out = sec.cancel_order(ALICE, sell_id)
    assert out["transitions"][0]["to"] == "cancelled"
    assert [h["to"] for h in sec.history("order", sell_id)] == ["open", "cancelled"]


def test_json_rpc_and_rest(live: LiveNode) -> None:
    sec = live.client
    if not sec.read.isins():
        test_client_flow_and_refusal_reasons(live)
    body = rpc(live, "consortium_instrument", ISIN)["result"]
    assert body["isin"] == ISIN and body["currency"] == "CNY"
    assert rpc(live, "consortium_instrument", "US0378331005")["result"] is None
    assert "expected an ISIN" in rpc(live, "consortium_instrument", "nope")["error"]["message"]
    book = rpc(live, "consortium_orderBook", ISIN, 5)["result"]
    assert set(book) >= {"bids", "asks"}
    trades = rpc(live, "consortium_trades", {"isin": ISIN})["result"]
    assert trades and trades[0]["state"] == "settled"
    assert rpc(live, "consortium_trades", {"colour": "red"})["error"]["code"] == -32602
    holdings = rpc(live, "consortium_holdings", low(BOB))["result"]
    assert holdings == [{"isin": ISIN, "account": low(BOB), "balance": 4, "locked": 0,
                         "free": 4}]
    restriction = rpc(live, "consortium_transferRestriction", ISIN, low(ALICE), low(DAVE), 1)
    assert restriction["result"] == {"code": 2,
                                     "message": "recipient is not a registered investor"}
    assert rpc(live, "consortium_cashBalances", low(BOB))["result"][0]["currency"] == "CNY"
    assert rpc(live, "consortium_investor", low(ALICE))["result"]["eligible"] is True

    http = TestClient(live.app)
    assert http.get(f"/api/v1/securities/instruments/{ISIN}").json()["name"] == "BP plc"
    assert http.get("/api/v1/securities/instruments/US0378331005").status_code == 404
    assert http.get("/api/v1/securities/instruments/bad").status_code == 400
    assert http.get(f"/api/v1/securities/instruments/{ISIN}/book?levels=3").status_code == 200
    assert http.get(f"/api/v1/securities/trades?isin={ISIN}").json() == trades
    assert http.get("/api/v1/securities/trades/999").status_code == 404
    assert http.get(f"/api/v1/securities/orders?account={low(ALICE)}").json()[0]["side"] == \
        "sell"
    r = http.get("/api/v1/securities/restriction",
                 params={"isin": ISIN, "from": low(ALICE), "to": low(DAVE), "amount": 1})
    assert r.json()["code"] == 2
    assert http.get("/api/v1/cash/tokens/CNY").json()["supply"] == 300_000
    paths = http.get("/openapi.json").json()["paths"]
    assert "/api/v1/securities/instruments/{isin}/book" in paths


def test_cli_commands(live: LiveNode, capsys: pytest.CaptureFixture[str]) -> None:
    sec = live.client
    if not sec.read.isins():
        test_client_flow_and_refusal_reasons(live)
    code, out, err = cli(capsys, live, "securities", "investor", "set", CAROL.address,
                         "--kyc-blocks", "100000", "--jurisdiction", "HK",
                         *signed(live, "bank"))
    assert code == 0, err
    sec.mint_cash(BANK, "CNY", CAROL.address, 50_000)
    code, out, err = cli(capsys, live, "securities", "cash", "approve", "CNY",
                         *signed(live, "carol"))
    assert code == 0, err
    code, out, err = cli(capsys, live, "securities", "order", "sell", ISIN, "5", "--price",
                         "99", "--json", *signed(live, "alice"))
    assert code == 0, err
    placed = json.loads(out)
    code, out, err = cli(capsys, live, "securities", "order", "buy", ISIN, "2", "--price",
                         "100", *signed(live, "carol"))
    assert code == 0, err
    assert "trade" in out
    code, out, err = cli(capsys, live, "securities", "book", ISIN, "--json")
    assert json.loads(out)["asks"][0] == {"price": 99, "quantity": 3, "orders": 1}
    code, out, err = cli(capsys, live, "securities", "book", ISIN)
    assert code == 0 and "ask" in out
    code, out, err = cli(capsys, live, "securities", "cancel", str(placed["orderId"]),
                         *signed(live, "stranger"))
    assert code == 1 and "only the order's owner" in err
    code, out, err = cli(capsys, live, "securities", "trades", "--isin", ISIN, "--json")
    assert any(t["buyer"] == low(CAROL) for t in json.loads(out))
    code, out, err = cli(capsys, live, "securities", "holdings", CAROL.address, "--json")
    assert json.loads(out)[0]["balance"] == 2
    code, out, err = cli(capsys, live, "securities", "check", ISIN, ALICE.address,
                         DAVE.address, "1")
    assert code == 1 and "code 2" in out
    code, out, err = cli(capsys, live, "securities", "force-transfer", ISIN, ALICE.address,
                         DAVE.address, "1", "--reason", "court order", "--json",
                         *signed(live, "regulator"))
    assert code == 0, err
    assert json.loads(out)["forcedTransferId"] == 1
    code, out, err = cli(capsys, live, "securities", "forced-transfers", "--json")
    assert json.loads(out)[0]["reason"] == "court order"
    height = sec.height()
    code, out, err = cli(capsys, live, "securities", "dividend", "declare", ISIN,
                         "--record-height", str(height), "--currency", "CNY", "--per-share",
                         "2", "--json", *signed(live, "agent"))
    assert code == 0, err
    dividend = json.loads(out)["dividendId"]
    code, out, err = cli(capsys, live, "securities", "dividend", "distribute", str(dividend),
                         *signed(live, "stranger"))
    assert code == 0, err
    code, out, err = cli(capsys, live, "securities", "dividend", "show", str(dividend), "--json")
    shown = json.loads(out)
    assert shown["state"] == "paid" and all(h["paid"] for h in shown["holders"])
    for cmd in (["instruments"], ["show", ISIN], ["orders", "--state", "open"],
                ["investor", "list"], ["cash", "tokens"], ["cash", "balances", "--currency",
                                                            "CNY"],
                ["bilateral"], ["dividend", "list"], ["history", "instrument", ISIN]):
        code, out, err = cli(capsys, live, "securities", *cmd, "--json")
        assert code == 0, (cmd, err)
        json.loads(out)
        code, out, err = cli(capsys, live, "securities", *cmd)
        assert code == 0, (cmd, err)
