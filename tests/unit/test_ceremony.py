"""Issue 18, the key ceremony: cards, genesis from cards alone, the consortium key sealed to
each member, node setup, and every bad input refused with one line and no partial files."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from consortium.apps.invoices.fingerprint import key_from_node_home
from consortium.cli.main import main
from consortium.errors import ConfigError
from consortium.network.cards import (
    ACCOUNT_FILE,
    CARD_FILE,
    ENCRYPTION_KEY_FILE,
    NODE_KEY_FILE,
    VALIDATOR_KEY_FILE,
    MemberCard,
    keygen,
    open_member_keys,
)
from consortium.network.ceremony import (
    envelope_file_name,
    genesis_hash,
    open_envelope,
    seal_key,
    setup_node,
    write_genesis,
)
from consortium.network.join import join_network
from consortium.network.layout import Network
from consortium.network.node_config import NodeConfig

NAMES = ("Bank A", "Bank B", "Bank C", "Bank D")
PASSWORD = "correct horse"


@dataclass
class Ceremony:
    root: Path
    keys: dict[str, Path]  # member -> keys folder (its own "host")
    coordinator: Path
    homes: dict[str, Path]
    digest: str
    p2p_ports: list[int]  # free when the module began: fixed ports were taken by other tests

    def envelope(self, name: str) -> Path:
        return self.coordinator / envelope_file_name(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory: pytest.TempPathFactory) -> Ceremony:
    root = tmp_path_factory.mktemp("ceremony")
    ports = [_free_port() for _ in NAMES]
    keys = {}
    for i, name in enumerate(NAMES):
        keys[name] = root / f"host{i}" / "keys"
        keygen(keys[name], name=name, p2p_address=f"127.0.0.1:{ports[i]}", password=PASSWORD)
    coordinator = root / "coordinator" / "out"
    result = write_genesis(
        coordinator,
        [keys[n] / CARD_FILE for n in NAMES],
        chain_id="pilot-1",
        roles={"Bank A": ["regulator"]},
    )
    homes = {}
    for i, name in enumerate(NAMES):
        homes[name] = root / f"host{i}" / "home"
        setup_node(
            homes[name],
            genesis_file=coordinator / "genesis.json",
            announced_hash=result.genesis_sha256,
            keys_dir=keys[name],
            envelope_file=coordinator / envelope_file_name(name),
            password=PASSWORD,
            listen=f"127.0.0.1:{ports[i]}",
            peers=result.peers,
            rpc_port=_free_port(),
            api_port=_free_port(),
        )
    return Ceremony(root, keys, coordinator, homes, result.genesis_sha256, ports)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_makes_private_keys_and_a_public_card(ceremony: Ceremony) -> None:
    folder = ceremony.keys["Bank A"]
    assert _mode(folder) == 0o700
    for secret in (NODE_KEY_FILE, VALIDATOR_KEY_FILE, ACCOUNT_FILE, ENCRYPTION_KEY_FILE):
        assert _mode(folder / secret) == 0o600, secret
    card = MemberCard.load(folder / CARD_FILE)
    assert json.loads((folder / CARD_FILE).read_text())["version"] == 1
    assert card.name == "Bank A" and card.p2p_address == f"127.0.0.1:{ceremony.p2p_ports[0]}"
    assert len(base64.b64decode(card.validator_pub_key)) == 32
    assert len(bytes.fromhex(card.encryption_pub_key)) == 33
    keystore = json.loads((folder / ACCOUNT_FILE).read_text())
    assert Account.from_key(Account.decrypt(keystore, PASSWORD)).address.lower() == card.account
    assert open_member_keys(folder, PASSWORD).card == card  # the card matches its keys


def test_genesis_is_made_from_the_cards_alone(ceremony: Ceremony) -> None:
    cards = [MemberCard.load(ceremony.keys[n] / CARD_FILE) for n in NAMES]
    data = (ceremony.coordinator / "genesis.json").read_bytes()
    assert genesis_hash(data) == hashlib.sha256(data).hexdigest() == ceremony.digest
    genesis = json.loads(data)
    assert genesis["chain_id"] == "pilot-1"
    assert [v["pub_key"]["value"] for v in genesis["validators"]] == [
        c.validator_pub_key for c in cards
    ]
    assert all(v["power"] == "10" for v in genesis["validators"])
    members = genesis["app_state"]["members"]
    assert [(m["name"], m["accounts"], m["nodes"]) for m in members] == [
        (c.name, [c.account], [c.node_id]) for c in cards
    ]
    assert genesis["app_state"]["alloc"] == {}
    assert genesis["app_state"]["governance"]["roles"] == {cards[0].account: ["regulator"]}
    assert genesis["app_state"]["block_gas_limit"] == 10**9  # the default
    assert genesis["consensus_params"]["block"]["max_gas"] == str(10**9)
    peers = (ceremony.coordinator / "peers.txt").read_text().split()
    assert peers == [f"{c.node_id}@{c.p2p_address}" for c in cards]
    assert sorted(p.name for p in ceremony.coordinator.iterdir()) == sorted(
        ["genesis.json", "peers.txt", *(envelope_file_name(n) for n in NAMES)]
    )


def test_every_member_gets_the_same_consortium_key_and_the_coordinator_has_none(
    ceremony: Ceremony,
) -> None:
    keys = {name: key_from_node_home(home) for name, home in ceremony.homes.items()}
    assert len(set(keys.values())) == 1
    key = next(iter(keys.values()))
    for path in ceremony.coordinator.iterdir():
        text = path.read_text()
        assert key.hex() not in text and base64.b64encode(key).decode() not in text
    for home in ceremony.homes.values():
        assert _mode(home / "consortium.key") == 0o600
        assert NodeConfig.load(home).consortium_key_file == "consortium.key"


def test_envelope_round_trip_binds_member_and_genesis(ceremony: Ceremony) -> None:
    keys = open_member_keys(ceremony.keys["Bank B"], PASSWORD)
    key = bytes(range(32))
    path = ceremony.root / "sealed.enc"
    path.write_text(json.dumps(seal_key(key, keys.card, chain_id="c", genesis_sha256="ab" * 32)))
    assert open_envelope(path, keys, chain_id="c", genesis_sha256="ab" * 32) == key
    with pytest.raises(ConfigError, match="another genesis"):
        open_envelope(path, keys, chain_id="c", genesis_sha256="cd" * 32)
    other = open_member_keys(ceremony.keys["Bank C"], PASSWORD)
    with pytest.raises(ConfigError, match="the envelope of 'Bank B', not of 'Bank C'"):
        open_envelope(path, other, chain_id="c", genesis_sha256="ab" * 32)
    # An envelope relabelled for Bank C still holds Bank B's ciphertext: it does not open.
    forged = {**json.loads(path.read_text()), "encryption_pub_key": other.card.encryption_pub_key}
    path.write_text(json.dumps(forged))
    with pytest.raises(ConfigError, match="does not open with Bank C's encryption key"):
        open_envelope(path, other, chain_id="c", genesis_sha256="ab" * 32)


def test_node_homes_are_one_node_network_folders(ceremony: Ceremony) -> None:
    cards = {n: MemberCard.load(ceremony.keys[n] / CARD_FILE) for n in NAMES}
    for i, (name, home) in enumerate(ceremony.homes.items()):
        assert _mode(home) == 0o700
        network = Network.load(home)
        (node,) = network.nodes
        assert network.node_home(node) == home and network.chain_id == "pilot-1"
        assert network.members[0].address == cards[name].account
        assert node.node_id == cards[name].node_id
        for file in (NODE_KEY_FILE, VALIDATOR_KEY_FILE):
            copied = (home / "config" / file).read_bytes()
            assert copied == (ceremony.keys[name] / file).read_bytes()
            assert _mode(home / "config" / file) == 0o600
        assert genesis_hash((home / "config" / "genesis.json").read_bytes()) == ceremony.digest
        config = tomllib.loads((home / "config" / "config.toml").read_text())
        assert config["filter_peers"] is True
        assert config["p2p"]["laddr"] == f"tcp://127.0.0.1:{ceremony.p2p_ports[i]}"
        assert config["p2p"]["external_address"] == cards[name].p2p_address
        assert sorted(config["p2p"]["persistent_peers"].split(",")) == sorted(
            c.peer for n, c in cards.items() if n != name
        )
        assert NodeConfig.load(home).member == name


def test_no_key_file_of_one_member_exists_in_another_members_folder(
    ceremony: Ceremony,
) -> None:
    def secrets_of(name: str) -> dict[str, str]:
        folder = ceremony.keys[name]
        node = json.loads((folder / NODE_KEY_FILE).read_text())["priv_key"]["value"]
        validator = json.loads((folder / VALIDATOR_KEY_FILE).read_text())["priv_key"]["value"]
        account = Account.decrypt(json.loads((folder / ACCOUNT_FILE).read_text()), PASSWORD)
        encryption = open_member_keys(folder, PASSWORD).encryption_secret
        return {
            "node key": node,
            "validator key": validator,
            "account key": bytes(account).hex(),
            "encryption key": encryption.hex(),
            "account keystore": (folder / ACCOUNT_FILE).read_text(),
            "encryption keystore": (folder / ENCRYPTION_KEY_FILE).read_text(),
        }

    def files_of(folder: Path) -> Iterator[Path]:
        return (p for p in folder.rglob("*") if p.is_file())

    owned = {name: ceremony.root / f"host{i}" for i, name in enumerate(NAMES)}
    everything = {**owned, "coordinator": ceremony.coordinator}
    for name in NAMES:
        secrets = secrets_of(name)
        for other, folder in everything.items():
            if other == name:
                continue
            for path in files_of(folder):
                text = path.read_text(errors="replace")
                for what, secret in secrets.items():
                    assert secret not in text, f"{name}'s {what} is in {path}"


# --- bad input: one line, non-zero exit, nothing left behind -------------------------------


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code != 0, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _card(ceremony: Ceremony, name: str) -> dict[str, object]:
    return dict(json.loads((ceremony.keys[name] / CARD_FILE).read_text()))


def _genesis_argv(tmp_path: Path, cards: list[dict[str, object]]) -> list[str]:
    argv = ["genesis", "--chain-id", "pilot-2", "--out", str(tmp_path / "out")]
    for i, card in enumerate(cards):
        path = tmp_path / f"card{i}.json"
        path.write_text(json.dumps(card))
        argv += ["--card", str(path)]
    return argv


@pytest.mark.parametrize(
    ("field", "value", "needles"),
    [
        ("validator_pub_key", base64.b64encode(b"k" * 31).decode(),
         ("card0.json", "validator_pub_key has the wrong length: 31 bytes")),
        ("encryption_pub_key", "04" + "11" * 64,
         ("encryption_pub_key has the wrong length", "65 bytes")),
        ("encryption_pub_key", "02" + "ff" * 32, ("not a point on secp256k1",)),
        ("account", "0x1234", ("account must be a 0x address",)),
        ("account", "0x52908400098527886E0F7030069857D2E4169EE7".replace("E", "e", 1),
         ("wrong EIP-55 checksum",)),
        ("node_id", "zz" * 20, ("node_id must be 40 hex digits",)),
        ("node_id", "ab" * 19, ("node_id must be 40 hex digits",)),
        ("p2p_address", "no-port", ("p2p_address must look like HOST:PORT",)),
        ("p2p_address", "0.0.0.0:26656", ("cannot be dialled",)),
        ("name", " ", ("name must be a name",)),
        ("version", 2, ("card version 2",)),
        ("extra", 1, ("unknown field 'extra'",)),
    ],
)
def test_a_malformed_card_is_refused(
    ceremony: Ceremony,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: object,
    needles: tuple[str, ...],
) -> None:
    bad = {**_card(ceremony, "Bank A"), field: value}
    _fails(capsys, _genesis_argv(tmp_path, [bad, _card(ceremony, "Bank B")]), *needles)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("field", "what"),
    [
        ("node_id", "node id"),
        ("name", "name"),
        ("account", "account"),
        ("validator_pub_key", "validator key"),
        ("encryption_pub_key", "encryption key"),
        ("p2p_address", "p2p address"),
    ],
)
def test_cards_that_share_a_key_or_name_are_refused(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, what: str
) -> None:
    a, b = _card(ceremony, "Bank A"), _card(ceremony, "Bank B")
    b[field] = a[field] if field != "name" else "BANK a"
    _fails(capsys, _genesis_argv(tmp_path, [a, b]), "card0.json and", "card1.json", f"same {what}")
    assert not (tmp_path / "out").exists()


def _setup_argv(
    ceremony: Ceremony, tmp_path: Path, name: str = "Bank A", **changes: str
) -> list[str]:
    (tmp_path / "pw").write_text(PASSWORD)
    options = {
        "--genesis": str(ceremony.coordinator / "genesis.json"),
        "--genesis-hash": ceremony.digest,
        "--keys": str(ceremony.keys[name]),
        "--consortium-key-envelope": str(ceremony.envelope(name)),
        "--listen": f"127.0.0.1:{_free_port()}",
        "--peers": ",".join((ceremony.coordinator / "peers.txt").read_text().split()),
        "--password-file": str(tmp_path / "pw"),
        "--out": str(tmp_path / "home"),
        **changes,
    }
    flags = (((k,) if v == "" else (k, v)) for k, v in options.items())  # "": a flag
    return ["node", "setup", *(x for item in flags for x in item)]


def test_setup_refuses_a_genesis_whose_hash_differs(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _setup_argv(ceremony, tmp_path, **{"--genesis-hash": "0" * 64})
    _fails(capsys, argv, "genesis.json has hash", ceremony.digest, "not the announced 0000")
    argv = _setup_argv(ceremony, tmp_path, **{"--genesis-hash": "abc"})
    _fails(capsys, argv, "--genesis-hash must be the 64-hex-digit SHA-256")
    assert not (tmp_path / "home").exists()


def test_setup_refuses_a_genesis_without_its_card(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    others = write_genesis(
        tmp_path / "others",
        [ceremony.keys[n] / CARD_FILE for n in NAMES[1:]],
        chain_id="pilot-1",
    )
    argv = _setup_argv(ceremony, tmp_path, **{
        "--genesis": others.genesis,
        "--genesis-hash": others.genesis_sha256,
        "--consortium-key-envelope": others.envelopes["Bank B"],
    })
    _fails(capsys, argv, "does not contain Bank A's card", "no member has node id")
    # A genesis naming Bank A's node with someone else's account is not Bank A's card either.
    doc = json.loads((ceremony.coordinator / "genesis.json").read_text())
    doc["app_state"]["members"][0]["accounts"] = ["0x" + "11" * 20]
    changed = tmp_path / "changed.json"
    changed.write_bytes(json.dumps(doc).encode())
    argv = _setup_argv(ceremony, tmp_path, **{
        "--genesis": str(changed), "--genesis-hash": genesis_hash(changed.read_bytes()),
    })
    _fails(capsys, argv, "does not contain Bank A's card", "not 0x")
    assert not (tmp_path / "home").exists()


def test_setup_refuses_a_wrong_password_and_another_members_envelope(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "wrong").write_text("not the password")
    argv = _setup_argv(ceremony, tmp_path, **{"--password-file": str(tmp_path / "wrong")})
    _fails(capsys, argv, "wrong password for", ENCRYPTION_KEY_FILE)
    argv = _setup_argv(
        ceremony, tmp_path, **{"--consortium-key-envelope": str(ceremony.envelope("Bank C"))}
    )
    _fails(capsys, argv, "is the envelope of 'Bank C', not of 'Bank A'")
    assert not (tmp_path / "home").exists()


def test_setup_that_fails_midway_leaves_no_partial_home(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--api-port": port}), "in use")
    assert not (tmp_path / "home").exists()
    (tmp_path / "home").mkdir()  # an empty folder given as --out stays, empty
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        _fails(capsys, _setup_argv(
            ceremony, tmp_path, **{"--rpc-port": str(busy.getsockname()[1])}
        ), "--rpc-port", "in use")
    assert list((tmp_path / "home").iterdir()) == []
    _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--peers": "nobody@somewhere"}),
           "--peers must look like NODE_ID@HOST:PORT")
    _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--timeout-commit": "soon"}),
           "--timeout-commit must be a duration")
    keys = str(ceremony.keys["Bank A"])
    _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--out": keys, "--force": ""}),
           "--out must not be, hold or be inside the --keys folder")
    assert (ceremony.keys["Bank A"] / NODE_KEY_FILE).is_file()


def test_keygen_refusals(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pw").write_text(PASSWORD)
    (tmp_path / "empty").write_text("")
    base = ["keygen", "--name", "Bank E", "--password-file", str(tmp_path / "pw")]
    _fails(capsys, [*base, "--out", str(ceremony.keys["Bank A"])], "already exists")
    _fails(capsys, [*base, "--out", str(tmp_path / "k"), "--external", "0.0.0.0:1"],
           "cannot be dialled")
    _fails(capsys, ["keygen", "--name", "E", "--out", str(tmp_path / "k"), "--password-file",
                    str(tmp_path / "empty")], "password must not be empty")
    _fails(capsys, ["keygen", "--name", "", "--out", str(tmp_path / "k"), "--password-file",
                    str(tmp_path / "pw")], "--name must be a name")
    assert not (tmp_path / "k").exists()
    assert MemberCard.load(ceremony.keys["Bank A"] / CARD_FILE).name == "Bank A"  # untouched


def test_genesis_refuses_bad_options(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = [_card(ceremony, "Bank A"), _card(ceremony, "Bank B")]
    argv = _genesis_argv(tmp_path, cards)
    _fails(capsys, [*argv, "--role", "Bank Z=regulator"], "--role names no member 'Bank Z'")
    _fails(capsys, [*argv, "--role", "Bank A=emperor"], "unknown role 'emperor'")
    _fails(capsys, [*argv[:2], "bad chain!", *argv[3:]], "--chain-id may use")
    _fails(capsys, [*argv, "--card", str(tmp_path / "missing.json")], "cannot read the card")
    _fails(capsys, [*argv, "--block-gas-limit", "21000"],
           "--block-gas-limit must be between 30,000,000 and")
    assert not (tmp_path / "out").exists()


def test_the_cli_runs_the_ceremony(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = [ceremony.keys[n] / CARD_FILE for n in NAMES[:2]]
    argv = ["genesis", "--chain-id", "pilot-3", "--out", str(tmp_path / "g"), "--json"]
    assert main([*argv, *(x for c in cards for x in ("--card", str(c)))]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["genesis_sha256"] == genesis_hash((tmp_path / "g" / "genesis.json").read_bytes())
    argv = _setup_argv(ceremony, tmp_path, **{
        "--genesis": result["genesis"],
        "--genesis-hash": result["genesis_sha256"].upper(),
        "--consortium-key-envelope": result["envelopes"]["Bank A"],
        "--peers": ",".join(result["peers"]),
        "--external": "192.0.2.10:26656",
        "--api-host": "0.0.0.0",
    })
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    home = tmp_path / "home"
    assert out["peers"] == result["peers"][1:]  # its own entry is skipped
    config = tomllib.loads((home / "config" / "config.toml").read_text())
    assert config["p2p"]["external_address"] == "192.0.2.10:26656"
    assert NodeConfig.load(home).api_host == "0.0.0.0"
    assert main(["node"]) == 1
    assert "consortium node needs --home" in capsys.readouterr().err


def test_join_writes_a_member_card(tmp_path: Path, ceremony: Ceremony) -> None:
    result = join_network(
        tmp_path / "bank-e",
        genesis_file=ceremony.coordinator / "genesis.json",
        peer=MemberCard.load(ceremony.keys["Bank A"] / CARD_FILE).peer,
        name="Bank E",
        password="",
    )
    card = MemberCard.load(Path(result.card_file))
    assert card.to_json() == result.card
    assert (card.node_id, card.account, card.validator_pub_key) == (
        result.node_id, result.account, result.validator_pub_key
    )
    node = Network.load(tmp_path / "bank-e").nodes[0]
    assert card.p2p_address == f"127.0.0.1:{node.p2p_port}"


def test_setup_refuses_a_card_that_does_not_match_its_keys(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(ceremony.keys["Bank A"], keys)
    card = _card(ceremony, "Bank A")
    card["node_id"] = _card(ceremony, "Bank B")["node_id"]
    (keys / CARD_FILE).write_text(json.dumps(card))
    argv = _setup_argv(ceremony, tmp_path, **{"--keys": str(keys)})
    _fails(capsys, argv, "card.json does not match the keys beside it (node_id differs)")
    (keys / ENCRYPTION_KEY_FILE).unlink()
    _fails(capsys, argv, "is not a keys folder made by `consortium keygen`", ENCRYPTION_KEY_FILE)
    assert not (tmp_path / "home").exists()


def test_setup_installs_the_api_certificate_and_refuses_a_mismatched_pair(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from consortium.network.tls import make_ca, make_cert

    make_ca(tmp_path / "ca")
    key, cert = make_cert(tmp_path / "ca", "node", ["10.0.0.5"], tmp_path / "tls")
    other_key, _ = make_cert(tmp_path / "ca", "other", ["10.0.0.6"], tmp_path / "tls2")
    _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--tls-cert": str(cert)}),
           "--tls-cert and --tls-key go together")
    _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--tls-cert": str(cert),
                                                      "--tls-key": str(other_key)}),
           "the key does not match the certificate")
    assert not (tmp_path / "home").exists()  # refused before anything is written
    argv = _setup_argv(ceremony, tmp_path, **{"--tls-cert": str(cert), "--tls-key": str(key)})
    assert main(argv) == 0, capsys.readouterr().err
    home = tmp_path / "home"
    access = NodeConfig.load(home).api_access
    assert (access.tls_cert, access.tls_key) == ("tls/node.pem", "tls/node.key")
    assert (home / "tls" / "node.pem").read_bytes() == cert.read_bytes()
    assert _mode(home / "tls" / "node.key") == 0o600


# --- node setup never costs a validator its signing state; ports and peers checked first ---


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _commit_ledger(home: Path, height: int) -> None:
    """What a node that committed `height` blocks leaves in app/: the ledger's own store."""
    from consortium.ledger.state_store import StateStore, u64

    store = StateStore(home / "app")
    try:
        with store.write() as txn:
            txn.put(b"height", u64(height), db=store.dbs["meta"])
    finally:
        store.close()


def test_setup_never_replaces_a_home_whose_validator_signed_or_that_holds_a_ledger(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    argv = _setup_argv(ceremony, tmp_path)
    assert main(argv) == 0, capsys.readouterr().err
    assert main([*argv, "--force"]) == 0, capsys.readouterr().err  # never started: replaced
    capsys.readouterr()
    state = home / "data" / "priv_validator_state.json"
    assert json.loads(state.read_text())["height"] == "0"

    state.write_text('{"height": "309", "round": 0, "step": 3}')
    _commit_ledger(home, 309)
    before = _files(home)
    for force in ([], ["--force"]):
        _fails(capsys, [*argv, *force], f"{home} holds a validator's signing state at height "
               "309 (data/priv_validator_state.json) and a ledger at height 309 (app/data.mdb)",
               "would let this validator sign twice", "move it aside and copy its "
               "data/priv_validator_state.json into the new home")
    assert _files(home) == before  # nothing erased, nothing written

    state.write_text('{"height": "12", "round": 1, "step": 2}')  # signed, ledger at 0
    shutil.rmtree(home / "app")
    _commit_ledger(home, 0)
    _fails(capsys, [*argv, "--force"], "signing state at height 12", "sign twice")
    state.write_text("{not json")
    _fails(capsys, [*argv, "--force"], "signing state that cannot be read", "sign twice")

    state.write_text('{"height": "0", "round": 0, "step": 0}')  # a ledger only
    _commit_ledger(home, 7)
    _fails(capsys, [*argv, "--force"], "holds a ledger at height 7 (app/data.mdb)",
           "throw that chain data away")
    shutil.rmtree(home / "app")
    (home / "data" / "blockstore.db").mkdir()  # blocks, and no ledger to tell how many
    _fails(capsys, [*argv, "--force"], "a block store and no ledger beside it")
    assert (home / "data" / "blockstore.db").is_dir() and (home / "network.json").is_file()

    _commit_ledger(home, 0)  # started, but never committed nor signed a block: replaced
    assert main([*argv, "--force"]) == 0, capsys.readouterr().err
    assert not (home / "app").exists() and not (home / "data" / "blockstore.db").exists()


def test_setup_force_keeps_the_tls_files_it_is_given_from_the_old_home(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from consortium.network.tls import make_ca, make_cert

    make_ca(tmp_path / "ca")
    key, cert = make_cert(tmp_path / "ca", "node", ["10.0.0.5"], tmp_path / "tls")
    home = tmp_path / "home"
    argv = _setup_argv(ceremony, tmp_path, **{"--tls-cert": str(cert), "--tls-key": str(key)})
    assert main(argv) == 0, capsys.readouterr().err
    again = _setup_argv(ceremony, tmp_path, **{"--tls-cert": str(home / "tls" / "node.pem"),
                                               "--tls-key": str(home / "tls" / "node.key")})
    assert main([*again, "--force"]) == 0, capsys.readouterr().err
    assert (home / "tls" / "node.pem").read_bytes() == cert.read_bytes()
    assert (home / "tls" / "node.key").read_bytes() == key.read_bytes()
    assert _mode(home / "tls" / "node.key") == 0o600


def _listener(host: str, port: int = 0) -> socket.socket:
    s = socket.socket()
    s.bind((host, port))
    s.listen()
    return s


def test_setup_refuses_ports_in_use_where_the_node_listens(
    ceremony: Ceremony,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 127.0.0.2 stands for the host's own address (10.0.0.1): free on 127.0.0.1, in use there.
    with _listener("127.0.0.2") as busy:
        port = busy.getsockname()[1]
        _fails(capsys, _setup_argv(ceremony, tmp_path, **{
            "--api-host": "127.0.0.2", "--api-port": str(port)}),
            f"--api-port {port} is in use on 127.0.0.2")
        _fails(capsys, _setup_argv(ceremony, tmp_path, **{
            "--api-host": "0.0.0.0", "--api-port": str(port)}),
            f"--api-port {port} is in use on this host")
        _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--listen": f"127.0.0.2:{port}"}),
               f"--listen port {port} is in use on 127.0.0.2", "choose another port")
        _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--listen": f"0.0.0.0:{port}"}),
               f"--listen port {port} is in use on this host")
        assert not (tmp_path / "home").exists()
        # Without --api-port, the first port free on --api-host too.
        import consortium.network.ceremony as ceremony_module

        monkeypatch.setattr(ceremony_module, "DEFAULT_API_PORT", port)
        argv = _setup_argv(ceremony, tmp_path, **{"--api-host": "127.0.0.2"})
        assert main([*argv, "--json"]) == 0, capsys.readouterr().err
        assert json.loads(capsys.readouterr().out)["api_port"] not in (port, 0)
    with _listener("127.0.0.1") as busy:
        port = busy.getsockname()[1]
        _fails(capsys, _setup_argv(ceremony, tmp_path, **{
            "--listen": f"127.0.0.1:{port}", "--out": str(tmp_path / "other")}),
            f"--listen port {port} is in use on 127.0.0.1")
        assert not (tmp_path / "other").exists()
        # A port refused with --force leaves the home it would replace as it was.
        before = _files(tmp_path / "home")
        _fails(capsys, [*_setup_argv(ceremony, tmp_path, **{"--api-port": str(port)}),
                        "--force"], f"--api-port {port} is in use")
        assert _files(tmp_path / "home") == before


def _no_peers(argv: list[str], peers: str = "") -> list[str]:
    """argv with `--peers PEERS` (`--peers ""` by default, as a shell passes it)."""
    at = argv.index("--peers")
    return [*argv[:at + 1], peers, *argv[at + 2:]]


def test_setup_checks_every_peer_against_the_genesis(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = {n: MemberCard.load(ceremony.keys[n] / CARD_FILE) for n in NAMES}
    b = cards["Bank B"]
    typo = ("0" if b.node_id[5] != "0" else "1").join((b.node_id[:5], b.node_id[6:]))
    peers = [cards["Bank A"].peer, f"{typo}@{b.p2p_address}", cards["Bank C"].peer]
    _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--peers": ",".join(peers)}),
           f"--peers {typo}@{b.p2p_address}: no member of", f"has node id {typo}",
           f"did you mean {b.node_id} (Bank B's node)?")
    stranger = "ab" * 20
    _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--peers": f"{stranger}@10.0.0.9:26656"}),
           f"has node id {stranger}", "copy the entries of peers.txt")
    for nobody in ("", cards["Bank A"].peer):  # none at all, or only itself
        _fails(capsys, _no_peers(_setup_argv(ceremony, tmp_path), nobody),
               "--peers names no other node of the genesis (Bank B, Bank C, Bank D)",
               "may never reach consensus", '--peers "$(paste -sd, peers.txt)"')
    assert not (tmp_path / "home").exists()
    # One other node is enough; a genesis of this node alone needs none.
    assert main(_setup_argv(ceremony, tmp_path, **{"--peers": cards["Bank D"].peer})) == 0
    solo = write_genesis(tmp_path / "solo", [ceremony.keys["Bank A"] / CARD_FILE],
                         chain_id="solo-1")
    argv = _setup_argv(ceremony, tmp_path, **{
        "--genesis": solo.genesis, "--genesis-hash": solo.genesis_sha256,
        "--consortium-key-envelope": solo.envelopes["Bank A"],
        "--out": str(tmp_path / "solo-home")})
    assert main(_no_peers(argv)) == 0, capsys.readouterr().err


def test_setup_refuses_a_home_inside_the_keys_folder(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(ceremony.keys["Bank A"], keys)
    before = _files(keys)
    for inside in (keys / "node", keys / "a" / "b"):
        _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--keys": str(keys),
                                                          "--out": str(inside)}),
               "--out must not be, hold or be inside the --keys folder")
    assert _files(keys) == before and sorted(p.name for p in keys.iterdir()) == sorted(
        p.name for p in ceremony.keys["Bank A"].iterdir())


def test_setup_never_replaces_a_network_folder_whose_node_signed(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bank-e"  # `join` (like `init`) keeps the node home under nodes/
    join_network(folder, genesis_file=ceremony.coordinator / "genesis.json",
                 peer=MemberCard.load(ceremony.keys["Bank A"] / CARD_FILE).peer,
                 name="Bank E", password="")
    state = folder / "nodes" / "bank-e" / "data" / "priv_validator_state.json"
    state.write_text('{"height": "5", "round": 0, "step": 3}')
    before = _files(folder)
    _fails(capsys, [*_setup_argv(ceremony, tmp_path, **{"--out": str(folder)}), "--force"],
           f"{folder / 'nodes' / 'bank-e'} holds a validator's signing state at height 5",
           "sign twice")
    assert _files(folder) == before


def test_setup_force_never_replaces_a_folder_it_did_not_make(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --out (someone's documents, a project) is not a node home: --force
    replaces only a folder with network.json, and leaves this one as it was."""
    folder = tmp_path / "documents"
    (folder / "reports").mkdir(parents=True)
    (folder / "reports" / "q3.txt").write_text("quarterly figures")
    before = _files(folder)
    _fails(capsys, [*_setup_argv(ceremony, tmp_path, **{"--out": str(folder)}), "--force"],
           f"{folder} is not a network folder or node home (it has no network.json)",
           "it is not replaced, even with --force")
    assert _files(folder) == before


def test_setup_takes_a_peer_once_and_refuses_two_addresses_for_one_node(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = (ceremony.coordinator / "peers.txt").read_text().split()
    other = next(e for e in entries if not e.startswith(_card(ceremony, "Bank A")["node_id"]))
    node_id = other.split("@")[0]
    moved = f"{node_id}@127.0.0.1:1"
    _fails(capsys, _setup_argv(ceremony, tmp_path, **{"--peers": ",".join([*entries, moved])}),
           f"--peers gives node {node_id} twice", "127.0.0.1:1")
    assert not (tmp_path / "home").exists()
    assert main(_setup_argv(ceremony, tmp_path, **{"--peers": ",".join([*entries, other]),
                                                   "--json": ""})) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["peers"].count(other) == 1


def test_setup_warns_when_the_api_host_is_not_this_hosts(
    ceremony: Ceremony, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A floating address may come later, so it is said, not refused."""
    assert main(_setup_argv(ceremony, tmp_path, **{"--api-host": "192.0.2.7"})) == 0
    err = capsys.readouterr().err
    assert "--api-host: 192.0.2.7 is not an address of this host now" in err
    assert (tmp_path / "home" / "network.json").is_file()
