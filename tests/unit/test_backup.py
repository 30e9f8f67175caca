"""Backup archives without a network: manifest, verification, refusals, keys and signing
state on restore, and the copy of a goleveldb folder (tests/integration/test_backup_restore.py
restores a running node)."""

from __future__ import annotations

import json
import socket
import tarfile
from dataclasses import dataclass
from pathlib import Path

import lmdb
import pytest
import tomlkit

from consortium.cli.main import main
from consortium.network.backup import backup_node, copy_leveldb
from consortium.network.backup_archive import (
    BackupError,
    read_archive,
    read_manifest,
    write_archive,
)
from consortium.network.leveldb_manifest import live_tables
from consortium.network.node_config import NodeConfig
from consortium.network.restore import check_archive, restore_node

CHAIN = "backup-test"


def _free_ports(n: int) -> list[int]:
    """`n` distinct ports free on loopback now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _home(tmp_path: Path, height: int = 7) -> Path:
    """A stopped node home: a ledger at `height`, CometBFT folders, configs and keys."""
    home = tmp_path / "node0"
    (home / "config").mkdir(parents=True)
    NodeConfig(home=home, name="node0", member="Bank A").save()
    (home / "config" / "genesis.json").write_text(json.dumps({"chain_id": CHAIN}))
    (home / "config" / "config.toml").write_text(
        f'proxy_app = "unix://{home}/abci.sock"\n[rpc]\nladdr = "tcp://127.0.0.1:1"\n'
        '[p2p]\nladdr = "tcp://127.0.0.1:2"\n[consensus]\n')
    (home / "config" / "node_key.json").write_text('{"priv_key": "node"}')
    (home / "config" / "priv_validator_key.json").write_text('{"priv_key": "validator"}')
    (home / "consortium.key").write_text("shared secret")
    _state(home / "data" / "priv_validator_state.json", 40, 0, 3)
    _databases(home, height)
    return home


def _databases(home: Path, height: int) -> None:
    """What a node that ran has in its home: a ledger at `height` and CometBFT's folders."""
    env = lmdb.open(str(home / "app"), max_dbs=4)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"height", height.to_bytes(8, "big"), db=meta)
        txn.put(b"app_hash", b"\xab" * 32, db=meta)
        txn.put(b"payload", b"x" * 100_000, db=meta)
    env.close()
    for db in ("blockstore.db", "state.db"):
        folder = home / "data" / db
        folder.mkdir(parents=True)
        (folder / "CURRENT").write_text("MANIFEST-000002\n")
        (folder / "MANIFEST-000002").write_bytes(_journal(_edit({1: 6000})))
        (folder / "000001.ldb").write_bytes(b"table " * 1000)
        (folder / "000003.log").write_bytes(b"journal")
        (folder / "LOCK").write_bytes(b"")
        (folder / "LOG").write_text("text log")


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _edit(added: dict[int, int], deleted: tuple[int, ...] = ()) -> bytes:
    """A goleveldb version edit: the comparer, tables deleted and added at level 0."""
    name = b"leveldb.BytewiseComparator"
    body = _uvarint(1) + _uvarint(len(name)) + name + _uvarint(2) + _uvarint(3)
    for number in deleted:
        body += _uvarint(6) + _uvarint(0) + _uvarint(number)
    for number, size in added.items():
        body += (_uvarint(7) + _uvarint(0) + _uvarint(number) + _uvarint(size)
                 + _uvarint(3) + b"abc" + _uvarint(3) + b"xyz")
    return body


def _journal(*records: bytes, chunk: int = 32 * 1024) -> bytes:
    """goleveldb's journal framing: 32 KiB blocks, a record split into first/middle/last
    chunks where it crosses a block (the CRC is not checked by the reader under test)."""
    out = bytearray()
    for record in records:
        rest, first = record, True
        while True:
            room = chunk - len(out) % chunk
            if room < 7:
                out += bytes(room)
                continue
            part, rest = rest[: room - 7], rest[room - 7:]
            kind = (1 if first else 4) if not rest else (2 if first else 3)
            out += b"\0\0\0\0" + len(part).to_bytes(2, "little") + bytes([kind]) + part
            first = False
            if not rest:
                break
    return bytes(out)


def _state(path: Path, height: int, round_: int, step: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"height": str(height), "round": round_, "step": step}))


def _member_offset(archive: Path, name: str) -> int:
    with tarfile.open(archive) as tar:
        return tar.getmember(name).offset_data


def test_backup_writes_a_manifest_of_every_member_and_restores_them(tmp_path):
    home = _home(tmp_path)
    out = tmp_path / "node0.tar"
    manifest = backup_node(home, out)
    assert out.stat().st_mode & 0o077 == 0
    assert (manifest.chain_id, manifest.node, manifest.ledger_height) == (CHAIN, "node0", 7)
    assert manifest.ledger_app_hash == "ab" * 32
    assert manifest.engine_height is None  # taken offline: the engine's height is not read
    assert not manifest.includes_keys
    names = set(manifest.files)
    assert {"home/app/data.mdb", "home/data/blockstore.db/000001.ldb",
            "home/data/state.db/CURRENT", "home/config/genesis.json"} <= names
    # no keys without --include-keys, and no goleveldb lock or text log
    assert not names & {"home/config/node_key.json", "home/config/priv_validator_key.json",
                        "home/consortium.key", "home/data/blockstore.db/LOCK",
                        "home/data/blockstore.db/LOG"}
    assert read_manifest(out) == check_archive(out) == manifest

    new = tmp_path / "restored"
    done = restore_node(out, new)
    assert not done.validator
    env = lmdb.open(str(new / "app"), max_dbs=4, readonly=True)
    with env.begin(db=env.open_db(b"meta", create=False)) as txn:
        assert int.from_bytes(txn.get(b"height"), "big") == 7
        assert txn.get(b"payload") == b"x" * 100_000
    env.close()
    assert (new / "data" / "state.db" / "MANIFEST-000002").read_bytes() == (
        home / "data" / "state.db" / "MANIFEST-000002").read_bytes()
    assert not (new / "config" / "priv_validator_key.json").exists()  # CometBFT makes one
    assert not (new / "data" / "priv_validator_state.json").exists()
    missing = {m.file: m for m in done.missing}
    assert "new node id" in missing["config/node_key.json"].what
    assert set(missing) == {"config/node_key.json", "consortium.key"}  # the keys left out
    assert not done.warnings  # the home had no privacy key: nothing to lose
    assert (new / "app" / "data.mdb").stat().st_mode & 0o077 == 0
    # the engine is pointed at the new home's ABCI socket, not the backed-up home's
    config = tomlkit.parse((new / "config" / "config.toml").read_text())
    assert config["proxy_app"] == f"unix://{NodeConfig.load(new).abci_socket}"
    assert str(home) not in (new / "config" / "config.toml").read_text()
    assert config["rpc"]["laddr"] == "tcp://127.0.0.1:1"  # type: ignore[index]


def test_a_corrupt_or_truncated_archive_is_refused_and_nothing_is_left(tmp_path, capsys):
    home = _home(tmp_path)
    out = tmp_path / "node0.tar"
    backup_node(home, out)
    raw = bytearray(out.read_bytes())
    at = _member_offset(out, "home/app/data.mdb") + 5000
    raw[at] ^= 0xFF
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(raw))
    new = tmp_path / "new"
    assert main(["restore", str(bad), "--home", str(new)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is corrupt: home/app/data.mdb does not match its manifest entry" in err
    assert not new.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    short = tmp_path / "short.tar"
    short.write_bytes(out.read_bytes()[: len(raw) // 2])
    with pytest.raises(BackupError, match="damaged|is missing|does not match"):
        check_archive(short)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(BackupError, match="not a backup archive|not a consortium backup"):
        check_archive(junk)


def test_restore_refuses_a_non_empty_home_another_chain_and_a_missing_validator_key(tmp_path):
    home = _home(tmp_path)
    out = tmp_path / "node0.tar"
    backup_node(home, out)
    with pytest.raises(BackupError, match="already exists"):
        backup_node(home, out)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("")
    with pytest.raises(BackupError, match="is not empty"):
        restore_node(out, busy)
    with pytest.raises(BackupError, match="is a backup of chain 'backup-test', not 'other'"):
        restore_node(out, tmp_path / "a", chain_id="other")
    other = tmp_path / "other-home"
    (other / "config").mkdir(parents=True)
    (other / "config" / "genesis.json").write_text(json.dumps({"chain_id": "other"}))
    with pytest.raises(BackupError, match="belongs to chain 'other'"):
        restore_node(out, tmp_path / "b", keys_from=other)
    with pytest.raises(BackupError, match="needs the validator key"):
        restore_node(out, tmp_path / "c", as_validator=True)
    # a manifest whose chain is not its genesis's (hashes intact): refused as corrupt
    staging = tmp_path / "staging"
    manifest = read_archive(out, staging, lambda _: None)
    manifest.chain_id, manifest.files = "forged", {}
    forged = tmp_path / "forged.tar"
    write_archive(staging, manifest, forged, lambda _: None)
    with pytest.raises(BackupError, match="its genesis is of chain 'backup-test', its "
                                          "manifest says 'forged'"):
        restore_node(forged, tmp_path / "d")
    assert not any((tmp_path / n).exists() for n in ("a", "b", "c", "d"))


def test_a_validator_restore_keeps_the_newest_signing_state_or_checks_for_double_signs(
        tmp_path):
    home = _home(tmp_path)
    out = tmp_path / "keys.tar"
    assert backup_node(home, out, include_keys=True).includes_keys

    newest = tmp_path / "live_state.json"
    _state(newest, 45, 1, 2)
    new = tmp_path / "with-state"
    done = restore_node(out, new, as_validator=True, validator_state=newest)
    assert done.validator and not done.warnings
    state = json.loads((new / "data" / "priv_validator_state.json").read_text())
    assert (state["height"], state["round"], state["step"]) == ("45", 1, 2)
    assert (new / "config" / "priv_validator_key.json").read_text() == '{"priv_key": "validator"}'
    config = tomlkit.parse((new / "config" / "config.toml").read_text())
    assert "double_sign_check_height" not in config["consensus"]  # type: ignore[operator]

    older = tmp_path / "older_state.json"
    _state(older, 12, 0, 1)
    blind = tmp_path / "blind"
    done = restore_node(out, blind, as_validator=True)
    assert any("WARNING" in w and "never run both" in w for w in done.warnings)
    state = json.loads((blind / "data" / "priv_validator_state.json").read_text())
    assert state["height"] == "40"
    config = tomlkit.parse((blind / "config" / "config.toml").read_text())
    assert config["consensus"]["double_sign_check_height"] == 10  # type: ignore[index]
    kept = restore_node(out, tmp_path / "older", as_validator=True, validator_state=older)
    assert json.loads((kept.home / "data" / "priv_validator_state.json").read_text())[
        "height"] == "40"  # the archive's is newer than the one given

    keys = tmp_path / "vault"
    keys.mkdir()
    (keys / "node_key.json").write_text('{"priv_key": "vault node"}')
    plain = tmp_path / "plain.tar"
    backup_node(home, plain)
    restored = restore_node(plain, tmp_path / "from-vault", keys_from=keys)
    assert (restored.home / "config" / "node_key.json").read_text() == '{"priv_key": "vault node"}'
    assert [m.file for m in restored.missing] == ["consortium.key"]


def test_copy_leveldb_reuses_tables_and_drops_what_compaction_removed(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "CURRENT").write_text("MANIFEST-000005\n")
    m1 = _journal(_edit({1: 10}))
    (src / "MANIFEST-000005").write_bytes(m1)
    (src / "000001.ldb").write_bytes(b"a" * 10)
    (src / "000004.log").write_bytes(b"j1")
    copy_leveldb(src, dst)
    assert sorted(p.name for p in dst.iterdir()) == [
        "000001.ldb", "000004.log", "CURRENT", "MANIFEST-000005"]
    (dst / "000001.ldb").write_bytes(b"b" * 10)  # same size: kept, tables never change
    (src / "000001.ldb").unlink()  # a compaction replaced it
    (src / "000006.ldb").write_bytes(b"c" * 20)
    (src / "000004.log").write_bytes(b"j1j2")
    m2 = _journal(_edit({1: 10}), _edit({6: 20}, deleted=(1,)))
    (src / "MANIFEST-000005").write_bytes(m2 + b"\x12\x34")  # and a torn record
    copy_leveldb(src, dst)
    assert sorted(p.name for p in dst.iterdir()) == [
        "000004.log", "000006.ldb", "CURRENT", "MANIFEST-000005"]
    assert (dst / "000004.log").read_bytes() == b"j1j2"
    assert (dst / "MANIFEST-000005").read_bytes() == m2 + b"\x12\x34"

    (src / "MANIFEST-000005").write_bytes(_journal(_edit({6: 20, 7: 99})))  # 7 is not there
    with pytest.raises(BackupError, match="kept changing"):
        copy_leveldb(src, dst)
    (src / "MANIFEST-000005").write_bytes(b"\0\0\0\0\x03\0\x01\x3f\0\0")
    with pytest.raises(BackupError, match="unknown version-edit field 63"):
        copy_leveldb(src, dst)


def test_live_tables_follows_edits_across_blocks():
    big = {n: n * 1000 for n in range(10, 6000)}  # one edit over several 32 KiB blocks
    manifest = _journal(_edit(big), _edit({7000: 1}, deleted=tuple(range(10, 2000))))
    assert len(manifest) > 2 * 32 * 1024
    tables = live_tables(manifest)
    assert tables == {n: n * 1000 for n in range(2000, 6000)} | {7000: 1}
    assert live_tables(manifest[:-3]) == big  # the last edit torn: as goleveldb reads it


# --- a home made by `consortium node setup` (report B6) -------------------------------------

PASSWORD = "correct horse"
SECRETS = ["api-tokens.json", "config/node_key.json", "config/priv_validator_key.json",
           "consortium.key", "keystores/bank-c.json", "privacy_key.json", "tls/node.key"]


@dataclass
class Member:
    """Bank C's keys folder (keygen), its envelope from the genesis and its node home (node
    setup, with the API's TLS files), which has run: ledger, engine databases, a privacy
    key and API tokens."""

    keys: Path
    envelope: Path
    home: Path


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Member:
    from consortium.api.auth import TokenFile
    from consortium.network.cards import CARD_FILE, keygen
    from consortium.network.ceremony import setup_node, write_genesis
    from consortium.network.tls import make_ca, make_cert

    root = tmp_path_factory.mktemp("member")
    keys = root / "bank-c-keys"
    p2p, rpc, api = _free_ports(3)  # fixed ports may be someone's ephemeral ones
    keygen(keys, name="Bank C", p2p_address=f"127.0.0.1:{p2p}", password=PASSWORD)
    genesis = write_genesis(root / "coordinator", [keys / CARD_FILE], chain_id=CHAIN)
    make_ca(root / "ca")
    tls_key, tls_cert = make_cert(root / "ca", "node", ["127.0.0.1"], root / "api-tls")
    home = root / "bank-c-node"
    setup_node(home, genesis_file=Path(genesis.genesis), announced_hash=genesis.genesis_sha256,
               keys_dir=keys, envelope_file=Path(genesis.envelopes["Bank C"]),
               password=PASSWORD, listen=f"127.0.0.1:{p2p}", rpc_port=rpc, api_port=api,
               tls=(tls_cert, tls_key))
    _databases(home, 9)
    _state(home / "data" / "priv_validator_state.json", 9, 0, 3)
    (home / "privacy_key.json").write_text('{"privacy": "the node\'s own"}')
    TokenFile(home).create("ops", "admin")
    return Member(keys, Path(genesis.envelopes["Bank C"]), home)


def _bytes(home: Path, rel: str) -> bytes:
    return (home / rel).read_bytes()


def test_a_setup_home_round_trip_names_what_to_bring_back(
        member: Member, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c.tar"
    manifest = backup_node(member.home, out)
    names = {n.removeprefix("home/") for n in manifest.files}
    # public: the network folder's files and the API's certificate are archived ...
    assert {"network.json", "card.json", "tls/node.pem", "consortium.toml"} <= names
    # ... secrets are not, and the manifest says which the home had
    assert not names & set(SECRETS)
    assert manifest.left_out == SECRETS

    new = tmp_path / "restored"
    assert main(["restore", str(out), "--home", str(new)]) == 0
    said = capsys.readouterr()
    for rel in ("network.json", "card.json", "tls/node.pem"):
        assert _bytes(new, rel) == _bytes(member.home, rel)
    for rel in SECRETS:
        assert not (new / rel).exists()
    # the closing message names each missing file and how to bring it back
    for rel in ("tls/node.key", "config/node_key.json", "consortium.key", "privacy_key.json",
                "api-tokens.json", "keystores/bank-c.json"):
        assert f"  {rel}: " in said.out, said.out
    assert "does not start without it" in said.out  # the TLS key
    assert (f"consortium key open --dir {new} --envelope consortium-key.bank-c.enc --keys KEYS"
            in said.out)
    assert f"Then start it with `consortium up --dir {new}`" in said.out
    assert "WARNING: no privacy key (privacy_key.json)" in said.err
    assert "makes a NEW one" in said.err
    # the folder is a network folder again: down/status, and key open with the keys folder
    assert main(["down", "--dir", str(new)]) == 0
    capsys.readouterr()
    argv = ["key", "open", "--dir", str(new), "--envelope", str(member.envelope)]
    (tmp_path / "pw").write_text(PASSWORD)
    assert main([*argv, "--password-file", str(tmp_path / "pw")]) == 1
    assert "give --keys KEYS" in capsys.readouterr().err
    assert main([*argv, "--keys", str(member.keys), "--password-file",
                 str(tmp_path / "pw")]) == 0
    capsys.readouterr()
    assert _bytes(new, "consortium.key") == _bytes(member.home, "consortium.key")
    assert (new / "consortium.key").stat().st_mode & 0o077 == 0

    # --keys-from the old home brings back every secret, the privacy key included
    old = tmp_path / "from-old-home"
    done = restore_node(out, old, as_validator=True, keys_from=member.home,
                        validator_state=member.home / "data" / "priv_validator_state.json")
    assert done.missing == [] and done.warnings == []
    assert done.network_folder
    for rel in SECRETS:
        assert _bytes(old, rel) == _bytes(member.home, rel), rel
        assert (old / rel).stat().st_mode & 0o077 == 0

    # --keys-from the keys folder: the node key and the account keystore (its account.json)
    keys = restore_node(out, tmp_path / "from-keys", keys_from=member.keys)
    assert _bytes(keys.home, "keystores/bank-c.json") == _bytes(member.home,
                                                                "keystores/bank-c.json")
    assert _bytes(keys.home, "config/node_key.json") == _bytes(member.home,
                                                               "config/node_key.json")
    assert [m.file for m in keys.missing] == ["tls/node.key", "consortium.key",
                                              "privacy_key.json", "api-tokens.json"]


def test_with_keys_the_archive_holds_every_secret_of_a_setup_home(
        member: Member, tmp_path: Path) -> None:
    out = tmp_path / "keys.tar"
    manifest = backup_node(member.home, out, include_keys=True)
    assert manifest.left_out == []
    assert set(SECRETS) <= {n.removeprefix("home/") for n in manifest.files}
    done = restore_node(out, tmp_path / "new", as_validator=True,
                        validator_state=member.home / "data" / "priv_validator_state.json")
    assert done.missing == [] and done.warnings == []
    for rel in SECRETS:
        assert _bytes(done.home, rel) == _bytes(member.home, rel), rel


def test_an_older_archive_gets_the_folder_files_from_the_old_home(
        member: Member, tmp_path: Path) -> None:
    """An archive of an earlier version: no network.json, card.json or certificate, and no
    record of what it left out (so the privacy key is warned about whatever the home had)."""
    staging = tmp_path / "staging"
    manifest = read_archive(backup_node(member.home, tmp_path / "new.tar") and
                            tmp_path / "new.tar", staging, lambda _: None)
    for rel in ("network.json", "card.json", "tls/node.pem"):
        (staging / rel).unlink()
    manifest.left_out, manifest.files = None, {}
    older = tmp_path / "older.tar"
    write_archive(staging, manifest, older, lambda _: None)
    assert '"left_out": null' in read_manifest(older).to_json().decode()

    blind = restore_node(older, tmp_path / "blind")
    assert not blind.network_folder
    privacy = next(m for m in blind.missing if m.file == "privacy_key.json")
    assert "does not say whether the node had one" in privacy.what
    assert any("WARNING: no privacy key" in w for w in blind.warnings)

    done = restore_node(older, tmp_path / "with-old-home", keys_from=member.home)
    assert done.network_folder and done.missing == [] and done.warnings == []
    for rel in ("network.json", "card.json", "tls/node.pem", "privacy_key.json"):
        assert _bytes(done.home, rel) == _bytes(member.home, rel), rel
