"""Issue 6: invoice management and financing on a real 3-node network, each party working
through its own node (the stories of docs/services/invoices.md, the invariants with their
refusal reasons, the privacy of fingerprints, CSV import)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_abi import decode as abi_decode
from web3.exceptions import ContractLogicError

from consortium.apps.invoices import InvoiceClient
from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.fingerprint import compute, key_from_node_home, new_key
from consortium.apps.invoices.model import INVOICES_ADDRESS, show_date
from consortium.apps.invoices.reader import encode_call
from consortium.cli.main import main
from consortium.errors import ExecutionReverted
from consortium.system.client import GovernanceClient
from tests.support.evmutil import dev_accounts, web3_for
from tests.support.localnet import LocalNet, running_net, wait_for

MEMBERS = ["Bank A", "Bank B", "Acme Trading", "Globex Retail", "Tax Bureau"]
ROLES = {
    "Bank A": ["financing_bank"],
    "Bank B": ["financing_bank"],
    "Acme Trading": ["seller"],
    "Globex Retail": ["buyer"],
}
# Which node each party uses (node0 and node1 are the banks', node2 Acme's).
VIA = {"Bank A": "node0", "Bank B": "node1", "Acme Trading": "node2", "Globex Retail": "node1",
       "Tax Bureau": "node2"}
TAX_ID = "91310000MA1FL4XX7J"
INVOICES = "0x" + INVOICES_ADDRESS.hex()


class SyncedClient(InvoiceClient):
    """An InvoiceClient that, before each step, waits for its node to have the blocks of the
    steps the other parties took through other nodes (as a party would wait for a
    notification before acting on it)."""

    def __init__(self, url: str, key: bytes | None, tip: list[int]) -> None:
        super().__init__(url, key=key)
        self.tip = tip

    def catch_up(self) -> None:
        wait_for(lambda: self.client.w3.eth.block_number >= self.tip[0], 30,
                 f"{self.client.rpc_url} to reach block {self.tip[0]}")

    def transact(self, account: Any, name: str, *args: Any) -> dict[str, Any]:
        self.catch_up()
        out = super().transact(account, name, *args)
        self.tip[0] = max(self.tip[0], int(out["block"]))
        return out

    def invoice(self, fingerprint: str | bytes) -> dict[str, Any] | None:
        self.catch_up()
        return super().invoice(fingerprint)

    def invoices(self, **filters: Any) -> list[dict[str, Any]]:
        self.catch_up()
        return super().invoices(**filters)


class Consortium:
    def __init__(self, net: LocalNet) -> None:
        self.net = net
        self.accounts = dev_accounts(net)
        self.urls = {n.name: n.api_url for n in net.network.nodes}
        # Every member holds the consortium key in its node configuration.
        self.keys = {
            name: key_from_node_home(net.network.node_home(net.node(node)))
            for name, node in VIA.items()
        }
        self.tip = [0]
        self.clients = {
            name: SyncedClient(self.urls[node], self.keys[name], self.tip)
            for name, node in VIA.items()
        }

    def acct(self, name: str) -> Any:
        return self.accounts[name]

    def addr(self, name: str) -> str:
        return str(self.accounts[name].address).lower()

    def client(self, name: str) -> InvoiceClient:
        return self.clients[name]

    def on_every_node(self, fp: str, check: Any) -> None:
        """Wait until every node answers an invoice for which `check` holds."""
        for url in self.urls.values():
            reader = InvoiceClient(url)
            wait_for(lambda r=reader: (inv := r.invoice(fp)) is not None and check(inv), 30,
                     f"invoice {fp[:10]}… on {url}")

    def today(self) -> str:
        return show_date(self.client("Acme Trading").today())

    def new_invoice(self, number: str, amount: int, due: str | None = None,
                    confirm: bool = True, request: bool = True) -> str:
        seller, buyer = "Acme Trading", "Globex Retail"
        fp = self.client(seller).fingerprint(TAX_ID, number, "2025-01-15", amount)
        self.client(seller).issue(self.acct(seller), fp, buyer=self.addr(buyer), amount=amount,
                                  currency="CNY", due_date=due or self.today())
        if confirm:
            self.client(buyer).confirm(self.acct(buyer), fp)
        if request:
            self.client(seller).request_financing(self.acct(seller), fp)
        return fp


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    with running_net(tmp_path_factory.mktemp("invoices") / "net", validators=3,
                     members=MEMBERS, roles=ROLES) as network:
        yield network


@pytest.fixture(scope="module")
def c(net: LocalNet) -> Consortium:
    return Consortium(net)


def test_members_share_the_key_and_roles_come_from_genesis_and_governance(
    c: Consortium,
) -> None:
    assert len(set(c.keys.values())) == 1  # the same consortium key in every node home
    gov = GovernanceClient(c.urls["node0"])
    assert gov.roles(c.addr("Bank A"))["roles"] == ["committee", "member", "financing_bank"]
    # The tax authority is appointed by a grant-role proposal and members' votes.
    out = gov.propose_grant_role(c.acct("Bank A"), c.addr("Tax Bureau"), "tax_authority")
    for voter, node in (("Bank A", "node0"), ("Bank B", "node1"), ("Acme Trading", "node2")):
        voter_gov = GovernanceClient(c.urls[node])
        wait_for(lambda g=voter_gov: g.proposal(out["proposal"]), 30, f"the proposal on {node}")
        result = voter_gov.vote(c.acct(voter), out["proposal"], True)
    assert result["status"] == "executed"
    # The vote's receipt came from node2; node0 sees the grant once it has that block.
    wait_for(lambda: "tax_authority" in gov.roles(c.addr("Tax Bureau"))["roles"], 30,
             "the granted role on node0")


def test_stories_8_and_9_financing_duplicate_refusal_and_repayment_to_bank_a(
    c: Consortium, net: LocalNet
) -> None:
    seller, buyer = "Acme Trading", "Globex Retail"
    fp = c.new_invoice("INV-2025-0815", 1_000_000)
    # Story 8: Bank A finances the confirmed invoice (through its own node).
    out = c.client("Bank A").finance(c.acct("Bank A"), fp, 1_000_000)
    assert out["state"] == "financed"
    c.on_every_node(fp, lambda i: i["state"] == "financed")
    # Bank B enters the same invoice fields, typed its own way, with its node's key: the
    # fingerprint collides and the chain refuses it as a duplicate.
    bank_b = c.client("Bank B")
    same = bank_b.fingerprint(" 91310000ma1fl4xx7j", "inv-2025-0815 ", "20250115", "1000000")
    assert same == fp
    with pytest.raises(ExecutionReverted, match=f"invoice {fp} is already registered"):
        bank_b.issue(c.acct("Bank B"), same, seller=c.addr(seller), buyer=c.addr(buyer),
                     amount=1_000_000, currency="CNY", due_date=c.today())
    # The same refusal reaches a plain web3 client as the revert reason.
    w3 = web3_for(net, "node1")
    call = {"to": w3.to_checksum_address(INVOICES), "from": c.acct("Bank B").address,
            "data": "0x" + encode_call("issue", bytes.fromhex(fp[2:]), c.addr(seller),
                                       c.addr(buyer), 1_000_000, "CNY", 20250630).hex()}
    with pytest.raises(ContractLogicError, match="already registered"):
        w3.eth.call(call)

    # Story 9: the seller cannot cancel the financed invoice...
    with pytest.raises(ExecutionReverted, match="financed: a financed invoice cannot be "
                                                "cancelled"):
        c.client(seller).cancel(c.acct(seller), fp, "the goods were returned")
    # ...and the buyer's payment at maturity goes to Bank A, the assignee.
    assert c.client(buyer).invoice(fp)["assignee"] == c.addr("Bank A")  # type: ignore[index]
    repaid = c.client(buyer).repay(c.acct(buyer), fp)
    assert repaid["state"] == "repaid"
    c.on_every_node(fp, lambda i: i["state"] == "repaid")
    for node in c.urls.values():  # every node reads the payment to Bank A
        answer = httpx.post(node, json={"jsonrpc": "2.0", "id": 1, "method": "consortium_invoice",
                                        "params": [fp]}).json()["result"]
        assert [(p["payee"], p["amount"]) for p in answer["payments"]] == [
            (c.addr("Bank A"), 1_000_000)]
    # The PaymentMade event names Bank A, read through yet another node.
    logs = web3_for(net, "node2").eth.get_logs({
        "address": web3_for(net, "node2").to_checksum_address(INVOICES), "fromBlock": 0,
        "topics": ["0x" + Invoices.PaymentMade.topic0.hex(), fp],
    })
    assert len(logs) == 1 and "0x" + bytes(logs[0]["topics"][2])[12:].hex() == c.addr("Bank A")
    # Every transition left an event: actor, invoice, from-state, to-state, reason.
    history = c.client("Bank B").history(fp)
    assert [(h["actor"], h["from"], h["to"]) for h in history] == [
        (c.addr(seller), "", "issued"),
        (c.addr(buyer), "issued", "confirmed"),
        (c.addr(seller), "confirmed", "financing_requested"),
        (c.addr("Bank A"), "financing_requested", "financed"),
        (c.addr(buyer), "financed", "repaid"),
    ]
    assert "1000000 to " + c.addr("Bank A") in history[-1]["reason"]


def test_total_financing_never_exceeds_the_face_amount(c: Consortium) -> None:
    fp = c.new_invoice("INV-TRANCHES", 1_000)
    steps = [("Bank A", 600, True), ("Bank B", 500, False), ("Bank B", 400, True),
             ("Bank A", 1, False), ("Bank B", 1, False)]
    financed = 0
    for bank, amount, accepted in steps:
        client = c.client(bank)
        if accepted:
            out = client.finance(c.acct(bank), fp, amount)
            financed += amount
            assert out["financed"] == financed
        else:
            with pytest.raises(ExecutionReverted, match=f"over its face amount 1000 "
                                                        f"\\({1000 - financed} left\\)"):
                client.finance(c.acct(bank), fp, amount)
        c.on_every_node(fp, lambda i, f=financed: i["financed"] == f)
        inv = c.client("Acme Trading").invoice(fp)
        assert inv is not None
        active = sum(t["amount"] for t in inv["tranches"] if t["state"] == "active")
        assert active == financed <= inv["amount"]
    banks = [t["bank"] for t in c.client("Globex Retail").invoice(fp)["tranches"]]  # type: ignore[index]
    assert banks == [c.addr("Bank A"), c.addr("Bank B")]
    assert fp in [i["fingerprint"] for i in c.client("Bank B").invoices(bank=c.addr("Bank B"))]


def test_refusals_carry_their_reasons(c: Consortium, net: LocalNet) -> None:
    seller, buyer = "Acme Trading", "Globex Retail"
    fp = c.new_invoice("INV-REFUSALS", 5_000, confirm=False, request=False)
    # Only the buyer confirms.
    for who in ("Bank A", seller):
        with pytest.raises(ExecutionReverted, match="does not hold the buyer role"):
            c.client(who).confirm(c.acct(who), fp)
    # Only the tax authority marks tax verified.
    for who in ("Bank B", seller, buyer):
        with pytest.raises(ExecutionReverted, match="does not hold the tax_authority role"):
            c.client(who).set_tax_verified(c.acct(who), fp, True, "")
    c.client("Tax Bureau").set_tax_verified(c.acct("Tax Bureau"), fp, True, "checked")
    c.on_every_node(fp, lambda i: i["taxVerified"])
    # An invoice is reimbursed once.
    c.client(buyer).reimburse(c.acct(buyer), fp)
    with pytest.raises(ExecutionReverted, match="was already reimbursed: an invoice is "
                                                "reimbursed once"):
        c.client(buyer).reimburse(c.acct(buyer), fp)
    # A reimbursed invoice is not on the financing path any more.
    with pytest.raises(ExecutionReverted, match="is reimbursed: it cannot be confirmed"):
        c.client(buyer).confirm(c.acct(buyer), fp)
    # A financed invoice cannot be cancelled; once defaulted neither.
    overdue = c.new_invoice("INV-OVERDUE", 800, due="2025-01-31")
    c.client("Bank B").finance(c.acct("Bank B"), overdue, 800)
    with pytest.raises(ExecutionReverted, match="a financed invoice cannot be cancelled"):
        c.client(seller).cancel(c.acct(seller), overdue, "reversal")
    with pytest.raises(ExecutionReverted, match="holds no tranche"):
        c.client("Bank A").mark_defaulted(c.acct("Bank A"), overdue, "unpaid")
    out = c.client("Bank B").mark_defaulted(c.acct("Bank B"), overdue, "unpaid after 60 days")
    assert out["state"] == "defaulted"
    # The reason of a mined, reverted transaction is recovered too (status 0 receipt).
    w3 = web3_for(net, "node0")
    acct = c.acct("Bank A")
    signed = acct.sign_transaction({
        "to": w3.to_checksum_address(INVOICES), "data": encode_call("confirm", bytes.fromhex(
            fp[2:])), "gas": 500_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
        "nonce": w3.eth.get_transaction_count(acct.address, "pending"), "chainId": w3.eth.chain_id,
    })
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    with pytest.raises(ExecutionReverted, match="does not hold the buyer role"):
        c.client("Bank A").outcome(tx_hash, "confirm", (bytes.fromhex(fp[2:]),))


def _chain_bytes(net: LocalNet) -> bytes:
    """Everything a node's ledger stores (LMDB: state, blocks, receipts, logs, indexes)."""
    home = net.network.node_home(net.node("node1"))
    return b"".join(p.read_bytes() for p in sorted((home / "app").rglob("*")) if p.is_file())


def test_fingerprints_reveal_nothing_without_the_key(c: Consortium, net: LocalNet) -> None:
    seller, buyer = "Acme Trading", "Globex Retail"
    number, issued = "SECRET-INV-4711", "2025-02-28"
    fp = c.client(seller).fingerprint(TAX_ID, number, issued, 424_242)
    out = c.client(seller).issue(c.acct(seller), fp, buyer=c.addr(buyer), amount=424_242,
                                 currency="CNY", due_date="2025-12-31")
    c.on_every_node(fp, lambda i: i["state"] == "issued")
    w3 = web3_for(net, "node1")
    tx = w3.eth.get_transaction(out["txHash"])
    logs = w3.eth.get_logs({"address": w3.to_checksum_address(INVOICES), "fromBlock": 0})
    public = [bytes(tx["input"])] + [bytes(log["data"]) for log in logs] + [
        bytes(t) for log in logs for t in log["topics"]]
    storage = _chain_bytes(net)
    raw_fields = [TAX_ID, number, issued, issued.replace("-", "")]
    for blob in [*public, storage]:
        for text in raw_fields:
            assert text.encode() not in blob
            assert text.encode("utf-16-le") not in blob
    # The fingerprint is on chain; the fields are not, and another key gives another one.
    assert bytes.fromhex(fp[2:]) in bytes(tx["input"])
    assert compute(new_key(), TAX_ID, number, issued, 424_242).hex() != fp[2:]
    # The key is in no genesis, no transaction and no chain state.
    key = c.keys[seller]
    genesis = (net.network.node_home(net.node("node0")) / "config" / "genesis.json").read_bytes()
    for blob in [genesis, storage, *public]:
        assert key not in blob and key.hex().encode() not in blob
    assert key.hex() not in json.dumps(json.loads(genesis))


def test_csv_import_takes_the_good_rows_and_reports_the_bad(
    c: Consortium, net: LocalNet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    duplicate_fp = c.new_invoice("CSV-ALREADY", 300, confirm=False, request=False)
    assert duplicate_fp
    csv_file = tmp_path / "march.csv"
    csv_file.write_text(
        "seller_tax_id,invoice_number,issue_date,amount,currency,due_date,buyer\n"
        f"{TAX_ID},CSV-001,2025-03-01,100000,CNY,2025-06-30,Globex Retail\n"
        f"{TAX_ID},CSV-002,2025-03-02,99.5,CNY,2025-06-30,Globex Retail\n"
        f"{TAX_ID},CSV-003,2025-03-03,300000,CNY,2025-06-30,{c.addr('Globex Retail')}\n"
        f"{TAX_ID},CSV-ALREADY,2025-01-15,300,CNY,2025-06-30,Globex Retail\n"
        f"{TAX_ID},CSV-005,2025-03-05,500000,CNY,2025-06-30,Bank B\n"
        f"{TAX_ID},csv-001,2025-03-01,100000,CNY,2025-06-30,Globex Retail\n"
        f"{TAX_ID},CSV-007,2025-03-07,700000,CNY,2025-13-01,Globex Retail\n"
    )
    code = main(["invoice", "import", str(csv_file), "--from", "Acme Trading",
                 "--dir", str(net.root), "--rpc", c.urls["node2"], "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # some rows were refused
    assert [r["line"] for r in report["imported"]] == [2, 4]
    reasons = {r["line"]: r["reason"] for r in report["refused"]}
    assert sorted(reasons) == [3, 5, 6, 7, 8]
    assert "no fractions" in reasons[3]
    assert "already registered on chain" in reasons[5]
    assert "does not hold the buyer role" in reasons[6]
    assert "the same invoice as line 2" in reasons[7]
    assert "not a date" in reasons[8]
    for row in report["imported"]:
        c.on_every_node(row["fingerprint"], lambda i: i["state"] == "issued")
    # The imported invoices are listed by seller on another node, through the CLI.
    code = main(["invoice", "list", "--seller", "Acme Trading", "--state", "issued",
                 "--dir", str(net.root), "--rpc", c.urls["node0"], "--json"])
    listed = [i["fingerprint"] for i in json.loads(capsys.readouterr().out)]
    assert code == 0 and {r["fingerprint"] for r in report["imported"]} <= set(listed)
    raw = abi_decode(["bool"], web3_for(net, "node1").eth.call({
        "to": web3_for(net, "node1").to_checksum_address(INVOICES),
        "data": "0x" + encode_call("isRegistered", bytes.fromhex(
            report["imported"][0]["fingerprint"][2:])).hex()}))
    assert raw == (True,)
