"""Securities reads derive `expired` from heights (outside report B6): an open order past its
expiry, a pending trade past its deadline and a proposal past its deadline read "expired" in
the client's reads, JSON-RPC, REST and the CLI, and state filters agree — while the stored
state is untouched until someone sends the expiring write. Also the CLI's instrument state
names (P9). On a real ledger behind the API, a block every 50 ms."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from consortium.apps.securities import SecuritiesClient
from tests.support.localnet import wait_for
from tests.support.securities_testkit import AGENT, ALICE, BANK, BOB, low, securities_ledger
from tests.support.services_api_testkit import LiveNode

ISIN = "GB0002634946"
PARTIES = {"bank": BANK, "agent": AGENT, "alice": ALICE, "bob": BOB}


class Node(LiveNode):
    def __init__(self, path: Path) -> None:
        super().__init__(path, ledger=securities_ledger, parties=PARTIES,
                         node_name="securities-reads", empty_blocks=True)
        self.client = SecuritiesClient(self.url)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = Node(tmp_path_factory.mktemp("securities-reads"))
    sec = node.client
    sec.create_token(BANK, "CNY", "Bank A digital CNY")
    for acct in (AGENT, ALICE, BOB):
        sec.set_investor(BANK, acct.address, kyc_expiry=10**9, jurisdiction="CN")
        sec.mint_cash(BANK, "CNY", acct.address, 100_000)
        sec.approve(acct, "CNY")
    sec.issue(AGENT, ISIN, "BP plc", 1_000, currency="CNY", document=b"prospectus")
    sec.transfer(AGENT, ISIN, ALICE.address, 500)
    yield node
    node.close()


def _past(node: Node, height: int) -> None:
    wait_for(lambda: node.client.height() >= height, 30, f"height {height}")


def _states(rows: list[dict[str, Any]]) -> dict[int, str]:
    return {r["id"]: r["state"] for r in rows}


def test_an_order_past_its_expiry_reads_expired_everywhere(live: Node,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    sec, http = live.client, TestClient(live.app)
    expiry = sec.height() + 4
    short = sec.sell(ALICE, ISIN, 5, price=300, expiry=expiry)["orderId"]
    lasting = sec.sell(ALICE, ISIN, 5, price=301, expiry=sec.height() + 100_000)["orderId"]
    forever = sec.sell(ALICE, ISIN, 5, price=302)["orderId"]  # good till cancelled
    _past(live, expiry)

    assert sec.read.order(short)["state"] == "expired"
    assert sec.read.order(lasting)["state"] == "open"
    assert sec.read.order(forever)["state"] == "open"
    assert live.rpc("consortium_order", short)["result"]["state"] == "expired"
    assert http.get(f"/api/v1/securities/orders/{short}").json()["state"] == "expired"
    # the state filters go by the derived state
    expired = http.get("/api/v1/securities/orders", params={"state": "expired"}).json()
    assert short in _states(expired) and lasting not in _states(expired)
    opened = live.rpc("consortium_orders", {"state": "open", "isin": ISIN})["result"]
    assert short not in _states(opened) and {lasting, forever} <= set(_states(opened))
    assert _states(sec.read.orders(account=ALICE.address))[short] == "expired"
    # the book agrees: its depth no longer counts the order
    asks = sec.read.order_book(ISIN)["asks"]
    assert 300 not in [level["price"] for level in asks]

    code, out, err = live.cli(capsys, "securities", "orders", "--state", "expired", "--json")
    assert code == 0, err
    assert short in _states(json.loads(out))

    # stored: still open, its lock held until someone expires it (closedAt 0 until then)
    found = sec.read.order(short)
    assert found["closedAt"] == 0 and found["remaining"] == 5
    assert sec.read.holding(ISIN, ALICE.address)["locked"] >= 15
    sec.expire_order(BOB, short)
    found = sec.read.order(short)
    assert found["state"] == "expired" and found["closedAt"] > 0
    assert [h["to"] for h in sec.history("order", short)] == ["open", "expired"]


def test_a_pending_trade_and_a_proposal_past_their_deadlines_read_expired(live: Node) -> None:
    sec, http = live.client, TestClient(live.app)
    sec.set_settlement_cycle(AGENT, ISIN, 1, 3)  # T+1, expires 3 blocks after
    sec.sell(ALICE, ISIN, 2, price=90)
    (trade,) = sec.buy(BOB, ISIN, 2, price=90)["trades"]
    assert trade["state"] == "pending"
    deadline = sec.read.trade(trade["id"])["deadline"]
    proposal = sec.propose(ALICE, ISIN, BOB.address, "sell", 3, 95,
                           sec.height() + 4)["proposalId"]
    far = sec.propose(ALICE, ISIN, BOB.address, "sell", 3, 96, sec.height() + 100_000)[
        "proposalId"]
    _past(live, max(deadline, sec.read.proposal(proposal)["deadline"]))

    assert sec.read.trade(trade["id"])["state"] == "expired"
    assert http.get(f"/api/v1/securities/trades/{trade['id']}").json()["state"] == "expired"
    pending = live.rpc("consortium_trades", {"state": "pending"})["result"]
    assert trade["id"] not in _states(pending)
    assert trade["id"] in _states(sec.read.trades(state="expired"))
    assert trade["id"] in sec.read.pending_trades(ISIN)  # stored: pending until expired

    assert sec.read.proposal(proposal)["state"] == "expired"
    assert sec.read.proposal(far)["state"] == "proposed"
    listed = _states(live.rpc("consortium_bilateralTrades", low(ALICE))["result"])
    assert (listed[proposal], listed[far]) == ("expired", "proposed")
    assert http.get(f"/api/v1/securities/bilateral-trades/{proposal}").json()["state"] == \
        "expired"
    sec.expire_trade(BOB, trade["id"])
    assert sec.read.trade(trade["id"])["closedAt"] > 0


def test_instrument_states_read_alike(live: Node, capsys: pytest.CaptureFixture[str]) -> None:
    """P9: issuing says "- -> trading", as the instruments table and the history say."""
    code, out, err = live.cli(capsys, "securities", "issue", "US0378331005", "--name", "Apple",
                              "--supply", "10", "--currency", "CNY", "--doc-hash",
                              "0x" + "ab" * 32, *live.signed("agent"))
    assert code == 0, err
    assert "- -> trading" in out and "active" not in out
    code, out, err = live.cli(capsys, "securities", "instruments")
    assert code == 0 and "trading" in out
    code, out, err = live.cli(capsys, "securities", "pause", "US0378331005",
                              *live.signed("agent"))
    assert code == 0, err
    assert "trading -> paused" in out
    code, out, err = live.cli(capsys, "securities", "history", "instrument",
                              "US0378331005")
    assert code == 0, err
    assert "trading" in out and "active" not in out


def test_order_lists_come_a_page_at_a_time(live: Node,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A list read answers at most `limit` objects in id order from `after` (a book's
    orders grow without end: one answer of all of them would outgrow a read's time), the
    filters applied on the way; the same through the client, JSON-RPC, REST and the CLI."""
    sec, http = live.client, TestClient(live.app)
    placed = [sec.sell(ALICE, ISIN, 1, price=900 + i)["orderId"] for i in range(7)]
    for order_id in placed[1::2]:  # 3 of them cancelled
        sec.cancel_order(ALICE, order_id)
    mine = [o["id"] for o in sec.read.orders(account=low(ALICE))]
    assert mine[-7:] == placed
    first = sec.read.orders(account=low(ALICE), limit=3)
    assert [o["id"] for o in first] == mine[:3]
    rest = sec.read.orders(account=low(ALICE), after=first[-1]["id"], limit=1000)
    assert [o["id"] for o in rest] == mine[3:]
    # a state filter skips what it leaves out on the way to a full page
    opened = [o["id"] for o in sec.read.orders(account=low(ALICE), state="open")]
    assert placed[0::2] == [i for i in opened if i in placed]
    page = sec.read.orders(account=low(ALICE), state="open", after=placed[0], limit=2)
    assert [o["id"] for o in page] == placed[2::2][:2]

    answer = live.rpc("consortium_orders", {"account": low(ALICE), "after": placed[0],
                                            "limit": 2, "state": "open"})["result"]
    assert answer == page
    assert http.get("/api/v1/securities/orders", params={
        "account": low(ALICE), "after": placed[0], "limit": 2, "state": "open"}).json() == page
    for bad in (0, 1001):
        err = live.rpc("consortium_orders", {"limit": bad})["error"]
        assert err["code"] == -32602 and err["message"].endswith(
            f"limit: must be 1 to 1000, not {bad}"), err
        refused = http.get("/api/v1/securities/orders", params={"limit": bad})
        assert refused.status_code == 400 and "must be 1 to 1000" in refused.json()["error"]
    trades = sec.read.trades(limit=1)
    assert len(trades) == 1 and trades == sec.read.trades()[:1]

    code, out, err = live.cli(capsys, "securities", "orders", "--account", low(ALICE),
                              "--limit", "2", "--json")
    assert code == 0 and [o["id"] for o in json.loads(out)] == mine[:2]
    assert f"a full page of 2: the next with --after {mine[1]}" in err
    code, out, err = live.cli(capsys, "securities", "orders", "--account", low(ALICE),
                              "--after", str(mine[-2]), "--json")
    assert code == 0 and [o["id"] for o in json.loads(out)] == mine[-1:] and "full page" not in err


def test_the_csv_export_of_a_paged_list_is_whole(live: Node,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The console's CSV of a list read a page at a time pages through it (here pages of 2),
    and an empty answer keeps the header of the read's objects."""
    from consortium.console import csv_export

    sec, http = live.client, TestClient(live.app)
    if len(sec.read.orders(account=low(ALICE))) < 3:
        for i in range(3):
            sec.sell(ALICE, ISIN, 1, price=950 + i)
    mine = [o["id"] for o in sec.read.orders(account=low(ALICE))]
    monkeypatch.setattr(csv_export, "PAGE_LIMIT", 2)
    answer = http.get("/console/csv/services/securities/orders", params={"account": low(ALICE)})
    assert answer.status_code == 200, answer.text
    header, *rows = list(csv.reader(io.StringIO(answer.text)))
    assert [int(r[header.index("id")]) for r in rows] == mine
    empty = http.get("/console/csv/services/securities/orders",
                     params={"isin": "US0378331005"})  # a valid ISIN no order names
    assert empty.status_code == 200 and list(csv.reader(io.StringIO(empty.text))) == [header]
