"""CLI refusals that name the option (a negative number to `propose`, a bad account to
`roles`) instead of an ABI encoder's traceback, and an account `account new --name` made
that `--from NAME` signs with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from consortium.cli import kit
from consortium.cli.main import main
from consortium.network.layout import MemberEntry, Network

NOWHERE = ["--rpc", "http://127.0.0.1:9"]  # refused before anything is sent


@pytest.mark.parametrize(("command", "option", "value"), [
    (["elect-officer", "--office", "chair", "--holder", "0x" + "11" * 20], "--term-blocks", "-5"),
    (["change-rule", "--type", "grant-role", "--participation", "50%", "--win-rate", "6000"],
     "--period", "-1"),
    (["software-upgrade", "--name", "x", "--version", "0.1.0"], "--height", "-1"),
    (["add-validator", "--pub-key", "A" * 43 + "="], "--power", "-10"),
])
def test_a_negative_number_to_propose_is_one_line_naming_its_option(
        command: list[str], option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["propose", *command, option, value, "--from", "Bank A", *NOWHERE])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: Invalid value for '{option}'") and value in err
    assert "Traceback" not in err and "eth_abi" not in err


def test_roles_of_a_malformed_account_names_the_argument(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["roles", "0xyz", *NOWHERE]) == 1
    assert capsys.readouterr().err == "error: ACCOUNT: '0xyz' is not a 0x account address\n"
    # not 0x…: a member name, looked up as every account option does (none is called xyz)
    assert main(["roles", "xyz", *NOWHERE]) == 1
    assert capsys.readouterr().err.startswith(
        "error: ACCOUNT 'xyz' is not a 0x account or a member name")


@pytest.fixture
def network(tmp_path: Path) -> Path:
    """A development network folder (empty keystore passwords) with one member."""
    root = tmp_path / "net"
    (root / "keystores").mkdir(parents=True)
    (root / "dev-accounts.json").write_text("{}\n")
    bank = Account.create()
    (root / "keystores" / "bank-a.json").write_text(json.dumps(Account.encrypt(bank.key, "")))
    Network(root=root, chain_id="test", eth_chain_id=1, production=False,
            members=[MemberEntry("Bank A", bank.address.lower(), "keystores/bank-a.json")]
            ).save()
    return root


def test_from_signs_with_an_account_new_name(network: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["account", "new", "--name", "ops", "--dir", str(network), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["keystore"] == str(network / "keystores" / "ops.json")
    assert kit.signer("ops", network, None).address == made["address"]
    # a member's name still means the member
    assert kit.signer("Bank A", network, None).address.lower() == Network.load(
        network).members[0].address


@pytest.mark.parametrize(("name", "why"), [
    ("../ops", "a plain file name"), (".ops", "a plain file name"),
    ("0xops", "must not begin with 0x"), ("Bank A", "is the name of the member Bank A"),
    ("bank a", "is the name of the member Bank A"),
])
def test_account_new_refuses_a_name_from_could_not_find(
        network: Path, name: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["account", "new", "--name", name, "--dir", str(network)]) == 1
    assert why in capsys.readouterr().err
    assert sorted(p.name for p in (network / "keystores").iterdir()) == ["bank-a.json"]
    assert not (network.parent / "ops.json").exists()


def test_a_negative_privacy_root_block_names_the_option(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`--block -1` was sent to the node as '-0x1' and refused there by JSON-RPC path."""
    code = main(["privacy", "root", "0x" + "11" * 32, "--block", "-1", *NOWHERE])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: Invalid value for '--block': must be 0 or "
                                        "more, not -1"), err
