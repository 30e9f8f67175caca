"""`consortium key seal` seals the consortium key only to a card the chain has admitted
(report B2): checked against the node the sealing home serves, through its own API — here
that node's real ledger (its genesis from a one-member key ceremony) served in-process by
the node's own app and HTTPS server, with bearer tokens as a member's node beyond loopback
has them. A card not admitted, one whose account or node id differs from the admitted
member's, and an unreachable, token-less or unverified API are each refused in one line,
with nothing written; the admitted member's card is sealed and its envelope opens with its
key."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from consortium.api.app import create_app
from consortium.api.auth import TokenCheck, TokenFile
from consortium.api.http_server import api_server
from consortium.apps.invoices.fingerprint import key_from_node_home
from consortium.cli.main import main
from consortium.errors import ConfigError
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.network.cards import (
    ACCOUNT_FILE,
    CARD_FILE,
    MemberCard,
    MemberKeys,
    keygen,
    new_encryption_key,
)
from consortium.network.ceremony import (
    genesis_hash,
    open_envelope,
    setup_node,
    write_genesis,
)
from consortium.network.join import join_network
from consortium.network.key_delivery import ChainMembers, check_admitted
from consortium.network.node_config import NodeConfig
from consortium.network.tls import make_ca, make_cert
from consortium.sdk.credentials import CA_ENV, TOKEN_ENV
from tests.support.governance_testkit import Gov
from tests.support.jsonrpc_testkit import StubEngine

pytestmark = pytest.mark.timeout(180)

PASSWORD = "correct horse"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sealer:
    """Bank A's node home (the one founding member: admin mode), its CA and a read token."""

    root: Path
    home: Path
    keys: Path
    ca: Path
    token: str


@pytest.fixture
def sealer(tmp_path_factory: pytest.TempPathFactory) -> Sealer:
    root = tmp_path_factory.mktemp("seal")
    keys = root / "bank-a-keys"
    p2p = f"127.0.0.1:{_free_port()}"  # a fixed port may be someone's ephemeral port
    keygen(keys, name="Bank A", p2p_address=p2p, password=PASSWORD)
    genesis = write_genesis(root / "coordinator", [keys / CARD_FILE], chain_id="seal-1")
    make_ca(root / "ca")
    tls_key, tls_cert = make_cert(root / "ca", "node", ["127.0.0.1"], root / "api-tls")
    home = root / "bank-a-node"
    setup_node(home, genesis_file=Path(genesis.genesis), announced_hash=genesis.genesis_sha256,
               keys_dir=keys, envelope_file=Path(genesis.envelopes["Bank A"]),
               password=PASSWORD, listen=p2p, rpc_port=_free_port(),
               api_port=_free_port(), tls=(tls_cert, tls_key))
    cfg = NodeConfig.load(home)  # tokens, as a node beyond loopback has them
    dataclasses.replace(cfg, api_access=dataclasses.replace(cfg.api_access, auth="token")).save()
    token = TokenFile(home).create("key-seal", "read")
    return Sealer(root, home, keys, root / "ca" / "ca.pem", token)


class Node:
    """The node of a home, in-process: its ledger (from its genesis) in HOME/app, and its
    API as `consortium node` builds it (tokens, TLS), on the home's host and port; a stub
    stands in for CometBFT, which these reads never reach."""

    def __init__(self, home: Path) -> None:
        cfg = NodeConfig.load(home)
        self.ledger = Ledger(cfg.app_dir)
        if not self.ledger.info()[1]:
            document = json.loads((home / "config" / "genesis.json").read_text())
            self.ledger.init_chain(AppState.from_json(document["app_state"]), 1)
        self.engine = StubEngine(self.ledger)
        access = cfg.api_access
        app = create_app(self.ledger, self.engine.url, node_name=cfg.name,
                         tokens=TokenCheck(home) if access.mode(cfg.api_host) == "token"
                         else None)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((cfg.api_host, cfg.api_port))
        self.server = api_server(
            app, cfg.api_host, cfg.api_port,
            tls_cert=str(home / access.tls_cert) if access.tls_cert else None,
            tls_key=str(home / access.tls_key) if access.tls_key else None)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the node's API did not start"
            time.sleep(0.05)

    def close(self) -> None:
        """Stop it; the CLI's client (web3) leaves its TLS connection open, which uvicorn
        would wait for, so after a short grace the server is told not to wait."""
        self.server.should_exit = True
        self.thread.join(1)
        self.server.force_exit = True
        self.thread.join(30)
        for resource in (self.sock, self.engine, self.ledger):
            resource.close()


@contextmanager
def serving(home: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Node]:
    """The node of `home` running; what its server logs while stopping is not the CLI's."""
    running = Node(home)
    try:
        yield running
    finally:
        running.close()
        capsys.readouterr()


def _card(folder: Path, name: str, *, account: str | None = None,
          node_id: str | None = None) -> tuple[Path, MemberCard, bytes]:
    """A newcomer's card (what `consortium join` writes) and its encryption secret."""
    secret, public = new_encryption_key()
    card = MemberCard(
        name=name, node_id=node_id or os.urandom(20).hex(),
        validator_pub_key=base64.b64encode(os.urandom(32)).decode(),
        account=account or Account.create().address.lower(), encryption_pub_key=public,
        p2p_address="127.0.0.1:40199")
    folder.mkdir(parents=True, exist_ok=True)
    card.save(folder / CARD_FILE)
    return folder / CARD_FILE, card, secret


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refused: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def _admit(home: Path, keys: Path, card: MemberCard) -> None:
    """Bank A (alone: admin mode, its proposal passes at once) admits the card's member on
    the home's ledger, by a signed transaction in a block, as the chain would."""
    bank_a = Account.from_key(Account.decrypt(
        json.loads((keys / ACCOUNT_FILE).read_text()), PASSWORD))
    ledger = Ledger(NodeConfig.load(home).app_dir)
    try:
        gov = Gov(ledger)
        proposal = gov.propose(bank_a, "admit-member", card.name, "ordinary", 1,
                               [bytes.fromhex(card.account[2:])],
                               [bytes.fromhex(card.node_id)])
        assert gov.status(proposal) == "executed"
    finally:
        ledger.close()


def test_only_a_card_admitted_on_chain_is_sealed(
    sealer: Sealer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = str(sealer.home)
    card_file, card, secret = _card(tmp_path / "bank-e", "Bank E")
    envelope = tmp_path / "for-bank-e.enc"
    argv = ["key", "seal", "--home", home, "--card", str(card_file), "--out", str(envelope)]
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(CA_ENV, raising=False)
    url = NodeConfig.load(sealer.home).api_url
    assert url.startswith("https://127.0.0.1:")

    # the node is down: no blind seal
    _refused(capsys, argv, "cannot be checked against the chain", url, "did not answer",
             f"start the node (`consortium up --dir {home}`)")
    assert not envelope.exists()

    with serving(sealer.home, capsys):
        # its API needs a token, and a CA that verifies its certificate
        monkeypatch.setenv(CA_ENV, str(sealer.ca))
        _refused(capsys, argv, "HTTP 401", f"consortium api-token create --home {home}",
                 "set CONSORTIUM_API_TOKEN")
        monkeypatch.setenv(TOKEN_ENV, sealer.token)
        monkeypatch.delenv(CA_ENV)
        err = _refused(capsys, argv, "certificate", "set CONSORTIUM_API_CA")
        assert err.count("set CONSORTIUM_API_CA") == 1
        monkeypatch.setenv(CA_ENV, str(sealer.ca))

        # a card the chain does not have: a rogue card, or a newcomer not admitted yet
        _refused(capsys, argv, "Bank E", "is not admitted yet", "no member of that name",
                 url, "consortium proposals")
        # a card that borrows an admitted member's account under another name
        bank_a = MemberCard.load(sealer.keys / CARD_FILE)
        borrowed, _, _ = _card(tmp_path / "borrowed", "Bank X", account=bank_a.account)
        _refused(capsys, ["key", "seal", "--home", home, "--card", str(borrowed)],
                 "names 'Bank X'", "is that of member 'Bank A' on chain")
        assert not envelope.exists()
        assert list((tmp_path / "borrowed").iterdir()) == [borrowed]

    _admit(sealer.home, sealer.keys, card)
    with serving(sealer.home, capsys):
        # Bank E is admitted now, but not with these cards' account or node
        other_account, _, _ = _card(tmp_path / "e2", "Bank E", node_id=card.node_id)
        _refused(capsys, ["key", "seal", "--home", home, "--card", str(other_account)],
                 "is not the card of the admitted Bank E", "account differs",
                 f"on chain: {card.account}")
        other_node, _, _ = _card(tmp_path / "e3", "Bank E", account=card.account)
        err = _refused(capsys, ["key", "seal", "--home", home, "--card", str(other_node)],
                       "node id differs", f"on chain: {card.node_id}")
        assert "account differs" not in err
        assert not list((tmp_path / "e2").glob("*.enc")) + list((tmp_path / "e3").glob("*.enc"))

        # the admitted member's own card: sealed, and it opens with its key for this chain
        assert main([*argv, "--json"]) == 0
        sealed = json.loads(capsys.readouterr().out)
        assert sealed["member"] == "Bank E" and sealed["checked_at"] == url
        assert sealed["checked_height"] >= 1
        genesis = (sealer.home / "config" / "genesis.json").read_bytes()
        key = open_envelope(envelope, MemberKeys(tmp_path, card, secret), chain_id="seal-1",
                            genesis_sha256=genesis_hash(genesis))
        assert key == key_from_node_home(sealer.home)
        assert key.hex() not in envelope.read_text()


def test_a_joiner_opens_the_key_sealed_to_it_once_admitted(
    sealer: Sealer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`consortium join` makes the card; once admitted, a member seals to it and the joiner
    opens the envelope into its node home (another member's envelope or a wrong password
    do not open; opening again changes nothing)."""
    monkeypatch.setenv(TOKEN_ENV, sealer.token)
    monkeypatch.setenv(CA_ENV, str(sealer.ca))
    (tmp_path / "pw").write_text("joiner's password")
    joined = join_network(
        tmp_path / "bank-e", genesis_file=sealer.home / "config" / "genesis.json",
        peer=MemberCard.load(sealer.keys / CARD_FILE).peer, name="Bank E",
        password="joiner's password")
    card = MemberCard.load(Path(joined.card_file))
    envelope = tmp_path / "for-bank-e.enc"
    seal = ["key", "seal", "--home", str(sealer.home), "--card", joined.card_file,
            "--out", str(envelope)]
    with serving(sealer.home, capsys):
        _refused(capsys, seal, "Bank E", "is not admitted yet")
    _admit(sealer.home, sealer.keys, card)
    with serving(sealer.home, capsys):
        assert main(seal) == 0
        assert "consortium key sealed" in capsys.readouterr().out
        assert main(seal) == 1  # an envelope is never overwritten
        assert "exists already" in capsys.readouterr().err

    bank_a_envelope = sealer.root / "coordinator" / "consortium-key.bank-a.enc"
    argv = ["key", "open", "--dir", str(tmp_path / "bank-e"), "--envelope"]
    assert main([*argv, str(bank_a_envelope), "--password-file", str(tmp_path / "pw")]) == 1
    assert "is the envelope of 'Bank A', not of 'Bank E'" in capsys.readouterr().err
    (tmp_path / "bad").write_text("wrong")
    assert main([*argv, str(envelope), "--password-file", str(tmp_path / "bad")]) == 1
    assert "wrong password" in capsys.readouterr().err
    assert main([*argv, str(envelope), "--password-file", str(tmp_path / "pw")]) == 0
    home = Path(joined.home)
    assert key_from_node_home(home) == key_from_node_home(sealer.home)
    assert (home / "consortium.key").stat().st_mode & 0o077 == 0
    assert main([*argv, str(envelope), "--password-file", str(tmp_path / "pw")]) == 0  # again


def test_a_member_not_active_is_refused() -> None:
    """A suspended or expelled member gets no key (its status read from the chain)."""
    _, public = new_encryption_key()
    card = MemberCard("Bank E", "ab" * 20, base64.b64encode(b"\1" * 32).decode(),
                      "0x" + "cd" * 20, public, "127.0.0.1:1")
    member = {"name": "Bank E", "status": "suspended", "accounts": ["0x" + "cd" * 20],
              "nodes": ["ab" * 20]}
    chain = ChainMembers("https://127.0.0.1:1", 9, [member])
    with pytest.raises(ConfigError, match="refused: Bank E is suspended on chain"):
        check_admitted(card, Path("card.json"), chain)
    # active, named as the card is but for case (the chain's names are case-insensitive)
    check_admitted(card, Path("card.json"), ChainMembers(
        chain.url, 9, [{**member, "status": "active", "name": "bank e"}]))
