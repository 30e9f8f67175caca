"""Issue 9: credit information sharing and the digital asset registry on a real 3-node
network, each party working through a node of its own: the stories of
docs/services/credit.md and registry.md, corrections, consents that serve no more queries,
frozen assets, k-of-n approvals, and the lender's check of a delivered report against its
on-chain hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consortium.apps.credit import CreditClient, ReportMismatch
from consortium.apps.invoices.fingerprint import key_from_node_home
from consortium.apps.registry import RegistryClient
from consortium.cli.main import main
from consortium.errors import ExecutionReverted
from consortium.system.client import GovernanceClient
from tests.support.evmutil import dev_accounts
from tests.support.localnet import LocalNet, running_net, wait_for

MEMBERS = ["Bank A", "Bank B", "Agency X", "Borrower", "Court", "Registrar 1", "Registrar 2",
           "Registrar 3"]
ROLES = {
    "Bank A": ["lender"],
    "Bank B": ["lender"],
    "Court": ["court"],
    "Registrar 1": ["registrar"],
    "Registrar 2": ["registrar"],
    "Registrar 3": ["registrar"],
}  # Agency X is licensed by vote, in the first test
VIA = {"Bank A": "node0", "Agency X": "node1", "Borrower": "node2", "Bank B": "node2",
       "Court": "node1", "Registrar 1": "node0", "Registrar 2": "node1", "Registrar 3": "node2"}
VOTERS = ["Bank A", "Bank B", "Borrower", "Court", "Registrar 1"]  # 5 of 8 members


class Synced:
    """Makes a client wait, before each read or step, for its node to have the blocks of the
    steps the other parties took through other nodes (as a party would wait for a
    notification before acting on it)."""

    tip: list[int]

    def catch_up(self) -> None:
        w3 = self.client.w3  # type: ignore[attr-defined]
        wait_for(lambda: w3.eth.block_number >= self.tip[0], 30,
                 f"{self.client.rpc_url} to reach block {self.tip[0]}")  # type: ignore[attr-defined]

    def _call(self, to: bytes, data: bytes, block: Any = "latest") -> bytes:
        self.catch_up()
        return super()._call(to, data, block)  # type: ignore[misc,no-any-return]

    def transact(self, account: Any, name: str, *args: Any) -> dict[str, Any]:
        self.catch_up()
        out: dict[str, Any] = super().transact(account, name, *args)  # type: ignore[misc]
        self.tip[0] = max(self.tip[0], int(out["block"]))
        return out

    def propose(self, account: Any, name: str, *args: Any) -> dict[str, Any]:
        self.catch_up()
        out: dict[str, Any] = super().propose(account, name, *args)  # type: ignore[misc]
        self.tip[0] = max(self.tip[0], int(out["block"]))
        return out


class SyncedCredit(Synced, CreditClient):
    pass


class SyncedRegistry(Synced, RegistryClient):
    pass


class Consortium:
    def __init__(self, net: LocalNet) -> None:
        self.net = net
        self.accounts = dev_accounts(net)
        self.urls = {n.name: n.api_url for n in net.network.nodes}
        self.key = key_from_node_home(net.network.node_home(net.node("node0")))
        self.tip = [0]
        self.credits: dict[str, CreditClient] = {}
        self.registries: dict[str, RegistryClient] = {}
        for name, node in VIA.items():
            credit = SyncedCredit(self.urls[node])
            registry = SyncedRegistry(self.urls[node], key=self.key)
            credit.tip = registry.tip = self.tip
            self.credits[name], self.registries[name] = credit, registry

    def acct(self, name: str) -> Any:
        return self.accounts[name]

    def addr(self, name: str) -> str:
        return str(self.accounts[name].address).lower()

    def credit(self, name: str) -> CreditClient:
        return self.credits[name]

    def registry(self, name: str) -> RegistryClient:
        return self.registries[name]

    def vote_through(self, proposal: int) -> str:
        """The voters vote yes, each through its own node; answers the final status."""
        status = ""
        for voter in VOTERS:
            gov = GovernanceClient(self.urls[VIA[voter]])
            wait_for(lambda g=gov: g.proposal(proposal), 30, f"proposal {proposal}")
            out = gov.vote(self.acct(voter), proposal, True)
            self.tip[0] = max(self.tip[0], int(out["block"]))
            status = str(out["status"])
            if status != "open":
                break
        return status

    def height(self) -> int:
        return self.credit("Bank A").height()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    with running_net(tmp_path_factory.mktemp("credit-registry") / "net", validators=3,
                     members=MEMBERS, roles=ROLES) as network:
        yield network


@pytest.fixture(scope="module")
def c(net: LocalNet) -> Consortium:
    c = Consortium(net)
    # The credit agency is licensed by vote (a grant-role proposal).
    gov = GovernanceClient(c.urls["node0"])
    out = gov.propose_grant_role(c.acct("Bank A"), c.addr("Agency X"), "credit_agency")
    c.tip[0] = int(out["block"])
    assert c.vote_through(out["proposal"]) == "executed"
    # The land register's class is created by vote (an app-call proposal).
    registrars = [c.addr(f"Registrar {i}") for i in (1, 2, 3)]
    out = c.registry("Bank A").propose_class(  # type: ignore[attr-defined]
        c.acct("Bank A"), "Land title", schema=b'{"parcel": "string"}', registrars=registrars,
        k=2)
    assert out["status"] == "open"
    assert c.vote_through(out["proposal"]) == "executed"
    return c


def test_licensing_and_classes_are_decided_by_vote(c: Consortium) -> None:
    roles = GovernanceClient(c.urls["node2"]).roles(c.addr("Agency X"))["roles"]
    assert "credit_agency" in roles
    cls = c.registry("Borrower").asset_class("Land title")
    assert cls is not None and cls["k"] == 2 and len(cls["registrars"]) == 3
    # Nobody creates a class directly, not even a committee member.
    with pytest.raises(ExecutionReverted, match="only the Governance contract"):
        c.registry("Bank A").transact(c.acct("Bank A"), "createClass", "Ships", b"\x01" * 32,
                                      [c.addr("Registrar 1")], 1)


def test_story_4_consent_delivery_and_the_borrower_sees_the_query(
    c: Consortium, tmp_path: Path
) -> None:
    borrower, bank, agency = c.credit("Borrower"), c.credit("Bank A"), c.credit("Agency X")
    consent = borrower.grant_consent(c.acct("Borrower"), c.addr("Bank A"), "mortgage",
                                     expires_at=c.height() + 1_000)["id"]
    query = bank.create_query(c.acct("Bank A"), c.addr("Agency X"), consent, "mortgage")["id"]
    assert agency.accept(c.acct("Agency X"), query)["state"] == "accepted"
    report = tmp_path / "agency-x-report-0001.pdf"
    report.write_bytes(b"%PDF-1.7 Agency X credit report: 2 loans, no default, score 741")
    delivered = agency.deliver(c.acct("Agency X"), query, report, location=str(report))
    assert delivered["state"] == "delivered"
    # The lender fetches the report off chain and checks it against the chain.
    saved = tmp_path / "received.pdf"
    assert bank.download_report(query, saved)["match"] is True
    assert bank.confirm(c.acct("Bank A"), query)["state"] == "confirmed"
    # The borrower sees the query, through its own node: who asked, and why.
    mine = borrower.queries(subject=c.addr("Borrower"))
    assert [(q["id"], q["lender"], q["purpose"], q["agency"], q["state"]) for q in mine] == [
        (query, c.addr("Bank A"), "mortgage", c.addr("Agency X"), "confirmed")]
    # Only the report's SHA-256 is on chain, read here through yet another node.
    answer = httpx.post(c.urls["node1"], json={
        "jsonrpc": "2.0", "id": 1, "method": "consortium_creditQuery", "params": [query]}).json()
    assert answer["result"]["reportHash"] == "0x" + hashlib.sha256(report.read_bytes()).hexdigest()
    assert [(h["actor"], h["to"]) for h in answer["result"]["history"]] == [
        (c.addr("Bank A"), "created"), (c.addr("Agency X"), "accepted"),
        (c.addr("Agency X"), "delivered"), (c.addr("Bank A"), "confirmed")]


def test_story_5_and_consents_that_serve_no_more_queries(c: Consortium) -> None:
    borrower, bank = c.credit("Borrower"), c.credit("Bank A")

    def consent(blocks: int, purpose: str = "car loan") -> int:
        return int(borrower.grant_consent(c.acct("Borrower"), c.addr("Bank A"), purpose,
                                          expires_at=c.height() + blocks)["id"])

    # Story 5: a query with an expired consent is rejected.
    short = consent(3)
    expiry = borrower.consent(short)["expiresAt"]  # type: ignore[index]
    wait_for(lambda: bank.height() > expiry, 30, f"height {expiry}")
    with pytest.raises(ExecutionReverted, match=f"consent {short} expired at height {expiry}"):
        bank.create_query(c.acct("Bank A"), c.addr("Agency X"), short, "car loan")
    assert borrower.consent(short)["state"] == "expired"  # type: ignore[index]
    # A used consent serves no other query...
    used = consent(1_000)
    bank.create_query(c.acct("Bank A"), c.addr("Agency X"), used, "car loan")
    with pytest.raises(ExecutionReverted, match="was used .* cannot serve another query"):
        bank.create_query(c.acct("Bank A"), c.addr("Agency X"), used, "car loan")
    # ... nor a revoked one.
    revoked = consent(1_000)
    borrower.revoke_consent(c.acct("Borrower"), revoked, "I changed banks")
    with pytest.raises(ExecutionReverted, match="was revoked by its subject"):
        bank.create_query(c.acct("Bank A"), c.addr("Agency X"), revoked, "car loan")
    states = {x["id"]: x["state"] for x in c.credit("Agency X").consents(
        subject=c.addr("Borrower"))}
    assert (states[short], states[used], states[revoked]) == ("expired", "used", "revoked")
    # Only lenders query; only licensed agencies are asked.
    live = consent(1_000)
    with pytest.raises(ExecutionReverted, match="is not a licensed credit agency"):
        bank.create_query(c.acct("Bank A"), c.addr("Court"), live, "car loan")


def test_a_correction_keeps_the_original_visible_and_linked(c: Consortium) -> None:
    bank = c.credit("Bank A")
    original = bank.report(c.acct("Bank A"), c.addr("Borrower"), "overdue",
                           "0x" + "0a" * 32)["id"]
    with pytest.raises(ExecutionReverted, match="does not hold the lender role"):
        c.credit("Agency X").report(c.acct("Agency X"), c.addr("Borrower"), "default",
                                    "0x" + "0b" * 32)
    fixed = bank.correct(c.acct("Bank A"), original, "repaid", "0x" + "0c" * 32,
                         "payment was booked late")["id"]
    # Read through the other nodes: the original stays, linked both ways.
    for name in ("Borrower", "Agency X"):
        chain = c.credit(name).corrections(fixed)
        assert [(r["id"], r["kind"], r["state"]) for r in chain] == [
            (original, "overdue", "superseded"), (fixed, "repaid", "current")]
        assert chain[0]["supersededBy"] == fixed and chain[1]["supersedes"] == original
    rest = httpx.get(f"{c.urls['node1']}/api/v1/credit/records/{original}").json()
    assert rest["recordHash"] == "0x" + "0a" * 32 and rest["supersededBy"] == fixed


def test_a_mismatched_report_is_flagged_by_the_lenders_client(
    c: Consortium, net: LocalNet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    consent = c.credit("Borrower").grant_consent(
        c.acct("Borrower"), c.addr("Bank A"), "overdraft", expires_at=c.height() + 1_000)["id"]
    bank, agency = c.credit("Bank A"), c.credit("Agency X")
    query = bank.create_query(c.acct("Bank A"), c.addr("Agency X"), consent, "overdraft")["id"]
    agency.accept(c.acct("Agency X"), query)
    report = tmp_path / "report.json"
    report.write_text('{"subject": "borrower", "score": 690}')
    agency.deliver(c.acct("Agency X"), query, report, location=str(report))
    # The file the lender receives was altered on the way.
    report.write_text('{"subject": "borrower", "score": 790}')
    assert bank.verify_report(query, report)["match"] is False
    with pytest.raises(ReportMismatch, match="REPORT MISMATCH"):
        bank.download_report(query, tmp_path / "got.json")
    bank.catch_up()  # type: ignore[attr-defined]
    code = main(["credit", "verify", str(query), str(report), "--rpc", c.urls["node0"],
                 "--json"])
    out = capsys.readouterr()
    assert code == 1 and json.loads(out.out)["match"] is False
    assert "MISMATCH" in out.err and "NOT the delivered report" in out.err
    # The lender disputes it.
    assert bank.dispute(c.acct("Bank A"), query, "hash mismatch")["state"] == "disputed"


def test_story_6_k_distinct_registrars_and_unique_external_ids(c: Consortium) -> None:
    owner = c.registry("Borrower")
    asset = owner.apply(c.acct("Borrower"), "Land title", "PARCEL 31-0042",
                        metadata=b"deed of parcel 31-0042")["id"]
    first = c.registry("Registrar 1")
    assert first.approve_registration(c.acct("Registrar 1"), asset)["state"] == "applied"
    # The same registrar approving twice counts once: k - 1 approvals leave it applied.
    with pytest.raises(ExecutionReverted, match=r"already approved .* \(1 of 2\): each "
                                                "registrar counts once"):
        first.approve_registration(c.acct("Registrar 1"), asset)
    found = c.registry("Registrar 3").asset(asset)
    assert found is not None and (found["state"], found["approvals"]) == ("applied", 1)
    # A second registrar, through another node: registered.
    second = c.registry("Registrar 2").approve_registration(c.acct("Registrar 2"), asset)
    assert second["state"] == "registered"
    # A second registration with the same external id (typed otherwise) is rejected.
    with pytest.raises(ExecutionReverted, match="is already registered in class 'Land title' "
                                                f"\\(asset {asset}, registered\\)"):
        c.registry("Bank B").apply(c.acct("Bank B"), "Land title", "parcel 31-0042 ",
                                   metadata=b"a forged deed")
    history = c.registry("Bank B").history(asset)
    assert [(h["actor"], h["to"]) for h in history] == [
        (c.addr("Borrower"), "applied"), (c.addr("Registrar 1"), "applied"),
        (c.addr("Registrar 2"), "registered")]


def _registered(c: Consortium, external_id: str) -> int:
    asset = int(c.registry("Borrower").apply(c.acct("Borrower"), "Land title", external_id,
                                             metadata=external_id.encode())["id"])
    for registrar in ("Registrar 1", "Registrar 3"):
        c.registry(registrar).approve_registration(c.acct(registrar), asset)
    return asset


def test_story_7_a_pledged_asset_moves_after_the_secured_party_releases_it(
    c: Consortium,
) -> None:
    asset = _registered(c, "PARCEL 31-0043")
    owner = c.registry("Borrower")
    assert owner.pledge(c.acct("Borrower"), asset, c.addr("Bank A"))["state"] == "encumbered"
    with pytest.raises(ExecutionReverted, match="encumbered .* cannot be transferred until "
                                                "the secured party releases it"):
        owner.request_transfer(c.acct("Borrower"), asset, c.addr("Bank B"))
    with pytest.raises(ExecutionReverted, match="only the secured party"):
        c.registry("Bank B").release(c.acct("Bank B"), asset, 0)
    assert c.registry("Bank A").release(c.acct("Bank A"), asset)["state"] == "registered"
    owner.request_transfer(c.acct("Borrower"), asset, c.addr("Bank B"))
    assert c.registry("Bank B").accept_transfer(c.acct("Bank B"), asset)["state"] == \
        "registered"
    found = c.registry("Registrar 2").asset(asset)
    assert found is not None and found["owner"] == c.addr("Bank B")


def test_a_frozen_asset_stays_put_until_the_authority_unfreezes_it(c: Consortium) -> None:
    asset = _registered(c, "PARCEL 31-0044")
    owner, court = c.registry("Borrower"), c.registry("Court")
    for name in ("Bank A", "Registrar 1"):
        with pytest.raises(ExecutionReverted, match="does not hold the court role"):
            c.registry(name).freeze(c.acct(name), asset, "no authority")
    assert court.freeze(c.acct("Court"), asset, "court order 2025-17")["state"] == "frozen"
    frozen = "frozen by the authority: it cannot .* until unfrozen"
    with pytest.raises(ExecutionReverted, match=frozen):
        owner.request_transfer(c.acct("Borrower"), asset, c.addr("Bank B"))
    with pytest.raises(ExecutionReverted, match=frozen):
        owner.pledge(c.acct("Borrower"), asset, c.addr("Bank A"))
    with pytest.raises(ExecutionReverted, match=frozen):
        c.registry("Registrar 1").approve_retirement(c.acct("Registrar 1"), asset)
    assert court.unfreeze(c.acct("Court"), asset, "order lifted")["state"] == "registered"
    assert owner.pledge(c.acct("Borrower"), asset, c.addr("Bank A"))["state"] == "encumbered"
    answer = httpx.get(f"{c.urls['node2']}/api/v1/registry/assets/{asset}").json()
    assert [h["to"] for h in answer["history"]][-3:] == ["frozen", "registered", "encumbered"]
    assert answer["history"][-3]["actor"] == c.addr("Court")


def test_cli_without_dir_names_members_from_the_chain(
    c: Consortium, net: LocalNet, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--rpc URL` and no network folder: member names come from the chain's member
    registry; `registry show` names who registered an asset; a release by someone other than
    the secured party is the contract's refusal; `--from` a name without its keystore is one
    clear error."""
    monkeypatch.chdir(tmp_path)  # no ./consortium-net here
    password = tmp_path / "empty-password"
    password.write_text("")

    def cli(*argv: str, via: str = "node2", signer: str | None = None) -> tuple[int, str, str]:
        node = CreditClient(c.urls[via])
        wait_for(lambda: node.height() >= c.tip[0], 30, f"{via} to reach block {c.tip[0]}")
        signing = [] if signer is None else [
            "--from", str(net.network.root / net.network.member(signer).keystore),  # type: ignore[union-attr]
            "--password-file", str(password)]
        code = main([*argv, *signing, "--rpc", c.urls[via]])
        out = capsys.readouterr()
        if code == 0 and argv[-1] == "--json" and signer is not None:
            c.tip[0] = max(c.tip[0], int(json.loads(out.out)["block"]))
        return code, out.out, out.err

    asset = str(_registered(c, "PARCEL 31-0045"))
    code, out, err = cli("registry", "show", asset, "--json", via="node1")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["approvals"], shown["approvedBy"]) == (
        2, [c.addr("Registrar 1"), c.addr("Registrar 3")])
    code, out, err = cli("registry", "pledge", asset, "--to", "Bank A", "--json",
                         signer="Borrower")
    assert code == 0 and json.loads(out)["state"] == "encumbered", err
    code, _, err = cli("registry", "release", asset, signer="Bank B")
    assert code == 1 and err.count("\n") == 1
    assert f"only the secured party {c.addr('Bank A')} may release pledge 0" in err
    code, _, err = cli("registry", "release", asset, "--from", "Bank A", "--password-file",
                       str(password))
    assert code == 1 and err.count("\n") == 1
    assert f"account {c.addr('Bank A')} on chain, but no keystore" in err and "--dir" in err
    code, out, err = cli("registry", "release", asset, "--json", signer="Bank A")
    assert code == 0 and json.loads(out)["state"] == "registered", err
