"""Securities through a node's API: the typed SecuritiesClient over HTTP, the securities
JSON-RPC methods, the REST routes and the `consortium securities` commands — on a real Ledger
behind a real API server, with a stub engine that commits what CheckTx admits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from consortium.apps.securities import SecuritiesClient
from consortium.errors import ExecutionReverted
from tests.support.localnet import wait_for
from tests.support.securities_testkit import (
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
from tests.support.services_api_testkit import LiveNode

PARTIES = {"bank": BANK, "agent": AGENT, "alice": ALICE, "bob": BOB, "carol": CAROL,
           "regulator": REGULATOR, "operator": OPERATOR, "stranger": STRANGER, "dave": DAVE}
ISIN = "GB0002634946"


class SecuritiesNode(LiveNode):
    """A securities ledger behind the API, with a SecuritiesClient; every 50 ms a block, empty
    blocks too (heights advance: settlement cycles and deadlines are heights)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, ledger=securities_ledger, parties=PARTIES,
                         node_name="securities-node", empty_blocks=True)
        self.client = SecuritiesClient(self.url)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuritiesNode]:
    node = SecuritiesNode(tmp_path_factory.mktemp("securities-api"))
    yield node
    node.close()


def test_client_flow_and_refusal_reasons(live: SecuritiesNode) -> None:
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
    out = out_buy = sec.buy(BOB, ISIN, 4, price=102)
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
    # an order's history has its fills (a partial fill is no Transition), in order
    history = sec.history("order", sell_id)
    assert [h["to"] for h in history] == ["open", "open", "cancelled"]
    fill = history[1]
    assert fill["reason"] == (f"filled 4 at 101 by trade {trade['id']} against order "
                              f"{out_buy['orderId']}")
    assert (fill["trade"], fill["actor"]) == (trade["id"], BOB.address.lower())
    taker = sec.history("order", out_buy["orderId"])  # filled on placement
    assert [(h["from"], h["to"]) for h in taker] == [("", "open"), ("open", "open"),
                                                     ("open", "filled")]
    assert taker[1]["reason"].startswith(f"filled 4 at 101 by trade {trade['id']} against "
                                         f"order {sell_id}")


def test_json_rpc_and_rest(live: SecuritiesNode) -> None:
    sec = live.client
    if not sec.read.isins():
        test_client_flow_and_refusal_reasons(live)
    body = live.rpc("consortium_instrument", ISIN)["result"]
    assert body["isin"] == ISIN and body["currency"] == "CNY"
    assert live.rpc("consortium_instrument", "US0378331005")["result"] is None
    assert "expected an ISIN" in live.rpc("consortium_instrument", "nope")["error"]["message"]
    book = live.rpc("consortium_orderBook", ISIN, 5)["result"]
    assert set(book) >= {"bids", "asks"}
    trades = live.rpc("consortium_trades", {"isin": ISIN})["result"]
    assert trades and trades[0]["state"] == "settled"
    assert live.rpc("consortium_trades", {"colour": "red"})["error"]["code"] == -32602
    holdings = live.rpc("consortium_holdings", low(BOB))["result"]
    assert holdings == [{"isin": ISIN, "account": low(BOB), "balance": 4, "locked": 0,
                         "free": 4}]
    restriction = live.rpc("consortium_transferRestriction", ISIN, low(ALICE), low(DAVE), 1)
    assert restriction["result"] == {"code": 2,
                                     "message": "recipient is not a registered investor"}
    assert live.rpc("consortium_cashBalances", low(BOB))["result"][0]["currency"] == "CNY"
    assert live.rpc("consortium_investor", low(ALICE))["result"]["eligible"] is True

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


def test_cli_commands(live: SecuritiesNode, capsys: pytest.CaptureFixture[str]) -> None:
    sec = live.client
    if not sec.read.isins():
        test_client_flow_and_refusal_reasons(live)
    code, out, err = live.cli(capsys, "securities", "investor", "set", CAROL.address,
                              "--kyc-blocks", "100000", "--jurisdiction", "HK",
                              *live.signed("bank"))
    assert code == 0, err
    sec.mint_cash(BANK, "CNY", CAROL.address, 50_000)
    code, out, err = live.cli(capsys, "securities", "cash", "approve", "CNY",
                              *live.signed("carol"))
    assert code == 0, err
    code, out, err = live.cli(capsys, "securities", "order", "sell", ISIN, "5", "--price",
                              "99", "--json", *live.signed("alice"))
    assert code == 0, err
    placed = json.loads(out)
    code, out, err = live.cli(capsys, "securities", "order", "buy", ISIN, "2", "--price",
                              "100", *live.signed("carol"))
    assert code == 0, err
    assert "trade" in out
    code, out, err = live.cli(capsys, "securities", "book", ISIN, "--json")
    assert json.loads(out)["asks"][0] == {"price": 99, "quantity": 3, "orders": 1}
    code, out, err = live.cli(capsys, "securities", "book", ISIN)
    assert code == 0 and "ask" in out
    code, out, err = live.cli(capsys, "securities", "cancel", str(placed["orderId"]),
                              *live.signed("stranger"))
    assert code == 1 and "only the order's owner" in err
    code, out, err = live.cli(capsys, "securities", "trades", "--isin", ISIN, "--json")
    assert any(t["buyer"] == low(CAROL) for t in json.loads(out))
    code, out, err = live.cli(capsys, "securities", "holdings", CAROL.address, "--json")
    assert json.loads(out)[0]["balance"] == 2
    code, out, err = live.cli(capsys, "securities", "check", ISIN, ALICE.address,
                              DAVE.address, "1")
    assert code == 1 and "code 2" in out
    code, out, err = live.cli(capsys, "securities", "force-transfer", ISIN, ALICE.address,
                              DAVE.address, "1", "--reason", "court order", "--json",
                              *live.signed("regulator"))
    assert code == 0, err
    assert json.loads(out)["forcedTransferId"] == 1
    code, out, err = live.cli(capsys, "securities", "forced-transfers", "--json")
    assert json.loads(out)[0]["reason"] == "court order"
    height = sec.height()
    # the record height must be past when the declaration is checked (at the latest block)
    wait_for(lambda: sec.height() > height, timeout=30, what="the next block")
    code, out, err = live.cli(capsys, "securities", "dividend", "declare", ISIN,
                              "--record-height", str(height), "--currency", "CNY", "--per-share",
                              "2", "--json", *live.signed("agent"))
    assert code == 0, err
    dividend = json.loads(out)["dividendId"]
    code, out, err = live.cli(capsys, "securities", "dividend", "distribute", str(dividend),
                              *live.signed("stranger"))
    assert code == 0, err
    code, out, err = live.cli(capsys, "securities", "dividend", "show", str(dividend), "--json")
    shown = json.loads(out)
    assert shown["state"] == "paid" and all(h["paid"] for h in shown["holders"])
    for cmd in (["instruments"], ["show", ISIN], ["orders", "--state", "open"],
                ["investor", "list"], ["cash", "tokens"], ["cash", "balances", "--currency",
                                                            "CNY"],
                ["bilateral"], ["dividend", "list"], ["history", "instrument", ISIN]):
        code, out, err = live.cli(capsys, "securities", *cmd, "--json")
        assert code == 0, (cmd, err)
        json.loads(out)
        code, out, err = live.cli(capsys, "securities", *cmd)
        assert code == 0, (cmd, err)


def test_cli_conventions(live: SecuritiesNode, capsys: pytest.CaptureFixture[str],
                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit codes agree with and without --json; member names resolve through the chain's
    member registry (no local network folder here); transitions name investors by account
    and instruments by ISIN."""
    sec = live.client
    if not sec.read.isins():
        test_client_flow_and_refusal_reasons(live)
    monkeypatch.chdir(tmp_path)  # no ./consortium-net: names are only on chain
    # A restricted transfer exits 1 in both modes; the JSON is still printed.
    code, out, err = live.cli(capsys, "securities", "check", ISIN, ALICE.address,
                              STRANGER.address, "1", "--json")
    assert code == 1 and json.loads(out)["code"] == 2, err
    code, out, _ = live.cli(capsys, "securities", "check", ISIN, "Alice Fund", "Stranger", "1")
    assert code == 1 and "code 2" in out
    code, out, err = live.cli(capsys, "securities", "check", ISIN, "alice fund", "Bob Capital",
                              "1", "--json")
    assert code == 0 and json.loads(out)["code"] == 0, err
    code, _, err = live.cli(capsys, "securities", "check", ISIN, "Alice Fund", "Nobody Ltd",
                            "1", "--json")
    assert code == 1 and "'Nobody Ltd' is not a 0x account or a member name" in err
    assert err.count("\n") == 1
    # An investor's transition is its account, an instrument's its ISIN.
    code, out, err = live.cli(capsys, "securities", "investor", "set", "Stranger",
                              "--kyc-blocks", "1000", "--jurisdiction", "CN", "--json",
                              *live.signed("bank"))
    assert code == 0, err
    (moved,) = json.loads(out)["transitions"]
    assert (moved["kind"], moved["id"]) == ("investor", low(STRANGER))
    code, out, err = live.cli(capsys, "securities", "pause", ISIN, "--reason", "audit",
                              "--json", *live.signed("agent"))
    assert code == 0, err
    assert [(t["kind"], t["id"]) for t in json.loads(out)["transitions"]] == [
        ("instrument", ISIN)]
    code, out, err = live.cli(capsys, "securities", "unpause", ISIN, "--json",
                              *live.signed("agent"))
    assert code == 0 and json.loads(out)["transitions"][0]["id"] == ISIN, err
    # --from a member name needs its keystore: without one, the error names the options.
    code, _, err = live.cli(capsys, "securities", "unpause", ISIN, "--from", "Issuer Agent",
                            "--password-file", str(live.password_file))
    assert code == 1 and err.count("\n") == 1, err
    assert f"account {low(AGENT)} on chain, but no keystore" in err
    assert "--from KEY.json" in err and "--dir" in err


def test_a_transaction_s_status_from_the_cli(live: SecuritiesNode,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`consortium tx HASH`: what a user asks after a write timed out."""
    sec = live.client
    if not sec.read.isins():
        test_client_flow_and_refusal_reasons(live)
    done = sec.transfer(AGENT, ISIN, ALICE.address, 1)
    code, out, err = live.cli(capsys, "tx", done["txHash"], "--json")
    assert code == 0, err
    found = json.loads(out)
    assert (found["status"], found["success"], int(found["blockNumber"], 16)) == (
        "committed", True, done["block"])
    assert found["from"].lower() == AGENT.address.lower()
    code, out, err = live.cli(capsys, "tx", done["txHash"])
    assert code == 0 and "committed (success)" in out
    code, out, err = live.cli(capsys, "tx", "0x" + "ab" * 32)
    assert code == 1 and "unknown" in out
    code, out, err = live.cli(capsys, "tx", "0x12")
    assert code == 2 and "is not a transaction hash" in err  # an argument refused: usage error


@pytest.mark.parametrize(("status", "says"), [
    ({"status": "pending", "blockNumber": None, "reason": None},
     "but the node holds it (pending): it may still commit (the chain may be halted or slow), "
     "so do not send it again; follow it with `consortium tx 0x"),
    ({"status": "queued", "blockNumber": None, "reason": "held until nonce 5 of 0xab arrives"},
     "(queued: held until nonce 5 of 0xab arrives)"),
    ({"status": "unknown", "blockNumber": None, "reason": None},
     "after 60s and the node reports it unknown"),
    ({"status": "committed", "blockNumber": "0x2a", "reason": None},
     "committed in block 42 just after 60s"),
])
def test_a_write_that_times_out_says_whether_it_may_still_commit(
        status: dict[str, Any], says: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI write during a halt said "no receipt after 60s" and committed later: a user
    who sent it again would have posted twice."""
    from consortium.sdk import ConsortiumClient

    client = ConsortiumClient("http://127.0.0.1:9")
    monkeypatch.setattr(client, "transaction_status", lambda tx_hash: status)
    assert says in client.unconfirmed("0x" + "cd" * 32, 60)
