"""Record a chain that touches every stored layout, as a test fixture (issue 19).

The storage layout is consensus-critical: a chain recorded before a change of stored layouts
must replay to the same app hash after it (tests/unit/test_recorded_chain.py). This script
makes such a chain on a real one-validator network: it runs `consortium init` and `consortium
up` in a temporary folder, drives a scenario through the CLI and the Python clients against
the node's API (governance, invoices, securities, credit, registry, forum, EVM), then reads
every block, its transactions' results and the app hash after it from CometBFT's RPC and
writes them, with genesis.json, the commit and the engine, to a gzipped JSON file.

Run it from a clean checkout of the commit to record (tests/fixtures/README.md):

    git -C /work/main worktree add /tmp/rec-wt HEAD
    PYTHONPATH=/tmp/rec-wt/src .venv/bin/python scripts/record_chain.py
    git -C /work/main worktree remove /tmp/rec-wt
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import io
import json
import random
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

FORMAT = 1
CHECKOUT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = CHECKOUT / "tests/fixtures/recorded-chain.json.gz"
sys.path.insert(0, str(CHECKOUT))
from tests.support.localnet import wait_for  # noqa: E402  (the tests' polling helper)

# The demo's members and roles, plus a credit agency (licensed by vote) and a borrower;
# Bank B and Bank C keep the land register, the Tax Bureau is also the court, the regulator
# and the mediator.
EXTRA_MEMBERS = ["Agency X", "Borrower"]
EXTRA_ROLES = {"Bank A": ["lender"], "Bank B": ["registrar"], "Bank C": ["registrar"],
               "Tax Bureau": ["court", "regulator", "mediator"]}


def log(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


def step(what: str, action: Callable[[], Any]) -> None:
    """One step, logged once done (a refusal stops the recording: nothing is skipped)."""
    action()
    log(f"{what}: done")


def cli(*argv: str) -> str:
    """Run one `consortium` command in this process (the real CLI); answers its stdout."""
    from consortium.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    if code:
        raise RuntimeError(f"consortium {' '.join(argv)} exited {code}")
    return out.getvalue()


def source_commit() -> tuple[str, bool]:
    """The commit of the consortium package being run, and whether its tree is clean."""
    import consortium

    repo = Path(consortium.__file__).resolve().parents[2]
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
                           check=True, capture_output=True, text=True).stdout.strip()
    return commit, not dirty


class Scenario:
    """The parties of one network, each with its account and clients on the one node."""

    def __init__(self, root: Path) -> None:
        from eth_account import Account

        from consortium.network.layout import Network
        from consortium.system.client import GovernanceClient

        self.root = root
        self.network = Network.load(root)
        keys = json.loads((root / "dev-accounts.json").read_text())["accounts"]
        self.acct = {n: Account.from_key(k["private_key"]) for n, k in keys.items()}
        self.url = self.network.nodes[0].api_url
        self.gov = GovernanceClient(self.url)

    def addr(self, name: str) -> str:
        return str(self.acct[name].address).lower()

    def voters(self) -> list[str]:
        return [m["name"] for m in self.gov.members()
                if m["weight"] and m["status"] == "active"]

    def pass_(self, proposal: int, against: tuple[str, ...] = ()) -> str:
        """Members vote (those in `against` no, the others yes) until it is decided."""
        status = "open"
        for voter in [*against, *[v for v in self.voters() if v not in against]]:
            if self.gov.proposal(proposal)["status"] != "open":  # type: ignore[index]
                break
            status = str(self.gov.vote(self.acct[voter], proposal, voter not in against)
                         ["status"])
        return status

    def _require_executed(self, proposal: int) -> None:
        status = self.pass_(proposal)
        if status != "executed":
            raise RuntimeError(f"proposal {proposal} {status}")

    def latest_proposal(self) -> int:
        return max(int(p["id"]) for p in self.gov.proposals())

    # --- the parts ---------------------------------------------------------------------------

    def governance(self) -> None:
        """Admission (through the CLI), roles granted and revoked, an officer, a rule change,
        a suspension and reinstatement, freezes by vote and by the regulator, a node admitted
        and removed, the deploy allowlist, a task force formed and dissolved, a proposal
        voted down, one withdrawn."""
        from eth_account import Account

        newcomer = Account.from_key(b"\x19" * 32)
        self.acct["Bank D"] = newcomer
        cli("propose", "admit-member", "--name", "Bank D", "--account", newcomer.address,
            "--tier", "ordinary", "--from", "Bank A", "--dir", str(self.root), "--json")
        admitted = self.latest_proposal()
        for voter in self.voters():
            if self.gov.proposal(admitted)["status"] != "open":  # type: ignore[index]
                break
            cli("vote", str(admitted), "yes", "--from", voter, "--dir", str(self.root),
                "--json")
        assert self.gov.proposal(admitted)["status"] == "executed", "admission failed"
        a = self.acct["Bank A"]
        gov, addr = self.gov, self.addr
        steps: list[tuple[str, Callable[[], dict[str, Any]], tuple[str, ...]]] = [
            ("licenses Agency X",
             lambda: gov.propose_grant_role(a, addr("Agency X"), "credit_agency"), ()),
            ("grants Bank C auditor",
             lambda: gov.propose_grant_role(a, addr("Bank C"), "auditor"), ("Bank B",)),
            ("revokes Bank C auditor",
             lambda: gov.propose_revoke_role(a, addr("Bank C"), "auditor"), ()),
            ("elects Bank A chair",
             lambda: gov.propose_elect_officer(a, "chair", addr("Bank A"), 100_000), ()),
            ("changes the elect-officer rule",
             lambda: gov.propose_change_rule(a, "elect-officer", 5001, 6000, 2_000), ()),
            ("suspends Bank D", lambda: gov.propose_suspend_member(a, "Bank D"), ()),
            ("reinstates Bank D", lambda: gov.propose_reinstate_member(a, "Bank D"), ()),
        ]
        for what, propose, against in steps:
            status = self.pass_(int(propose()["proposal"]), against)
            log(f"governance {what}: {status}")
            assert status == "executed", what
        rejected = self.gov.propose_grant_role(a, self.addr("Borrower"), "operator")
        voters = self.voters()
        status = self.pass_(int(rejected["proposal"]), tuple(voters[: len(voters) // 2 + 1]))
        log(f"governance: a proposal voted down: {status}")
        more: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("freezes Borrower", lambda: gov.propose_freeze(a, addr("Borrower"))),
            ("unfreezes Borrower", lambda: gov.propose_unfreeze(a, addr("Borrower"))),
            ("admits a node of Bank D", lambda: gov.propose_admit_node(a, "Bank D", "d0" * 20)),
            ("removes it", lambda: gov.propose_remove_node(a, "d0" * 20)),
            ("sets a deploy allowlist",
             lambda: gov.propose_set_deploy_allowlist(a, [addr("Bank A"), addr("Bank B")])),
            ("clears it", lambda: gov.propose_set_deploy_allowlist(a, [])),
            ("forms the Audit task force", lambda: gov.propose_form_task_force(
                a, "Audit", "yearly audit", addr("Bank C"), [addr("Bank C"), addr("Bank D")])),
            ("dissolves it", lambda: gov.propose_dissolve_task_force(a, "Audit")),
        ]
        for what, propose in more:
            step(f"governance {what}",
                  lambda p=propose: self._require_executed(int(p()["proposal"])))
        self.gov.regulator_freeze(self.acct["Tax Bureau"], addr("Globex Retail"))
        self.gov.regulator_freeze(self.acct["Tax Bureau"], addr("Globex Retail"), False)
        revoked = self.gov.propose_grant_role(a, self.addr("Borrower"), "mediator")
        self.gov.vote(self.acct["Bank B"], int(revoked["proposal"]), True)
        log(f"governance: a proposal withdrawn: "
            f"{self.gov.revoke(a, int(revoked['proposal']))['status']}")

    def demo(self) -> None:
        """`consortium demo`'s scenarios: EVM token, invoice financing, securities, forum."""
        from consortium.cli import demo

        demo._evm_scenario(self.network)
        demo._invoice_scenario(self.network)
        demo._securities_scenario(self.network)
        demo._forum_scenario(self.network)

    def evm(self) -> None:
        """More of the EVM: token transfers over blocks, value moves and a reverting transfer
        that lands on chain (its gas is given, so no estimate refuses it first)."""
        import consortium
        from consortium.contracts.compiler import compile_file
        from consortium.sdk import ConsortiumClient
        from consortium.sdk.client import TxFailed

        client = ConsortiumClient(self.url)
        token = compile_file(Path(consortium.__file__).parent / "contracts/examples/Token.vy")
        a, b = self.acct["Bank A"], self.acct["Bank B"]
        address, _ = client.deploy(a, token.abi, token.bytecode, "Replay Coin", "RC", 10**24)
        contract = client.contract(address, token.abi)
        for i in range(8):
            client.send(a, {"to": contract.address, "data": contract.encode_abi(
                "transfer", [b.address, 1_000 + i])})
            client.send(b, {"to": self.acct["Bank C"].address, "value": 10 + i, "gas": 21_000})
        try:
            client.send(a, {"to": contract.address, "gas": 200_000, "data": contract.encode_abi(
                "transfer", [b.address, 10**30])})
            raise RuntimeError("a transfer over the supply did not revert")
        except TxFailed as exc:
            log(f"evm: {exc}")

    def invoices(self) -> None:
        """A second invoice confirmed, financed in two tranches, a duplicate sent anyway
        (it reverts in its block), repaid; a third cancelled, a fourth reimbursed."""
        from consortium.apps.invoices import InvoiceClient
        from consortium.apps.invoices.fingerprint import key_from_node_home
        from consortium.apps.invoices.model import show_date

        key = key_from_node_home(self.network.node_home(self.network.nodes[0]))
        inv = InvoiceClient(self.url, key=key)
        seller, buyer = self.acct["Acme Trading"], self.acct["Globex Retail"]
        today = show_date(inv.today())
        fp = inv.fingerprint("91310000MA1FL4XX7J", "INV-2025-REC-1", "2025-09-01", 5_000_000)
        inv.issue(seller, fp, buyer=buyer.address, amount=5_000_000, currency="CNY",
                  due_date=today)
        inv.confirm(buyer, fp)
        inv.request_financing(seller, fp)
        inv.finance(self.acct["Bank A"], fp, 2_000_000)
        inv.finance(self.acct["Bank B"], fp, 3_000_000)
        args = inv.issue_args(self.acct["Bank B"], fp, buyer=buyer.address, amount=5_000_000,
                              currency="CNY", due_date=today, seller=seller.address)
        sent = inv.submit(self.acct["Bank B"], "issue", *args, gas=500_000)
        receipt = inv.client.wait_receipt(sent)
        log(f"invoices: a duplicate sent with its gas: status {receipt['status']}")
        inv.repay(buyer, fp)
        other = inv.fingerprint("91310000MA1FL4XX7J", "INV-2025-REC-2", "2025-09-02", 700)
        inv.issue(seller, other, buyer=buyer.address, amount=700, currency="CNY",
                  due_date=today)
        inv.cancel(seller, other, "issued twice by mistake")
        consumer = inv.fingerprint("91310000MA1FL4XX7J", "INV-2025-REC-3", "2025-09-03", 990)
        inv.issue(seller, consumer, buyer=buyer.address, amount=990, currency="CNY",
                  due_date=today)
        inv.set_tax_verified(self.acct["Tax Bureau"], consumer, True, "matches")
        inv.reimburse(buyer, consumer)

    def securities(self) -> None:
        """After the demo's trades: a T+1 instrument whose matched trade settles by call,
        an order cancelled, a restriction read, pause, investor freeze, a forced transfer,
        a bilateral trade (and a cancelled one), a dividend, a refused transfer on chain."""
        from consortium.apps.securities import SecuritiesClient
        from consortium.apps.securities.model import isin_check_digit
        from consortium.apps.securities.reader import SECURITIES

        sec = SecuritiesClient(self.url)
        bank_a, bank_b = self.acct["Bank A"], self.acct["Bank B"]
        seller, buyer = self.acct["Acme Trading"], self.acct["Globex Retail"]
        stem = "CNREC0000001"[:11]
        isin = stem + str(isin_check_digit(stem))
        sec.issue(bank_b, isin, "Recorded T+1 note", 5_000, currency="CNY",
                  document=b"Recorded note terms")
        sec.set_settlement_cycle(bank_b, isin, 1, 50)
        sec.transfer(bank_b, isin, self.addr("Acme Trading"), 500)
        sec.mint_cash(bank_a, "CNY", self.addr("Globex Retail"), 50_000)
        resting = sec.sell(seller, isin, 100, price=99)
        sec.sell(seller, isin, 50, price=98)
        sec.buy(buyer, isin, 50, price=98)
        self._settle_due(sec, isin)
        order = int(next(o["id"] for o in sec.read.orders(isin=isin)
                         if o["state"] == "open"))
        sec.cancel_order(seller, order)
        log(f"securities: order {order} cancelled ({resting.get('block')})")
        check = sec.read.restriction(isin, self.addr("Globex Retail"), self.addr("Tax Bureau"),
                                     5)
        log(f"securities: restriction check {check}")
        sec.pause(bank_b, isin, "corporate action")
        sec.unpause(bank_b, isin, "done")
        sec.freeze_investor(self.acct["Tax Bureau"], self.addr("Acme Trading"), "KYC review")
        sec.unfreeze_investor(self.acct["Tax Bureau"], self.addr("Acme Trading"), "KYC renewed")
        sec.force_transfer(self.acct["Tax Bureau"], isin, self.addr("Acme Trading"),
                           self.addr("Globex Retail"), 10, "court order 2025-21")
        deal = sec.propose(seller, isin, self.addr("Globex Retail"), "sell", 20, 97,
                           sec.height() + 200)
        accepted = sec.accept(buyer, int(deal["proposalId"]))
        log(f"securities: bilateral trade {deal['proposalId']} accepted: {accepted.get('trades')}")
        step("securities: bilateral trade settles", lambda: self._settle_due(sec, isin))
        dropped = sec.propose(seller, isin, self.addr("Globex Retail"), "sell", 5, 97,
                              sec.height() + 200)
        sec.cancel_proposal(seller, int(dropped["proposalId"]))
        sec.mint_cash(bank_a, "CNY", self.addr("Bank B"), 20_000)
        sec.approve(bank_b, "CNY")
        record_height = sec.height() - 1
        dividend = sec.declare_dividend(bank_b, isin, record_height=record_height,
                                        currency="CNY", per_share=2)
        step("securities: dividend claimed", lambda: sec.claim_dividend(
            seller, int(dividend["dividendId"])))
        step("securities: dividend distributed", lambda: sec.distribute_dividend(
            bank_b, int(dividend["dividendId"])))
        sent = sec.submit(buyer, SECURITIES, "transfer", isin, self.addr("Tax Bureau"), 5,
                          gas=300_000)
        log(f"securities: refused transfer on chain: status "
            f"{sec.client.wait_receipt(sent)['status']}")

    def _settle_due(self, sec: Any, isin: str) -> None:
        """Settle the instrument's pending trades once due (its agent settles)."""
        for trade in sec.read.pending_trades(isin):
            wait_for(lambda t=trade: sec.height() >= sec.read.trade(t)["settleHeight"],
                     30, f"trade {trade} to be due")
            out = sec.settle(self.acct["Bank B"], trade)
            log(f"securities: trade {trade} settled in block {out['block']}")

    def credit(self, folder: Path) -> None:
        """A consent, a query accepted and delivered, the report downloaded and confirmed,
        a record corrected, a default blacklisted and unlisted, a consent revoked, a query
        rejected, one disputed and resolved."""
        from consortium.apps.credit import CreditClient

        credit = CreditClient(self.url)
        borrower, bank, agency = self.acct["Borrower"], self.acct["Bank A"], self.acct["Agency X"]
        consent = credit.grant_consent(borrower, self.addr("Bank A"), "mortgage",
                                       expires_at=credit.height() + 10_000)["id"]
        query = credit.create_query(bank, self.addr("Agency X"), consent, "mortgage")["id"]
        credit.accept(agency, query)
        report = folder / "agency-x-report.pdf"
        report.write_bytes(b"%PDF-1.7 Agency X credit report: 2 loans, no default, score 741")
        credit.deliver(agency, query, report, location=str(report))
        got = credit.download_report(query, folder / "received.pdf")
        log(f"credit: consented download matches: {got['match']}")
        credit.confirm(bank, query)
        original = credit.report(bank, self.addr("Borrower"), "overdue", "0x" + "0a" * 32)["id"]
        credit.correct(bank, original, "repaid", "0x" + "0c" * 32, "payment was booked late")
        default = credit.report(bank, self.addr("Bank D"), "default", "0x" + "0d" * 32)["id"]
        credit.blacklist_subject(bank, default, "defaulted on loan 7")
        spare = credit.grant_consent(borrower, self.addr("Bank A"), "car loan",
                                     expires_at=credit.height() + 10_000)["id"]
        credit.revoke_consent(borrower, spare, "changed banks")
        second = credit.grant_consent(borrower, self.addr("Bank A"), "overdraft",
                                      expires_at=credit.height() + 10_000)["id"]
        rejected = credit.create_query(bank, self.addr("Agency X"), second, "overdraft")["id"]
        credit.reject(agency, rejected, "subject unknown to the agency")
        third = credit.grant_consent(borrower, self.addr("Bank A"), "credit line",
                                     expires_at=credit.height() + 10_000)["id"]
        disputed = credit.create_query(bank, self.addr("Agency X"), third, "credit line")["id"]
        credit.accept(agency, disputed)
        credit.deliver(agency, disputed, "0x" + "0e" * 32, location="agency-x://reports/2")
        credit.dispute(bank, disputed, "wrong subject")
        step("credit: the mediator resolves the dispute", lambda: credit.resolve(
            self.acct["Tax Bureau"], disputed, "the agency re-issues the report"))
        step("credit: the reporter unlists the subject", lambda: credit.unlist_subject(
            bank, self.addr("Bank D"), "settled with the bank"))

    def registry(self) -> None:
        """An asset class by vote, an asset approved by two registrars, pledged and released,
        transferred, frozen and unfrozen by the court; an application rejected; a transfer
        cancelled; an asset retired; the class's registrars changed by vote."""
        from consortium.apps.invoices.fingerprint import key_from_node_home
        from consortium.apps.registry import RegistryClient

        key = key_from_node_home(self.network.node_home(self.network.nodes[0]))
        reg = RegistryClient(self.url, key=key)
        out = reg.propose_class(self.acct["Bank A"], "Land title",
                                schema=b'{"parcel": "string"}',
                                registrars=[self.addr("Bank B"), self.addr("Bank C")], k=2)
        log(f"registry: class by vote: {self.pass_(int(out['proposal']))}")
        owner = self.acct["Borrower"]
        asset = int(reg.apply(owner, "Land title", "PARCEL 31-0042",
                              metadata=b"deed of parcel 31-0042")["id"])
        reg.approve_registration(self.acct["Bank B"], asset)
        reg.approve_registration(self.acct["Bank C"], asset)
        reg.pledge(owner, asset, self.addr("Bank A"))
        reg.release(self.acct["Bank A"], asset)
        reg.request_transfer(owner, asset, self.addr("Bank D"))
        reg.accept_transfer(self.acct["Bank D"], asset)
        reg.freeze(self.acct["Tax Bureau"], asset, "court order 2025-17")
        reg.unfreeze(self.acct["Tax Bureau"], asset, "order lifted")
        other = int(reg.apply(owner, "Land title", "PARCEL 31-0043", metadata=b"deed 43")["id"])
        reg.reject_application(self.acct["Bank B"], other, "parcel does not exist")
        retired = int(reg.apply(owner, "Land title", "PARCEL 31-0044", metadata=b"deed 44")["id"])
        reg.approve_registration(self.acct["Bank B"], retired)
        reg.approve_registration(self.acct["Bank C"], retired)
        reg.request_transfer(owner, retired, self.addr("Bank A"))
        reg.cancel_transfer(owner, retired, "sale fell through")
        step("registry: retired by two registrars", lambda: (
            reg.approve_retirement(self.acct["Bank B"], retired),
            reg.approve_retirement(self.acct["Bank C"], retired)))
        out = reg.propose_registrars(self.acct["Bank A"], "Land title",
                                     [self.addr("Bank B"), self.addr("Bank C")], 1)
        log(f"registry: registrars set by vote: {self.pass_(int(out['proposal']))}")

    def forum(self) -> None:
        """After the demo's channel: the task force's members set by vote, the key rotated
        for the new member, a reply, a pinned announcement, documents kept and anchored."""
        from consortium.apps.forum import ForumClient

        forum = ForumClient(self.url)
        a, b, c = self.acct["Bank A"], self.acct["Bank B"], self.acct["Bank C"]
        out = self.gov.propose_set_task_force_members(
            a, "Research", self.addr("Bank A"),
            [self.addr("Bank A"), self.addr("Bank B"), self.addr("Bank C")])
        log(f"forum: task force members set by vote: {self.pass_(int(out['proposal']))}")
        forum.ensure_key(c)
        forum.rotate_key(a, "Research")
        post = forum.post(a, "Research", "Phase 2 starts Monday", title="Phase 2")
        forum.reply(c, int(post["id"]), "Bank C is in")
        agm = forum.post(a, "consortium", "Budget vote at the AGM", title="Budget")
        forum.pin(a, int(agm["id"]))
        old = forum.post(a, "consortium", "Superseded notice", title="Old")
        forum.pin(a, int(old["id"]))
        forum.unpin(a, int(old["id"]))
        forum.attach(b, "Research", b"minutes of the kick-off meeting", name="kickoff.txt")
        forum.attach(b, "consortium", b"a larger annex kept by the node" * 20,
                     name="annex.txt", keep="node")
        forum.post_minutes(a, "consortium", "The budget passed.", [self.latest_proposal()])

    def farewell(self) -> None:
        """Last, Bank D is expelled (a supermajority): its member record, accounts and
        roles change once more."""
        out = self.gov.propose_expel_member(self.acct["Bank A"], "Bank D")
        log(f"governance expels Bank D: {self.pass_(int(out['proposal']))}")


def run_scenario(root: Path, folder: Path) -> None:
    s = Scenario(root)
    parts: list[tuple[str, Callable[[], None]]] = [
        ("governance", s.governance), ("demo", s.demo), ("evm", s.evm),
        ("invoices", s.invoices), ("securities", s.securities),
        ("credit", lambda: s.credit(folder)), ("registry", s.registry), ("forum", s.forum),
        ("farewell", s.farewell)]
    for name, part in parts:
        log(f"scenario: {name}")
        part()


# --- reading the chain back -------------------------------------------------------------------


def read_chain(rpc: str) -> dict[str, Any]:
    """Every block, its transactions' results and the app hash after it, from CometBFT's
    RPC."""
    with httpx.Client(base_url=rpc, timeout=30) as http:
        def get(path: str, **params: Any) -> Any:
            return http.get(path, params=params).raise_for_status().json()["result"]

        info = get("/abci_info")["response"]
        last = int(info["last_block_height"])
        last_hash = base64.b64decode(info["last_block_app_hash"]).hex()
        headers: dict[int, dict[str, Any]] = {}
        blocks = []
        for h in range(1, last + 2):
            try:
                found = get("/block", height=h)
            except httpx.HTTPStatusError:
                if h == last + 1:
                    break  # not made yet: the last app hash comes from abci_info
                raise
            header = found["block"]["header"]
            headers[h] = header
            if h <= last:
                results = get("/block_results", height=h)["txs_results"] or []
                blocks.append({
                    "height": int(header["height"]),
                    "time": header["time"],
                    "proposer_address": header["proposer_address"].lower(),
                    "hash": found["block_id"]["hash"].lower(),
                    "txs": found["block"]["data"]["txs"] or [],
                    # what the next header's last_results_hash covers, per transaction
                    "results": [[int(r.get("code") or 0), r.get("data") or "",
                                 int(r.get("gas_wanted") or 0), int(r.get("gas_used") or 0)]
                                for r in results],
                })
        genesis_app_hash = headers[1]["app_hash"].lower()
        for block in blocks:
            h = block["height"]
            block["app_hash"] = (headers[h + 1]["app_hash"].lower() if h < last else last_hash)
        if last + 1 in headers and headers[last + 1]["app_hash"].lower() != last_hash:
            raise RuntimeError("abci_info's app hash differs from the next header's")
    return {"genesis_app_hash": genesis_app_hash, "blocks": blocks}


def record(out: Path, *, keep: Path | None, allow_dirty: bool) -> dict[str, Any]:
    from consortium.cli.demo import DEMO_ROLES, INVOICE_PARTIES
    from consortium.network import supervisor
    from consortium.network.engine import installed_version
    from consortium.network.layout import Network

    commit, clean = source_commit()
    if not clean and not allow_dirty:
        raise SystemExit(f"the consortium package at {commit[:12]} has uncommitted changes in "
                         "src/: record from a clean worktree (see tests/fixtures/README.md)")
    with tempfile.TemporaryDirectory(prefix="record-chain-") as tmp:
        folder = Path(tmp)
        root = keep or folder / "net"
        base = random.randrange(20000, 55000, 100)  # init skips any port found in use
        members = ["Bank A", "Bank B", "Bank C", *INVOICE_PARTIES, *EXTRA_MEMBERS]
        roles = {**DEMO_ROLES}
        for name, extra in EXTRA_ROLES.items():
            roles[name] = [*roles.get(name, []), *extra]
        role_args = [x for name, rs in roles.items() for x in ("--role", f"{name}={','.join(rs)}")]
        cli("init", "-n", "1", "--members", ",".join(members), "--dir", str(root),
            "--timeout-commit", "200ms", "--base-port", str(base), "--api-port", str(base + 90),
            "--force", *role_args)
        network = Network.load(root)
        try:
            cli("up", "--dir", str(root))
            rpc = network.nodes[0].rpc_url
            wait_for(lambda: int(httpx.get(f"{rpc}/status").json()["result"]["sync_info"]
                                 ["latest_block_height"]) >= 2, 60, "the first blocks")
            run_scenario(root, folder)
            chain = read_chain(rpc)
        finally:
            supervisor.down(network)
        genesis = json.loads((network.node_home(network.nodes[0]) / "config/genesis.json")
                             .read_text())
        engine = {"cometbft": installed_version()}
        config = tomllib.loads((network.node_home(network.nodes[0]) / "consortium.toml")
                               .read_text())
        execution = str(config.get("node", {}).get("engine", "revm"))
    txs = sum(len(b["txs"]) for b in chain["blocks"])
    doc = {
        "format": FORMAT,
        "commit": commit,
        "recorded_from_clean_tree": clean,
        "execution_engine": execution,
        "consensus_engine": engine,
        "genesis": genesis,
        **chain,
        "transactions": txs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".tmp")
    try:
        with gzip.GzipFile(tmp_out, "wb", mtime=0) as f:
            f.write(json.dumps(doc, separators=(",", ":")).encode())
        tmp_out.replace(out)
    finally:
        tmp_out.unlink(missing_ok=True)  # no half-written fixture
    return doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the fixture to write")
    parser.add_argument("--keep", type=Path, default=None,
                        help="make the network in this folder and leave it (to inspect)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="record even if src/ has uncommitted changes (not for fixtures)")
    args = parser.parse_args()
    doc = record(args.out, keep=args.keep, allow_dirty=args.allow_dirty)
    size = args.out.stat().st_size
    print(f"recorded {len(doc['blocks'])} blocks, {doc['transactions']} transactions at "
          f"{doc['commit'][:12]} into {args.out} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
