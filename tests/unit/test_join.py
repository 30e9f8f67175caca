"""`consortium join`: a new institution's node home, account and what its admission needs."""

from __future__ import annotations

import json
import socket
import tomllib
from pathlib import Path

import pytest
from eth_account import Account

from consortium.cli.main import main
from consortium.errors import ConfigError, NetworkError
from consortium.network.join import join_network, parse_peer
from consortium.network.layout import Network
from tests.support.governance_testkit import governed_state

PEER = "ab" * 20 + "@127.0.0.1:26656"


@pytest.fixture
def genesis(tmp_path: Path) -> Path:
    path = tmp_path / "genesis.json"
    doc = {
        "chain_id": "consortium-test",
        "initial_height": "1",
        "validators": [],
        "app_state": governed_state().to_json(),
    }
    path.write_text(json.dumps(doc))
    return path


def test_join_writes_a_node_home_and_an_account(tmp_path: Path, genesis: Path) -> None:
    result = join_network(
        tmp_path / "bank-e", genesis_file=genesis, peer=PEER, name="Bank E", password="secret"
    )
    network = Network.load(tmp_path / "bank-e")
    (node,) = network.nodes
    assert network.chain_id == "consortium-test" and network.members[0].name == "Bank E"
    assert node.node_id == result.node_id and len(result.node_id) == 40
    home = network.node_home(node)
    config = tomllib.loads((home / "config" / "config.toml").read_text())
    assert config["filter_peers"] is True
    assert config["p2p"]["persistent_peers"] == PEER
    assert config["p2p"]["laddr"] == f"tcp://127.0.0.1:{node.p2p_port}"
    assert (home / "config" / "genesis.json").read_text() == genesis.read_text()
    key = json.loads((home / "config" / "priv_validator_key.json").read_text())
    assert result.validator_pub_key == key["pub_key"]["value"]
    assert result.validator_address == key["address"]
    keystore = json.loads(Path(result.keystore).read_text())
    assert Account.from_key(Account.decrypt(keystore, "secret")).address.lower() == result.account


def test_join_from_the_cli_across_machines(
    tmp_path: Path, genesis: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pw").write_text("")
    code = main(
        [
            "join",
            "--genesis",
            str(genesis),
            "--peer",
            "cd" * 20 + "@10.1.2.3:26656",
            "--dir",
            str(tmp_path / "e"),
            "--name",
            "Bank E",
            "--password-file",
            str(tmp_path / "pw"),
            "--external-address",
            "198.51.100.7:26656",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    home = Path(result["home"])
    p2p = tomllib.loads((home / "config" / "config.toml").read_text())["p2p"]
    assert p2p["laddr"].startswith("tcp://0.0.0.0:")
    assert p2p["external_address"] == "198.51.100.7:26656"
    code = main(
        [
            "join",
            "--genesis",
            str(genesis),
            "--peer",
            PEER,
            "--dir",
            str(tmp_path / "f"),
            "--name",
            "Bank F",
            "--password-file",
            str(tmp_path / "pw"),
        ]
    )
    out = capsys.readouterr()
    assert code == 0 and "node id" in out.out and "consortium propose admit-member" in out.out


def test_join_refusals(tmp_path: Path, genesis: Path) -> None:
    with pytest.raises(ConfigError, match="NODE_ID@HOST:PORT"):
        parse_peer("abc@host:1")
    with pytest.raises(ConfigError, match="already has a member named 'Bank A'"):
        join_network(tmp_path / "x", genesis_file=genesis, peer=PEER, name="bank a")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("")
    with pytest.raises(NetworkError, match="already exists"):
        join_network(tmp_path / "taken", genesis_file=genesis, peer=PEER, name="Bank E")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a consortium genesis"):
        join_network(tmp_path / "y", genesis_file=tmp_path / "bad.json", peer=PEER, name="E")
    assert parse_peer(PEER.upper().replace("@127.0.0.1", "@127.0.0.1")).node_id == "ab" * 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _join_argv(genesis: Path, folder: Path, *options: str) -> list[str]:
    (folder.parent / "pw").write_text("")
    return ["join", "--genesis", str(genesis), "--peer", "cd" * 20 + "@10.1.2.3:26656",
            "--dir", str(folder), "--name", "Bank E", "--password-file",
            str(folder.parent / "pw"), *options]


def test_join_listen_takes_host_port_as_node_setup_does(
    tmp_path: Path, genesis: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--listen HOST:PORT` (node setup's form) and `--external` (keygen's and node setup's
    name) work; HOST alone, with --p2p-port, still does."""
    port = _free_port()
    argv = _join_argv(genesis, tmp_path / "e", "--listen", f"0.0.0.0:{port}",
                      "--external", "198.51.100.7:26656", "--json")
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    p2p = tomllib.loads((Path(result["home"]) / "config" / "config.toml").read_text())["p2p"]
    assert p2p["laddr"] == f"tcp://0.0.0.0:{port}" and result["p2p_port"] == port
    assert p2p["external_address"] == "198.51.100.7:26656"
    assert result["card"]["p2p_address"] == "198.51.100.7:26656"
    for i, (listen, laddr_host) in enumerate((("10.1.2.4", "10.1.2.4"), ("::", "[::]"))):
        port = _free_port()
        joined = join_network(tmp_path / f"host-{i}", genesis_file=genesis, peer=PEER,
                              name="Bank E", listen=listen, p2p_port=port)
        p2p = tomllib.loads((Path(joined.home) / "config" / "config.toml").read_text())["p2p"]
        assert p2p["laddr"] == f"tcp://{laddr_host}:{port}", listen


@pytest.mark.parametrize(
    "listen",
    ["0.0.0.0:26656:26650", "tcp://0.0.0.0:26656", "0.0.0.0:0", "0.0.0.0:", ":26656",
     "0.0.0.0:99999", "a host", "[::]:26656:1"],
)
def test_join_refuses_a_listen_address_it_cannot_use(
    tmp_path: Path, genesis: Path, capsys: pytest.CaptureFixture[str], listen: str
) -> None:
    assert main(_join_argv(genesis, tmp_path / "e", "--listen", listen)) == 1
    err = capsys.readouterr().err
    assert f"--listen must be HOST:PORT (e.g. 0.0.0.0:26656) or HOST, got {listen!r}" in err
    assert not (tmp_path / "e").exists()
    port = _free_port()
    with pytest.raises(ConfigError, match="name different ports: give the port once"):
        join_network(tmp_path / "f", genesis_file=genesis, peer=PEER, name="Bank E",
                     listen=f"0.0.0.0:{port}", p2p_port=port + 1)
    assert not (tmp_path / "f").exists()


def test_join_prints_the_admission_as_operations_wants_it(
    tmp_path: Path, genesis: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The admission names the tier; the add-validator names the member (so expel-member
    removes the validator); the members vote, the proposer too; the block interval shows."""
    assert main(_join_argv(genesis, tmp_path / "e", "--timeout-commit", "1s")) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert 'consortium propose admit-member --name "Bank E" --tier ordinary --account 0x' in out
    assert "the proposer too" in out and "consortium vote <proposal> yes --from <member>" in out
    assert '--power 10 --member "Bank E" --from <member>' in out
    assert "block interval (timeout_commit) │ 1s" in out


def test_logs_of_a_join_folder_follow_its_one_node(
    tmp_path: Path, genesis: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = join_network(tmp_path / "e", genesis_file=genesis, peer=PEER, name="Bank E")
    (Path(result.home) / "node.log").write_text("first\nlast line of bank-e\n")
    assert main(["logs", "--dir", str(tmp_path / "e"), "-n", "1"]) == 0
    assert capsys.readouterr().out == "last line of bank-e\n"


def test_join_takes_a_genesis_saved_with_a_byte_order_mark(tmp_path: Path, genesis: Path) -> None:
    """A genesis a Windows editor saved: read, and written into the home without the mark
    (CometBFT refuses it)."""
    marked = tmp_path / "marked.json"
    marked.write_bytes(b"\xef\xbb\xbf" + genesis.read_bytes())
    result = join_network(tmp_path / "e", genesis_file=marked, peer=PEER, name="Bank E")
    assert (Path(result.home) / "config" / "genesis.json").read_bytes() == genesis.read_bytes()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_join_force_never_replaces_a_home_whose_validator_signed_or_that_holds_a_ledger(
    tmp_path: Path, genesis: Path
) -> None:
    """`join --force` replaces a folder whose node never ran, as `node setup --force` does,
    but not one whose validator signed (it would sign those heights again from a new home)
    or whose ledger committed blocks: refused before anything of it is deleted."""
    from consortium.ledger.state_store import StateStore, u64

    folder = tmp_path / "bank-e"
    first = join_network(folder, genesis_file=genesis, peer=PEER, name="Bank E")
    again = join_network(folder, genesis_file=genesis, peer=PEER, name="Bank E", force=True)
    assert again.node_id != first.node_id  # never started: replaced
    home = Path(again.home)
    state = home / "data" / "priv_validator_state.json"

    state.write_text('{"height": "5", "round": 0, "step": 3}')
    before = _files(folder)
    with pytest.raises(ConfigError, match=f"{home} holds a validator's signing state at "
                       r"height 5 .*would let this validator sign twice"):
        join_network(folder, genesis_file=genesis, peer=PEER, name="Bank E", force=True)
    assert _files(folder) == before  # nothing erased, nothing written

    state.write_text('{"height": "0", "round": 0, "step": 0}')
    store = StateStore(home / "app")
    try:
        with store.write() as txn:
            txn.put(b"height", u64(7), db=store.dbs["meta"])
    finally:
        store.close()
    before = _files(folder)
    with pytest.raises(ConfigError, match=r"holds a ledger at height 7 \(app/data.mdb\).*"
                       "throw that chain data away"):
        join_network(folder, genesis_file=genesis, peer=PEER, name="Bank E", force=True)
    assert _files(folder) == before


def test_join_refuses_a_name_that_differs_from_a_member_only_in_spelling(
    tmp_path: Path, genesis: Path
) -> None:
    """'Bank-A' makes the same node folder name as 'Bank A' (and confuses people)."""
    taken = governed_state().members[0].name
    close = taken.replace(" ", "-").upper() if " " in taken else f" {taken.upper()} "
    with pytest.raises(ConfigError, match=f"already has a member named {taken!r}"):
        join_network(tmp_path / "x", genesis_file=genesis, peer=PEER, name=close)
    assert not (tmp_path / "x").exists()


def test_join_refuses_a_loopback_listen_with_a_peer_on_another_host(
    tmp_path: Path, genesis: Path
) -> None:
    remote = "ab" * 20 + "@10.20.30.40:26656"
    with pytest.raises(ConfigError, match="accepts connections from this host only"):
        join_network(tmp_path / "x", genesis_file=genesis, peer=remote, name="Bank E",
                     listen="127.0.0.1:26700")
    assert not (tmp_path / "x").exists()


def test_init_force_never_replaces_a_folder_it_did_not_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "notes.md").write_text("keep me")
    assert main(["init", "--dir", str(folder), "--force", "-n", "1"]) != 0
    assert "is not a network folder or node home" in capsys.readouterr().err
    assert (folder / "notes.md").read_text() == "keep me"
