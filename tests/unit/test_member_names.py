"""Member names as files and nodes spell them (`slug`), and the cards that carry them: names
in any script name distinct files and ASCII nodes (CometBFT's monikers are ASCII only); two
cards are refused only when they are one member, and then plainly; a card from a Windows
editor (UTF-8 with a byte-order mark) loads; a card without a field says which."""

from __future__ import annotations

import base64
import json
import os
import re
import tomllib
from pathlib import Path

import coincurve
import pytest
from eth_account import Account

from consortium.errors import ConfigError
from consortium.network.cards import CARD_FILE, MemberCard, keygen
from consortium.network.ceremony import (
    envelope_file_name,
    read_cards,
    setup_node,
    write_genesis,
)
from consortium.network.init import init_network, slug
from consortium.network.join import join_network
from consortium.network.layout import Network
from tests.support.governance_testkit import governed_state

PASSWORD = "correct horse"
PEER = "ab" * 20 + "@127.0.0.1:26656"


def _old_slug(name: str) -> str:
    """slug as it was before names in other scripts: what existing networks' files are named."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "member"


def test_slug_spells_every_name_in_ascii_and_keeps_different_names_apart() -> None:
    for name in ("Bank A", "Credit-Agricole ", "ACME & Co. (Zurich)", "x", "!!", "B2B_Bank"):
        assert slug(name) == _old_slug(name), name  # ASCII names: the files they always had
    assert slug("Société Générale") == "societe-generale"
    assert slug("Straße Bank") == "strasse-bank" and slug("Nordea Ø") == "nordea-o"
    assert slug("Hudson’s Bay") == "hudson-s-bay"  # non-ASCII punctuation parts words
    chinese = ("工商银行", "建设银行", "银行", "中国银行", "Bank of China 中国银行", "Сбербанк")
    slugs = [slug(n) for n in chinese]
    assert len(set(slugs)) == len(chinese), slugs
    assert re.fullmatch(r"member-[0-9a-f]{8}", slug("工商银行"))
    assert re.fullmatch(r"bank-of-china-[0-9a-f]{8}", slug("Bank of China 中国银行"))
    assert slug("工商银行") == slug("工商银行")  # stable: the same name, the same files
    assert slug("Сбербанк") == slug("СБЕРБАНК")  # as ASCII names, case does not count
    for name in (*chinese, "Société Générale", "🏦", "  "):
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug(name)), name  # a valid moniker


# --- cards ---------------------------------------------------------------------------------


def _card(name: str, port: int) -> MemberCard:
    """A well-formed card with fresh keys (no CometBFT needed)."""
    return MemberCard(
        name=name,
        node_id=os.urandom(20).hex(),
        validator_pub_key=base64.b64encode(os.urandom(32)).decode(),
        account=Account.create().address.lower(),
        encryption_pub_key=coincurve.PrivateKey().public_key.format(compressed=True).hex(),
        p2p_address=f"10.0.0.1:{port}",
    )


def _files(tmp_path: Path, *cards: MemberCard) -> list[Path]:
    paths = []
    for i, card in enumerate(cards):
        paths.append(tmp_path / f"card{i}.json")
        card.save(paths[-1])
    return paths


def test_cards_of_names_in_other_scripts_are_different_members(tmp_path: Path) -> None:
    names = ("工商银行", "建设银行", "银行", "中国银行")
    files = _files(tmp_path, *(_card(n, 26656 + i) for i, n in enumerate(names)))
    assert [c.name for c in read_cards(files)] == list(names)


def test_cards_of_one_member_are_refused_plainly(tmp_path: Path) -> None:
    a, b = _card("Bank A", 1), _card("Société Générale", 2)
    (card_a, card_b) = _files(tmp_path, a, b)
    with pytest.raises(ConfigError) as given_twice:
        read_cards([card_a, card_b, card_a])
    assert str(given_twice.value) == (
        f"card {card_a} is given twice: give each member's card once")
    copy = tmp_path / "copy" / CARD_FILE
    copy.parent.mkdir()
    copy.write_bytes(card_a.read_bytes())
    with pytest.raises(ConfigError, match=f"cards {card_a} and {copy} are the same card "
                       r"\(Bank A's\)"):
        read_cards([card_a, copy])
    (tmp_path / "alike").mkdir()
    (alike,) = _files(tmp_path / "alike", _card("Societe Generale", 3))
    with pytest.raises(ConfigError, match="differ only in accents, punctuation or case "
                       r"\('Société Générale' and 'Societe Generale'"):
        read_cards([card_b, alike])


def test_a_card_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    card = _card("工商银行", 26656)
    path = tmp_path / CARD_FILE
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(card.to_json(), ensure_ascii=False,
                                                   indent=2).encode())
    assert MemberCard.load(path) == card


@pytest.mark.parametrize("field", ["name", "account", "node_id", "p2p_address", "version"])
def test_a_card_without_a_field_names_it(tmp_path: Path, field: str) -> None:
    data = _card("Bank A", 26656).to_json()
    del data[field]
    path = tmp_path / CARD_FILE
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as refused:
        MemberCard.load(path)
    assert str(refused.value) == f"card {path} has no {field}"


# --- what the names name -------------------------------------------------------------------


def test_a_genesis_and_node_homes_from_cards_named_in_chinese(tmp_path: Path) -> None:
    names = ("工商银行", "建设银行")
    keys = {}
    for i, name in enumerate(names):
        keys[name] = tmp_path / f"host{i}" / "keys"
        keygen(keys[name], name=name, p2p_address=f"127.0.0.1:{41000 + i}", password=PASSWORD)
    result = write_genesis(tmp_path / "out", [keys[n] / CARD_FILE for n in names],
                           chain_id="pilot-cn")
    genesis = json.loads(Path(result.genesis).read_text())
    assert [m["name"] for m in genesis["app_state"]["members"]] == list(names)
    envelopes = [Path(result.envelopes[n]).name for n in names]
    assert envelopes == [envelope_file_name(n) for n in names]
    assert len(set(envelopes)) == 2 and all(e.isascii() for e in envelopes)
    monikers = []
    for i, name in enumerate(names):
        home = tmp_path / f"host{i}" / "home"
        setup_node(home, genesis_file=Path(result.genesis), announced_hash=result.genesis_sha256,
                   keys_dir=keys[name], envelope_file=Path(result.envelopes[name]),
                   password=PASSWORD, listen=f"127.0.0.1:{41000 + i}", peers=result.peers)
        (node,) = Network.load(home).nodes
        config = tomllib.loads((home / "config" / "config.toml").read_text())
        assert node.member == name and config["moniker"] == node.name == slug(name)
        assert (home / "keystores" / f"{slug(name)}.json").is_file()
        monikers.append(config["moniker"])
    assert len(set(monikers)) == 2 and all(m.isascii() for m in monikers)


def test_a_local_network_of_members_named_in_chinese(tmp_path: Path) -> None:
    network = init_network(tmp_path / "net", validators=2, members=["工商银行", "建设银行"])
    keystores = [m.keystore for m in network.members]
    assert keystores == [f"keystores/{slug('工商银行')}.json", f"keystores/{slug('建设银行')}.json"]
    assert len(set(keystores)) == 2
    with pytest.raises(ConfigError, match="differ only in accents, punctuation or case "
                       r"\('Société Générale' and 'Societe Generale'"):
        init_network(tmp_path / "net2", validators=2,
                     members=["Société Générale", "Societe Generale"])
    assert not (tmp_path / "net2").exists()


def test_members_joining_with_chinese_names_get_ascii_nodes_of_their_own(
    tmp_path: Path,
) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps({"chain_id": "consortium-test", "validators": [],
                                   "app_state": governed_state().to_json()}))
    nodes = []
    for name in ("工商银行", "建设银行"):
        result = join_network(tmp_path / name, genesis_file=genesis, peer=PEER, name=name)
        (node,) = Network.load(Path(result.root)).nodes
        config = tomllib.loads((Path(result.home) / "config" / "config.toml").read_text())
        assert config["moniker"] == node.name == slug(name) and node.name.isascii()
        assert MemberCard.load(Path(result.card_file)).name == name
        nodes.append(node.name)
    assert nodes[0] != nodes[1]
