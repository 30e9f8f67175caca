"""Issue 8: securities trading and settlement on a real 3-node network, each member acting
through its own node (the stories of docs/services/securities.md, price-time priority across
three members, a record-date dividend after a sale, T+n settlement, refusals with their
reason codes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from consortium.apps.securities import SecuritiesClient
from consortium.apps.securities.model import SECURITIES_ADDRESS
from consortium.apps.securities.reader import SECURITIES
from consortium.errors import ExecutionReverted
from tests.support.evmutil import dev_accounts, web3_for
from tests.support.localnet import LocalNet, running_net, wait_for

MEMBERS = ["Bank A", "Bank B", "Issuer Co", "Alice Fund", "Bob Capital", "Carol Partners",
           "Regulator", "Dave Trading", "Erin Securities"]
ROLES = {
    "Bank A": ["cash_bank", "custodian"],
    "Bank B": ["custodian"],
    "Issuer Co": ["issuer_agent", "investor"],
    "Alice Fund": ["investor"],
    "Bob Capital": ["investor"],
    "Carol Partners": ["investor"],
    "Regulator": ["regulator"],
    "Dave Trading": ["investor"],  # never KYC'd by a custodian
    "Erin Securities": ["investor"],  # KYC'd, but holds no cash
}
# Which node each member uses (node0 Bank A's, node1 Bank B's, node2 Issuer Co's).
VIA = {"Bank A": "node0", "Bank B": "node1", "Issuer Co": "node2", "Alice Fund": "node0",
       "Bob Capital": "node1", "Carol Partners": "node2", "Regulator": "node2",
       "Dave Trading": "node1", "Erin Securities": "node0"}
ISIN = "US0378331005"  # T+0
ISIN_T2 = "GB0002634946"  # T+2
CASH = 1_000_000


class SyncedClient(SecuritiesClient):
    """A SecuritiesClient that, before each step, waits for its node to have the blocks of the
    steps other members took through other nodes (as a member would wait for a notification
    before acting on it)."""

    def __init__(self, url: str, tip: list[int]) -> None:
        super().__init__(url)
        self.tip = tip
        self.read._call = self._synced_call  # type: ignore[method-assign]

    def catch_up(self) -> None:
        wait_for(lambda: self.client.w3.eth.block_number >= self.tip[0], 30,
                 f"{self.client.rpc_url} to reach block {self.tip[0]}")

    def _synced_call(self, to: bytes, data: bytes) -> bytes:
        self.catch_up()
        return self._call(to, data)

    def transact(self, account: Any, codec: Any, name: str, *args: Any) -> dict[str, Any]:
        self.catch_up()
        out = super().transact(account, codec, name, *args)
        self.tip[0] = max(self.tip[0], int(out["block"]))
        return out


class Market:
    def __init__(self, net: LocalNet) -> None:
        self.net = net
        self.accounts = dev_accounts(net)
        self.urls = {n.name: n.api_url for n in net.network.nodes}
        self.tip = [0]
        self.clients = {name: SyncedClient(self.urls[node], self.tip)
                        for name, node in VIA.items()}

    def acct(self, name: str) -> Any:
        return self.accounts[name]

    def addr(self, name: str) -> str:
        return str(self.accounts[name].address).lower()

    def __call__(self, name: str) -> SyncedClient:
        return self.clients[name]

    def units(self, name: str, isin: str = ISIN, via: str = "Bank B") -> tuple[int, int]:
        h = self(via).read.holding(isin, self.addr(name))
        return h["balance"], h["locked"]

    def cash(self, name: str, via: str = "Issuer Co") -> tuple[int, int]:
        b = self(via).read.cash_balance("CNY", self.addr(name))
        return b["balance"], b["locked"]

    def height(self) -> int:
        return self("Bank A").height()

    def wait_height(self, height: int) -> None:
        self.net.wait_height(height, timeout=60)
        self.tip[0] = max(self.tip[0], height)

    def book_is_empty(self, isin: str = ISIN) -> bool:
        book = self("Regulator").read.book(isin)
        return not book["bids"] and not book["asks"]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    with running_net(tmp_path_factory.mktemp("securities") / "net", validators=3,
                     members=MEMBERS, roles=ROLES) as network:
        yield network


@pytest.fixture(scope="module")
def m(net: LocalNet) -> Market:
    """The market: Bank A's CNY, KYC by two custodians, funded investors who let the
    settlement contract lock their cash, two instruments held by three investors."""
    m = Market(net)
    m("Bank A").create_token(m.acct("Bank A"), "CNY", "Bank A digital CNY")
    for name, custodian in (("Issuer Co", "Bank A"), ("Alice Fund", "Bank A"),
                            ("Bob Capital", "Bank B"), ("Carol Partners", "Bank B"),
                            ("Erin Securities", "Bank B")):
        m(custodian).set_investor(m.acct(custodian), m.addr(name), kyc_expiry=10**9,
                                  jurisdiction="CN")
    for name in ("Issuer Co", "Alice Fund", "Bob Capital", "Carol Partners"):
        m("Bank A").mint_cash(m.acct("Bank A"), "CNY", m.addr(name), CASH)
    for name in ("Issuer Co", "Alice Fund", "Bob Capital", "Carol Partners", "Erin Securities"):
        m(name).approve(m.acct(name), "CNY")
    issuer = m("Issuer Co")
    issuer.issue(m.acct("Issuer Co"), ISIN, "Apple Inc. common", 10_000, currency="CNY",
                 document=b"Apple Inc. prospectus")
    issuer.issue(m.acct("Issuer Co"), ISIN_T2, "BP plc ordinary", 10_000, currency="CNY",
                 document=b"BP plc prospectus", cycle=2)
    for name in ("Alice Fund", "Bob Capital", "Carol Partners"):
        for isin in (ISIN, ISIN_T2):
            issuer.transfer(m.acct("Issuer Co"), isin, m.addr(name), 100)
    return m


def test_story_1_two_investors_trade_through_the_book_in_one_transaction(
    m: Market, net: LocalNet
) -> None:
    sell = m("Alice Fund").sell(m.acct("Alice Fund"), ISIN, 10, price=100)  # via node0
    assert sell["orderState"] == "open" and m.units("Alice Fund") == (100, 10)
    alice_cash, bob_cash = m.cash("Alice Fund")[0], m.cash("Bob Capital")[0]
    buy = m("Bob Capital").buy(m.acct("Bob Capital"), ISIN, 10, price=100)  # via node1
    (trade,) = buy["trades"]
    assert trade["state"] == "settled" and buy["orderState"] == "filled"
    # Both legs moved in Bob's one transaction: its receipt carries the delivery and the
    # payment, read through a third node.
    receipt = web3_for(net, "node2").eth.get_transaction_receipt(buy["txHash"])
    events = [e for e in buy["events"] if e["event"] in ("SecurityTransfer", "Transfer")]
    assert {(e["event"], e["from"], e["to"]) for e in events} == {
        ("SecurityTransfer", m.addr("Alice Fund"), m.addr("Bob Capital")),
        ("Transfer", m.addr("Bob Capital"), m.addr("Alice Fund")),
    }
    assert {log["address"].lower() for log in receipt["logs"]} == {
        "0x" + SECURITIES_ADDRESS.hex(), "0x" + (0x2000).to_bytes(20, "big").hex()}
    assert m.units("Alice Fund") == (90, 0) and m.units("Bob Capital") == (110, 0)
    assert m.cash("Alice Fund") == (alice_cash + 1000, 0)
    assert m.cash("Bob Capital") == (bob_cash - 1000, 0)
    # Every node answers the same trade over JSON-RPC.
    for url in m.urls.values():
        wait_for(lambda u=url: httpx.post(u, json={
            "jsonrpc": "2.0", "id": 1, "method": "consortium_trade",
            "params": [trade["id"]]}).json()["result"], 30, f"trade {trade['id']} on {url}")
        answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "consortium_trade",
                                       "params": [trade["id"]]}).json()["result"]
        assert (answer["buyer"], answer["seller"], answer["state"]) == (
            m.addr("Bob Capital"), m.addr("Alice Fund"), "settled")
    assert m.book_is_empty()


def test_price_time_priority_with_partial_fills_across_three_members(m: Market) -> None:
    a = m("Alice Fund").sell(m.acct("Alice Fund"), ISIN, 5, price=101)["orderId"]
    b = m("Bob Capital").sell(m.acct("Bob Capital"), ISIN, 5, price=100)["orderId"]
    c = m("Carol Partners").sell(m.acct("Carol Partners"), ISIN, 5, price=100)["orderId"]
    # The best price first, then time: Bob's 100 before Carol's 100, then Alice's 101.
    assert [o["id"] for o in m("Issuer Co").read.book_orders(ISIN, "sell")] == [b, c, a]
    out = m("Issuer Co").buy(m.acct("Issuer Co"), ISIN, 12, price=101)
    assert [(t["seller"], t["quantity"], t["price"]) for t in out["trades"]] == [
        (m.addr("Bob Capital"), 5, 100), (m.addr("Carol Partners"), 5, 100),
        (m.addr("Alice Fund"), 2, 101)]
    assert all(t["state"] == "settled" for t in out["trades"])
    # What is left rests on the book, read through another node.
    book = m("Bob Capital").read.book(ISIN)
    assert book["asks"] == [{"price": 101, "quantity": 3, "orders": 1}] and book["bids"] == []
    rest = m("Carol Partners").read.order(a)
    assert rest is not None and (rest["state"], rest["filled"], rest["remaining"]) == (
        "open", 2, 3)
    assert m.units("Alice Fund") == (88, 3)
    m("Alice Fund").cancel_order(m.acct("Alice Fund"), a)
    assert m.book_is_empty() and m.units("Alice Fund") == (88, 0)


def test_story_2_bilateral_trade_without_its_cash_leg_expires_and_nothing_moves(
    m: Market,
) -> None:
    alice = m.units("Alice Fund")
    deadline = m.height() + 8
    out = m("Alice Fund").propose(m.acct("Alice Fund"), ISIN, m.addr("Erin Securities"),
                                  "sell", 10, 100, deadline)
    proposal = out["proposalId"]
    assert m.units("Alice Fund") == (alice[0], 10)  # Alice's leg is locked
    # Erin has no cash: its leg cannot be locked, so it cannot accept.
    with pytest.raises(ExecutionReverted, match="0 CNY free .* 1000 needed"):
        m("Erin Securities").accept(m.acct("Erin Securities"), proposal)
    with pytest.raises(ExecutionReverted, match="open until height"):
        m("Bob Capital").expire_proposal(m.acct("Bob Capital"), proposal)
    m.wait_height(deadline)
    out = m("Bob Capital").expire_proposal(m.acct("Bob Capital"), proposal)  # anyone
    assert out["transitions"][0]["to"] == "expired"
    p = m("Issuer Co").read.proposal(proposal)
    assert p is not None and (p["state"], p["trade"]) == ("expired", 0)
    # Nothing moved.
    assert m.units("Alice Fund") == (alice[0], 0)
    assert m.units("Erin Securities") == (0, 0) and m.cash("Erin Securities") == (0, 0)
    assert not m("Regulator").read.trades(account=m.addr("Erin Securities"))


def test_story_3_restricted_transfer_and_the_regulators_logged_forced_transfer(
    m: Market, net: LocalNet
) -> None:
    dave = m.addr("Dave Trading")
    with pytest.raises(ExecutionReverted,
                       match=r"transfer restricted \(code 2\): recipient is not a registered"):
        m("Alice Fund").transfer(m.acct("Alice Fund"), ISIN, dave, 5)
    assert m("Bob Capital").read.restriction(ISIN, m.addr("Alice Fund"), dave, 5) == {
        "code": 2, "message": "recipient is not a registered investor"}
    # The same code through a plain web3 call of the ERC-1404-style view.
    w3 = web3_for(net, "node1")
    code = w3.eth.call({"to": w3.to_checksum_address("0x" + SECURITIES_ADDRESS.hex()),
                        "data": "0x" + SECURITIES.encode(
                            "detectTransferRestriction", ISIN, m.addr("Alice Fund"), dave,
                            5).hex()})
    assert int.from_bytes(code, "big") == 2
    before = m.units("Alice Fund")[0]
    out = m("Regulator").force_transfer(m.acct("Regulator"), ISIN, m.addr("Alice Fund"), dave,
                                        5, "court order 2025/117: asset recovery")
    assert m.units("Alice Fund")[0] == before - 5 and m.units("Dave Trading") == (5, 0)
    forced_id = out["forcedTransferId"]
    logged = m("Bank A").read.forced_transfers()[forced_id - 1]
    assert (logged["from"], logged["to"], logged["amount"], logged["regulator"],
            logged["reason"]) == (m.addr("Alice Fund"), dave, 5, m.addr("Regulator"),
                                  "court order 2025/117: asset recovery")
    (event,) = [e for e in out["events"] if e["event"] == "ForcedTransfer"]
    assert event["reason"] == logged["reason"]


def test_dividend_reaches_the_record_date_holder_after_she_sold(m: Market) -> None:
    record = m.height()
    m.wait_height(record + 1)  # the record block is final
    held = m.units("Carol Partners")[0]
    assert held > 0
    m("Carol Partners").sell(m.acct("Carol Partners"), ISIN, held, price=100)
    m("Bob Capital").buy(m.acct("Bob Capital"), ISIN, held, price=100)
    assert m.units("Carol Partners") == (0, 0)
    assert m("Bank B").read.balance_at(ISIN, m.addr("Carol Partners"), record) == held
    carol_cash, bob_cash = m.cash("Carol Partners")[0], m.cash("Bob Capital")[0]
    bob_at_record = m("Bank A").read.balance_at(ISIN, m.addr("Bob Capital"), record)
    out = m("Issuer Co").declare_dividend(m.acct("Issuer Co"), ISIN, record_height=record,
                                          currency="CNY", per_share=7)
    dividend = out["dividendId"]
    m("Bank B").distribute_dividend(m.acct("Bank B"), dividend)  # anyone distributes
    assert m.cash("Carol Partners")[0] == carol_cash + 7 * held  # paid although she sold
    assert m.cash("Bob Capital")[0] == bob_cash + 7 * bob_at_record  # not for what he bought
    d = m("Alice Fund").read.dividend(dividend)
    assert d is not None and d["state"] == "paid" and d["paid"] == d["total"] == 7 * 10_000


def test_t_plus_2_trade_settles_at_its_height_through_any_member(m: Market) -> None:
    m("Alice Fund").sell(m.acct("Alice Fund"), ISIN_T2, 4, price=50)
    out = m("Bob Capital").buy(m.acct("Bob Capital"), ISIN_T2, 4, price=50)
    (trade,) = out["trades"]
    assert trade["state"] == "pending" and trade["settleHeight"] == out["block"] + 2
    assert m.units("Alice Fund", ISIN_T2) == (100, 4)  # locked until settlement
    m.wait_height(trade["settleHeight"])
    settled = m("Regulator").settle(m.acct("Regulator"), trade["id"])
    assert settled["transitions"][0]["to"] == "settled"
    assert m.units("Alice Fund", ISIN_T2) == (96, 0)
    assert m.units("Bob Capital", ISIN_T2) == (104, 0)
    with pytest.raises(ExecutionReverted, match="a trade settles once"):
        m("Carol Partners").settle(m.acct("Carol Partners"), trade["id"])


def test_refusals_carry_their_reasons(m: Market) -> None:
    # An order by an investor no custodian registered, and by a frozen one.
    with pytest.raises(ExecutionReverted, match=r"order refused \(code 2\): recipient is not "
                                                r"a registered investor"):
        m("Dave Trading").buy(m.acct("Dave Trading"), ISIN, 1, price=100)
    with pytest.raises(ExecutionReverted, match=r"order refused \(code 1\): sender is not"):
        m("Dave Trading").sell(m.acct("Dave Trading"), ISIN, 1, price=100)
    m("Regulator").freeze_investor(m.acct("Regulator"), m.addr("Bob Capital"),
                                   "suspicious trading pattern")
    with pytest.raises(ExecutionReverted, match=r"order refused \(code 6\): recipient is "
                                                r"frozen"):
        m("Bob Capital").buy(m.acct("Bob Capital"), ISIN, 1, price=100)
    m("Regulator").unfreeze_investor(m.acct("Regulator"), m.addr("Bob Capital"), "cleared")
    # A sell beyond the free balance.
    free = m.units("Alice Fund")[0]
    with pytest.raises(ExecutionReverted, match=rf"code 9\): sender's free balance is "
                                                rf"insufficient .*{free} free; {free + 1} "
                                                "needed"):
        m("Alice Fund").sell(m.acct("Alice Fund"), ISIN, free + 1, price=100)
    # A mint by someone other than the issuer agent.
    with pytest.raises(ExecutionReverted, match=f"only {ISIN}'s issuer agent "
                                                f"{m.addr('Issuer Co')} may mint it"):
        m("Alice Fund").mint(m.acct("Alice Fund"), ISIN, m.addr("Alice Fund"), 1_000)
    with pytest.raises(ExecutionReverted, match="does not hold the issuer_agent role"):
        m("Bank A").issue(m.acct("Bank A"), "AU0000XVGZA3", "BHP", 10, currency="CNY",
                          document=b"x")
    # A cancel by a stranger.
    order = m("Alice Fund").sell(m.acct("Alice Fund"), ISIN, 1, price=500)["orderId"]
    with pytest.raises(ExecutionReverted, match="only the order's owner"):
        m("Carol Partners").cancel_order(m.acct("Carol Partners"), order)
    m("Alice Fund").cancel_order(m.acct("Alice Fund"), order)
    # Trading a paused instrument.
    m("Issuer Co").pause(m.acct("Issuer Co"), ISIN, "pending announcement")
    with pytest.raises(ExecutionReverted, match=rf"order refused \(code 7\): the instrument "
                                                rf"is paused \({ISIN}\)"):
        m("Bob Capital").buy(m.acct("Bob Capital"), ISIN, 1, price=100)
    with pytest.raises(ExecutionReverted, match=r"code 7\)"):
        m("Alice Fund").transfer(m.acct("Alice Fund"), ISIN, m.addr("Bob Capital"), 1)
    m("Issuer Co").unpause(m.acct("Issuer Co"), ISIN, "announced")
    history = m("Carol Partners").history("instrument", ISIN)
    assert [(h["from"], h["to"]) for h in history][-2:] == [("active", "paused"),
                                                            ("paused", "active")]
