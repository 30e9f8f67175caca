"""Arguments of the `consortium` CLI checked up front, each refused in the user's
terms (one `error:` line naming the argument or option, nothing sent):

1. `privacy`: a malformed group id or transaction hash, a founder among its own `--with`
   members, an unknown or repeated member, a change that would leave one member;
2. a member's name in a message is quoted once, never followed by 's ('Bank C''s);
3. `forum attach`: too large a file is told by the file's size against the limit (the
   encrypted size counts in a task force's channel), before the document is anchored;
4. `invoice import`: a due date before the issue date and a negative amount, per row;
5. `upgrades` lists every native contract `native_versions` versions (Securities too);
6. `proposals -1` (and `vote`/`revoke`) is refused by the argument's range."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from consortium.apps.forum.model import MAX_BLOB_FILE
from consortium.apps.invoices.csv_import import read_rows
from consortium.cli import forum as forum_cli
from consortium.cli import governance as governance_cli
from consortium.cli import kit
from consortium.cli import privacy as privacy_cli
from consortium.cli.main import main
from consortium.errors import ConfigError
from consortium.ledger.system_genesis import NATIVE_ADDRESSES
from consortium.network.cards import MemberCard
from consortium.network.key_delivery import ChainMembers, check_admitted
from consortium.system.access import AccessView
from consortium.system.upgrade_plan import LATEST_NATIVE_VERSIONS
from tests.support.governance_testkit import Gov, governed_state

NODE = ["--rpc", "http://127.0.0.1:9"]  # nothing listens: a refusal must come first
ACCOUNTS = [Account.create() for _ in range(3)]
A, B, C = (a.address.lower() for a in ACCOUNTS)
MEMBERS = [{"id": i + 1, "name": name, "accounts": [account], "status": "active"}
           for i, (name, account) in enumerate([("Bank A", A), ("Bank B", B), ("Bank C", C)])]
GROUP = "0x" + "ab" * 32


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "params[" not in err
    return err


# --- 1. privacy: checked before anything is sent ---------------------------------------------


class _Governance:
    """The chain's member registry (Banks A, B, C), as GovernanceClient reads it."""

    def __init__(self, *_: Any) -> None:
        self.read = self

    def member(self, ref: str) -> dict[str, Any] | None:
        text = str(ref).strip().lower()
        return next((dict(m) for m in MEMBERS
                     if text == m["name"].lower() or text in m["accounts"]), None)


class _Privacy:
    """A member's node: group GROUP ("Deals") holds Banks A and B; what is sent is kept."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    def group(self, group_id: str) -> dict[str, Any]:
        assert group_id == GROUP
        return {"privacyGroupId": GROUP, "name": "Deals", "members": [
            {"id": m["id"], "name": m["name"], "account": m["accounts"][0]} for m in MEMBERS[:2]]}

    def create_group(self, account: Any, name: str, members: list[str]) -> dict[str, Any]:
        self.sent.append(("create", name, members))
        return {"privacyGroupId": GROUP, "txHash": "0x1", "block": 5}

    def propose_change(self, account: Any, group: str, add: list[str],
                       remove: list[str]) -> dict[str, Any]:
        self.sent.append(("change", group, add, remove))
        return {"txHash": "0x1", "block": 5}

    def find_groups(self, members: list[str]) -> list[dict[str, Any]]:
        self.sent.append(("find", members))
        return []


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> _Privacy:
    """The privacy commands against a stub node; --from is Bank A's key."""
    import consortium.system.client

    privacy = _Privacy()
    monkeypatch.chdir(tmp_path)  # no local network: names come from the chain's registry
    monkeypatch.setattr(privacy_cli, "_client", lambda *_: privacy)
    monkeypatch.setattr(consortium.system.client, "GovernanceClient", _Governance)
    monkeypatch.setattr(kit.Signing, "signer", lambda self: ACCOUNTS[0])
    return privacy


SIGNER = ["--from", "Bank A", *NODE]


@pytest.mark.parametrize(("argv", "says"), [
    (["privacy", "show", "0x12", *NODE], "'group': '0x12' is not a privacy group id"),
    (["privacy", "root", "Deals", *NODE], "'group': 'Deals' is not a privacy group id"),
    (["privacy", "join", "0x" + "zz" * 32, *SIGNER], "is not a privacy group id"),
    (["privacy", "approve", "0x" + "ab" * 31, *SIGNER], "is not a privacy group id"),
    (["privacy", "propose-change", "12", "--add", "Bank C", *SIGNER],
     "is not a privacy group id"),
    (["privacy", "receipt", "0xabc", *NODE], "'0xabc' is not a transaction hash"),
])
def test_privacy_ids_and_hashes_are_checked_by_their_argument(
        capsys: pytest.CaptureFixture[str], node: _Privacy, argv: list[str], says: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and says in one_error(err) and "Invalid value for" in err
    assert "0x and 64 hex digits" in err and node.sent == []


@pytest.mark.parametrize(("extra", "says"), [
    (["--with", "Bank A"], "error: --with 'Bank A' is the founder's own member 'Bank A' "
                           "(--from 'Bank A'): the founder is in the group already"),
    (["--with", "Bank B", "--with", A.upper().replace("0X", "0x")],
     "is the founder's own member 'Bank A'"),
    (["--with", "Bank Z"], "error: --with 'Bank Z' is not a 0x account or a member name"),
    (["--with", "0x1234"], "error: --with '0x1234' is not a 0x account or a member name"),
    (["--with", "Bank B", "--with", "bank b"],
     "error: --with 'bank b': member 'Bank B' is given twice"),
])
def test_create_group_refuses_the_founder_and_unknown_members_up_front(
        capsys: pytest.CaptureFixture[str], node: _Privacy, extra: list[str],
        says: str) -> None:
    code, _, err = run(capsys, "privacy", "create-group", "Deals", *extra, *SIGNER)
    assert code == 1 and says in one_error(err) and node.sent == []


@pytest.mark.parametrize("name", ["", "  ", "x" * 65, "é" * 33])
def test_create_group_refuses_a_name_the_contract_would(
        capsys: pytest.CaptureFixture[str], node: _Privacy, name: str) -> None:
    code, _, err = run(capsys, "privacy", "create-group", name, "--with", "Bank B", *SIGNER)
    assert code == 1 and "a privacy group's name is 1 to 64 bytes" in one_error(err)
    assert node.sent == []


def test_create_group_sends_the_founder_and_its_other_members(
        capsys: pytest.CaptureFixture[str], node: _Privacy) -> None:
    code, out, err = run(capsys, "privacy", "create-group", "Deals", "--with", "Bank B",
                         "--with", C, *SIGNER)
    assert code == 0, err
    assert node.sent == [("create", "Deals", [ACCOUNTS[0].address, B, C])]
    assert "created privacy group 'Deals'" in out


@pytest.mark.parametrize(("extra", "says"), [
    (["--remove", "Bank B"], "error: refused: removing 'Bank B' would leave privacy group "
                             f"'Deals' ({GROUP}) with 1 member ('Bank A'); a group keeps at "
                             "least 2 members"),
    (["--remove", "Bank A", "--remove", "Bank B", "--add", "Bank C"],
     "would leave privacy group 'Deals'"),
    (["--add", "Bank B"], f"error: --add 'Bank B': member 'Bank B' is in privacy group "
                          f"'Deals' ({GROUP}) already"),
    (["--remove", "Bank C"], "error: --remove 'Bank C': member 'Bank C' is not in privacy "
                             "group 'Deals'"),
    (["--add", "Bank C", "--remove", "bank c"],
     "error: member 'Bank C' is given to both --add and --remove"),
    (["--remove", "Bank Z"], "error: --remove 'Bank Z' is not a 0x account or a member name"),
])
def test_propose_change_refuses_what_the_group_cannot_become(
        capsys: pytest.CaptureFixture[str], node: _Privacy, extra: list[str],
        says: str) -> None:
    code, _, err = run(capsys, "privacy", "propose-change", GROUP, *extra, *SIGNER)
    assert code == 1 and says in one_error(err) and node.sent == []


def test_propose_change_sends_a_change_that_keeps_two_members(
        capsys: pytest.CaptureFixture[str], node: _Privacy) -> None:
    code, _, err = run(capsys, "privacy", "propose-change", GROUP, "--add", "Bank C",
                       "--remove", "Bank B", *SIGNER)
    assert code == 0, err
    assert node.sent == [("change", GROUP, [C], [B])]


def test_groups_names_an_unknown_member_by_its_option(
        capsys: pytest.CaptureFixture[str], node: _Privacy) -> None:
    code, _, err = run(capsys, "privacy", "groups", "--member", "Bank Z", *NODE)
    assert code == 1 and one_error(err).startswith("error: --member 'Bank Z' is not a 0x")
    assert node.sent == []
    assert run(capsys, "privacy", "groups", "--member", "bank b", *NODE)[0] == 0
    assert node.sent == [("find", [B])]


# --- 2. a member's name in a message: quoted once, no 's after the quote ----------------------


def test_a_card_borrowing_an_account_names_the_member_readably(tmp_path: Path) -> None:
    card = MemberCard("Bank X", "ab" * 20, "key", A, "enc", "127.0.0.1:1")
    chain = ChainMembers("http://127.0.0.1:9", 7, [
        {"name": "Bank A's", "accounts": [A], "nodes": [], "status": "active"}])
    with pytest.raises(ConfigError) as err:
        check_admitted(card, tmp_path / "card.json", chain)
    assert "is that of member \"Bank A's\" on chain (the node at" in err.value.message
    assert "'s on chain" not in err.value.message


class _Named:
    """Governance and Privacy state of an access view: one suspended member, its node."""

    def member_of(self, account: bytes) -> int:
        return 0

    def member_of_node(self, account: bytes) -> int:
        return 1

    def name(self, member_id: int) -> str:
        return "Bank A's"

    def status(self, member_id: int) -> str:
        return "suspended"


def test_a_privacy_node_refusal_names_its_member_readably() -> None:
    view = AccessView(lambda address, slot: 0)
    view.gov = view.privacy = _Named()  # type: ignore[assignment]
    reason = view.refusal(b"\x01" * 20, False, None)
    assert reason == ("sender 0x" + "01" * 20 + " refused: member suspended (the privacy "
                      "node of \"Bank A's\", suspended)")


# --- 3. forum attach: the file's size against the limit, before anything is sent -------------


class _Forum:
    """A forum node: channel "Research" is a task force's (encrypted), the on-chain limit
    is the default 65,536 bytes; nothing may be attached."""

    def __init__(self) -> None:
        self.read = self

    def channel(self, name: str) -> dict[str, Any] | None:
        return {"name": name, "private": name == "Research"}

    def max_attachment(self) -> int:
        return 65536

    def attach(self, *args: Any, **kw: Any) -> dict[str, Any]:
        raise AssertionError("attached a document that should have been refused")


@pytest.fixture
def forum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forum_cli, "_client", lambda *_: _Forum())
    monkeypatch.setattr(kit.Signing, "signer", lambda self: ACCOUNTS[0])


def _file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / f"paper-{size}.pdf"
    with path.open("wb") as f:
        f.truncate(size)  # sparse: no disk for the large ones
    return path


def test_attach_on_chain_states_the_file_size_and_the_limit(
        capsys: pytest.CaptureFixture[str], forum: None, tmp_path: Path) -> None:
    big = _file(tmp_path, 70000)
    code, _, err = run(capsys, "forum", "attach", "consortium", str(big), "--on-chain",
                       *SIGNER)
    assert code == 1
    assert one_error(err) == (
        f"error: FILE {big} is 70000 bytes, over the forum's on-chain limit of 65536 bytes "
        "(rule forum.max_attachment_bytes); leave out --on-chain to anchor it by its SHA-256 "
        "(your node keeps the bytes)\n")


def test_attach_in_a_task_force_channel_counts_the_encrypted_size(
        capsys: pytest.CaptureFixture[str], forum: None, tmp_path: Path) -> None:
    """A file under the limit whose sealed bytes are over it: the message says so (the
    contract would have named the sealed size, 65548, as "the attachment")."""
    paper = _file(tmp_path, 65520)
    code, _, err = run(capsys, "forum", "attach", "Research", str(paper), "--on-chain",
                       *SIGNER)
    assert code == 1
    assert one_error(err).startswith(
        f"error: FILE {paper} is 65520 bytes, over the forum's on-chain limit of 65536 bytes "
        "(rule forum.max_attachment_bytes); encrypted for task force channel 'Research' it "
        "is 65548 bytes, and the encrypted size counts (28 bytes more than the file), so a "
        "file of at most 65508 bytes fits; leave out --on-chain")


def test_attach_refuses_a_file_no_node_keeps_before_anchoring_it(
        capsys: pytest.CaptureFixture[str], forum: None, tmp_path: Path) -> None:
    """Once, such a file was anchored on chain and only then refused by the node's upload,
    leaving a document whose bytes nobody keeps."""
    huge = _file(tmp_path, MAX_BLOB_FILE + 1)
    code, _, err = run(capsys, "forum", "attach", "consortium", str(huge), *SIGNER)
    assert code == 1
    assert one_error(err) == (
        f"error: FILE {huge} is {MAX_BLOB_FILE + 1} bytes, over the {MAX_BLOB_FILE} bytes a "
        "node keeps for one anchored document; split it, or share it outside the forum\n")
    sealed = _file(tmp_path, MAX_BLOB_FILE - 10)
    code, _, err = run(capsys, "forum", "attach", "Research", str(sealed), "--on-node",
                       *SIGNER)
    assert code == 1 and f"at most {MAX_BLOB_FILE - 28} bytes fits" in one_error(err)


def test_attach_refuses_a_missing_or_empty_file_naming_it(
        capsys: pytest.CaptureFixture[str], forum: None, tmp_path: Path) -> None:
    code, _, err = run(capsys, "forum", "attach", "consortium", str(tmp_path / "nope.pdf"),
                       *SIGNER)
    assert code == 1 and one_error(err).startswith(f"error: cannot read FILE {tmp_path}")
    code, _, err = run(capsys, "forum", "attach", "consortium", str(_file(tmp_path, 0)),
                       *SIGNER)
    assert code == 1 and "is empty" in one_error(err)


# --- 4. invoice import: each bad row refused with its line and field --------------------------


def test_import_refuses_a_due_date_before_the_issue_date_and_negative_amounts() -> None:
    buyer = "0x" + "11" * 20
    text = "\n".join([
        "seller_tax_id,invoice_number,issue_date,amount,currency,due_date,buyer",
        f"T1,INV-1,2025-06-30,1000,CNY,2025-05-01,{buyer}",
        f"T1,INV-2,2025-01-01,-500,CNY,2025-12-31,{buyer}",
        f"T1,INV-3,2025-01-01,- 12.5,CNY,2025-12-31,{buyer}",
        f"T1,INV-4,2025/01/02,500,CNY,20250102,{buyer}",  # due the day it is issued: fine
        f"T1,INV-5,2025-01-02,500,CNY,2025-01-01,{buyer}",
    ]) + "\n"
    rows, refused, count = read_rows(text, b"k" * 32, "0x" + "22" * 20)
    assert count == 5 and [r.line for r in rows] == [5]
    assert [(r.line, r.reason) for r in refused] == [
        (2, "due_date 2025-05-01 is before issue_date 2025-06-30"),
        (3, "amount -500 is negative: an amount is above 0 (an integer in the currency's "
            "smallest unit)"),
        (4, "amount - 12.5 is negative: an amount is above 0 (an integer in the currency's "
            "smallest unit)"),
        (6, "due_date 2025-01-01 is before issue_date 2025-01-02"),
    ]


# --- 5. upgrades: every native contract's layout version --------------------------------------


def test_upgrades_reads_every_native_contract_native_versions_sets(tmp_path: Path) -> None:
    from consortium.ledger.ledger import Ledger
    from consortium.system import reader

    assert getattr(reader, "VERSIONED", None) == NATIVE_ADDRESSES
    assert set(NATIVE_ADDRESSES) == set(LATEST_NATIVE_VERSIONS)
    ledger = Ledger(tmp_path / "ledger")
    ledger.init_chain(dataclasses.replace(governed_state(), native_versions={
        "Nodes": 2, "Privacy": 1, "Securities": 2, "Invoices": 2, "Registry": 2}), 1)
    try:
        assert Gov(ledger).read.upgrades()["nativeVersions"] == {
            "Governance": 1, "Permissions": 1, "Nodes": 2, "Privacy": 1, "Securities": 2,
            "Invoices": 2, "Registry": 2}
    finally:
        ledger.close()


def test_upgrades_table_shows_privacy_not_enabled(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    versions = {"Governance": 1, "Permissions": 1, "Nodes": 1, "Privacy": 0, "Securities": 1}

    class Client:
        class read:  # noqa: N801
            @staticmethod
            def upgrades() -> dict[str, Any]:
                return {"plan": None, "applied": [], "nativeVersions": versions}

        @staticmethod
        def chain_rules() -> dict[str, int]:
            return {"native_gas": 1, "evm_clock": 2}

    monkeypatch.setattr(governance_cli, "_client", lambda *_: Client())
    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    code, out, _ = run(capsys, "upgrades", *NODE)
    assert code == 0
    assert "Securities" in out and "not enabled on this chain" in out
    assert "native_gas │ 1       │ every native storage write 20,000 gas" in out
    assert "evm_clock  │ 2       │ the EVM clock follows block time" in out


# --- 6. proposals -1: the argument's range, not "No such option" ------------------------------


@pytest.mark.parametrize(("argv", "says"), [
    (["proposals", "-1"], "error: Invalid value for 'proposal': must be above 0, not -1"),
    (["proposals", "0"], "error: Invalid value for 'proposal': must be above 0, not 0"),
    (["proposals", "x1"], "error: Invalid value for 'proposal': 'x1' is not a whole number"),
    (["proposals", str(2**256)], "is out of range: 1 to 2**256-1"),
    (["vote", "-1", "yes", "--from", "Bank A"], "'proposal': must be above 0, not -1"),
    (["revoke", "-2", "--from", "Bank A"], "'proposal': must be above 0, not -2"),
])
def test_a_negative_proposal_id_is_refused_naming_the_argument(
        capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    code, _, err = run(capsys, *argv, *NODE)
    assert code == 2 and says in one_error(err) and "No such option" not in err


def test_no_help_text_loses_a_bracketed_name_to_rich_markup() -> None:
    """`--help` is rendered with Rich, which takes "[api]" for a style and drops it: a
    config section named in a help text is written "\\[api]" so that it shows."""
    import re

    import typer

    from consortium.cli.main import app

    unescaped = re.compile(r"(?<!\\)\[[a-z_.]+\]")
    lost: list[str] = []

    def walk(command: Any, path: str) -> None:
        texts = [("", command.help or "")]
        texts += [(p.name, getattr(p, "help", None) or "") for p in command.params]
        lost.extend(f"{path} {name}".strip() for name, text in texts if unescaped.search(text))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "consortium")
    assert lost == []
