"""Faults a running node meets, from an operations test (findings 1-5 and 11): the pending
nonce right after a restart, an engine that logs a consensus failure but keeps running, a
validator home without its key, SIGHUP, a truncated ledger file and CometBFT's leftover temp
files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lmdb
import psutil
import pytest
from eth_hash.auto import keccak
from starlette.testclient import TestClient

from consortium.api.app import create_app
from consortium.api.tx_journal import JournalEntry, TxJournal
from consortium.errors import ConfigError
from consortium.ledger.lmdb_file import lmdb_damage
from consortium.ledger.transactions import decode_transaction
from consortium.network.engine import EngineOutput, consensus_failure
from consortium.network.node import (
    _child_setup,
    check_ledger_files,
    check_validator_key,
    describe_exit,
    remove_engine_temp_files,
)
from tests.support.jsonrpc_testkit import StubEngine
from tests.support.ledger_testkit import ALICE, BOB, new_ledger, sign


def wait_for(what: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# --- 1. the pending nonce counts the journal from the first request after a restart ----------


class _Api:
    def __init__(self, client: TestClient, stub: StubEngine) -> None:
        self.client, self.stub, self._ids = client, stub, 0

    def call(self, method: str, *params: Any) -> dict[str, Any]:
        self._ids += 1
        answer: dict[str, Any] = self.client.post("/", json={
            "jsonrpc": "2.0", "id": self._ids, "method": method, "params": list(params)}).json()
        return answer


@pytest.fixture
def restarted(tmp_path: Path) -> Iterator[tuple[_Api, list[bytes]]]:
    """An API started over a journal that holds ALICE's nonces 0-4 (accepted before a
    restart, lost with the engine's mempool), its engine still catching up: the journal is
    not resubmitted yet."""
    ledger = new_ledger(tmp_path / "ledger")
    stub = StubEngine(ledger)
    stub.catching_up = True  # the replay waits for the engine to catch up
    raws = [sign(ALICE, nonce=i, to=BOB.address, value=1, gas=21_000) for i in range(5)]
    journal = TxJournal(tmp_path / "tx-journal")
    for raw in raws:
        stx = decode_transaction(raw, ledger.eth_chain_id)
        journal.update(add=[JournalEntry(stx.hash, raw, stx.sender, stx.nonce, time.time())])
    journal.close()
    app = create_app(ledger, stub.url, node_name="restarted", journal=tmp_path / "tx-journal")
    try:
        with TestClient(app) as client:
            yield _Api(client, stub), raws
    finally:
        stub.close()
        ledger.close()


def test_pending_nonce_counts_the_journal_before_it_is_replayed(
        restarted: tuple[_Api, list[bytes]]) -> None:
    api, raws = restarted
    assert api.stub.mempool == []  # nothing resubmitted yet
    assert api.call("eth_getTransactionCount", ALICE.address, "pending")["result"] == "0x5"
    assert api.call("eth_getTransactionCount", ALICE.address, "latest")["result"] == "0x0"
    account = api.client.get(f"/api/v1/accounts/{ALICE.address}").json()  # REST says the same
    assert (account["nonce"], account["pending_nonce"]) == (0, 5)
    # a client that took its nonce from elsewhere and reuses a journalled one is refused,
    # not accepted in place of the transaction the node already answered for
    reuse = sign(ALICE, nonce=2, to=BOB.address, value=99, gas=21_000)
    err = api.call("eth_sendRawTransaction", "0x" + reuse.hex())["error"]
    assert err["code"] == -32000 and err["message"].startswith("nonce too low")
    assert "0x" + keccak(raws[2]).hex() in err["message"]
    # the next nonce is accepted (held until the journal's go first)
    following = sign(ALICE, nonce=5, to=BOB.address, value=1, gas=21_000)
    answer = api.call("eth_sendRawTransaction", "0x" + following.hex())
    assert answer["result"] == "0x" + keccak(following).hex(), answer
    assert api.call("eth_getTransactionCount", ALICE.address, "pending")["result"] == "0x6"
    assert api.client.get(f"/api/v1/accounts/{ALICE.address}").json()["pending_nonce"] == 6
    api.stub.catching_up = False  # the replay runs: every accepted one reaches the mempool
    wait_for(lambda: len(api.stub.mempool) == 6)
    assert api.stub.mempool == [*raws, following]
    assert api.call("eth_getTransactionCount", ALICE.address, "pending")["result"] == "0x6"
    api.stub.commit_block()
    status = api.call("consortium_getTransactionStatus", "0x" + keccak(raws[2]).hex())
    assert status["result"]["status"] == "committed"


# --- 2. a consensus failure in the engine's output ---------------------------------------------

FAILURE_LINE = (b'E[2026-12-06|20:38:27.569] CONSENSUS FAILURE!!!                         '
                b'module=consensus err="failed to save block: write data/blockstore.db/000012'
                b'.log: no space left on device" stack="goroutine 114 [running]:\\nruntime/'
                b'debug.Stack()\\n"\n')


def test_consensus_failure_reason_is_read_from_the_line() -> None:
    assert consensus_failure(FAILURE_LINE) == (
        "failed to save block: write data/blockstore.db/000012.log: no space left on device")
    assert consensus_failure(b'{"_msg":"CONSENSUS FAILURE!!!","err":"boom \\"x\\""}') == \
        'boom "x"'
    assert consensus_failure(b"I[2026-12-06|20:38:27.569] finalizing commit of block\n") is None
    assert consensus_failure(b"E[2026-12-06|20:38:27.569] C") is None  # cut short: no marker


def _pump(sink: int, chunks: list[bytes]) -> tuple[EngineOutput, list[str]]:
    """An EngineOutput fed `chunks` through a real pipe, until the pipe ends."""
    heard: list[str] = []
    read_end, write_end = os.pipe()
    output = EngineOutput(read_end, sink, heard.append)
    output.start()
    for chunk in chunks:
        os.write(write_end, chunk)
        time.sleep(0.01)
    os.close(write_end)
    output.join(10)
    return output, heard


def test_engine_output_is_passed_on_and_a_consensus_failure_reported_once(
        tmp_path: Path) -> None:
    lines = [b"I[2026-12-06|20:38:27.100] committed state module=state height=7\n",
             FAILURE_LINE, b"E[2026-12-06|20:38:27.600] CONSENSUS FAILURE!!! err=again\n",
             b"no newline at the end"]
    data = b"".join(lines)
    with (tmp_path / "node.log").open("ab") as log:
        # split mid-line: a line is checked whole, and passed on whole
        output, heard = _pump(log.fileno(), [data[:50], data[50:130], data[130:]])
    assert (tmp_path / "node.log").read_bytes() == data
    assert heard == ["failed to save block: write data/blockstore.db/000012.log: no space "
                     "left on device"]
    assert output.failure == heard[0]


def test_a_full_disk_loses_log_lines_not_the_failure() -> None:
    """node.log on a full disk (as /dev/full): the engine's lines are dropped, its pipe never
    blocks it, and the failure is still seen."""
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        output, heard = _pump(fd, [b"x" * 100_000 + b"\n", FAILURE_LINE])
    finally:
        os.close(fd)
    assert len(heard) == 1 and "no space left on device" in heard[0]
    assert output.lost == 100_001 + len(FAILURE_LINE)


# --- 3. a validator home without its key ---------------------------------------------------------


def _home(root: Path, *, key: bool, state_height: int | None) -> Path:
    home = root / "nodes" / "node3"
    (home / "config").mkdir(parents=True)
    (home / "data").mkdir()
    (home / "config" / "config.toml").write_text('proxy_app = "unix:///x"\n')
    if key:
        (home / "config" / "priv_validator_key.json").write_text("{}")
    if state_height is not None:
        (home / "data" / "priv_validator_state.json").write_text(
            json.dumps({"height": str(state_height), "round": 0, "step": 0}))
    return home


def _network_json(folder: Path, home: str, validator: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "network.json").write_text(json.dumps({
        "chain_id": "c", "eth_chain_id": 1, "nodes": [{
            "name": "node3", "member": "Bank D", "home": home, "node_id": "ab",
            "validator_pub_key": "x", "p2p_port": 1, "rpc_port": 2, "api_port": 3,
            "validator": validator}], "members": []}))


def test_a_validator_that_signed_is_refused_without_its_key(tmp_path: Path) -> None:
    home = _home(tmp_path, key=False, state_height=1520)
    with pytest.raises(ConfigError, match=r"validator key .*config/priv_validator_key\.json is "
                       r"missing, and node3 is a validator \(its signing state .* signed at "
                       r"height 1520\).*Restore the key from a backup"):
        check_validator_key(home, "node3")


def test_a_listed_validator_is_refused_without_its_key(tmp_path: Path) -> None:
    home = _home(tmp_path, key=False, state_height=0)  # never signed yet
    _network_json(tmp_path, "nodes/node3", validator=True)  # a local network folder
    with pytest.raises(ConfigError, match=r"network\.json lists it as a validator"):
        check_validator_key(home, "node3")
    _network_json(tmp_path, "nodes/node3", validator=False)
    check_validator_key(home, "node3")  # a full node: a new key harms nothing
    own = _home(tmp_path / "setup", key=False, state_height=0)  # a `node setup` home
    _network_json(own, ".", validator=True)
    with pytest.raises(ConfigError, match="lists it as a validator"):
        check_validator_key(own, "node3")


def test_homes_with_their_key_or_fresh_from_restore_start(tmp_path: Path) -> None:
    _network_json(tmp_path / "a", "nodes/node3", validator=True)
    check_validator_key(_home(tmp_path / "a", key=True, state_height=99), "node3")
    # `consortium restore` without --as-validator leaves out the key and its signing state:
    # CometBFT makes both, the node runs as a full node (network.json still says validator)
    _network_json(tmp_path / "b", "nodes/node3", validator=True)
    check_validator_key(_home(tmp_path / "b", key=False, state_height=None), "node3")


# --- 4. SIGHUP ------------------------------------------------------------------------------------


def test_the_engine_child_starts_with_sighup_ignored() -> None:
    proc = subprocess.Popen(["sleep", "30"], preexec_fn=_child_setup)
    try:
        wait_for(lambda: "SigIgn" in Path(f"/proc/{proc.pid}/status").read_text()
                 and "sleep" in Path(f"/proc/{proc.pid}/comm").read_text())
        status = Path(f"/proc/{proc.pid}/status").read_text()
        ignored = int(next(line for line in status.splitlines()
                           if line.startswith("SigIgn:")).split()[1], 16)
        assert ignored >> (signal.SIGHUP - 1) & 1
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


# --- 5. a truncated ledger, and exit codes of signals ---------------------------------------------


def _lmdb(path: Path, entries: int = 3000) -> Path:
    env = lmdb.open(str(path), map_size=1 << 28)
    with env.begin(write=True) as txn:
        for i in range(entries):
            txn.put(i.to_bytes(4, "big"), bytes(200))
    env.close()
    return path / "data.mdb"


def test_lmdb_damage_finds_a_truncated_file(tmp_path: Path) -> None:
    data = _lmdb(tmp_path / "db")
    assert lmdb_damage(data) is None
    assert lmdb_damage(tmp_path / "none" / "data.mdb") is None  # LMDB makes it
    size = data.stat().st_size
    os.truncate(data, size - 4096)
    assert lmdb_damage(data) == (f"is truncated: {size - 4096} bytes, its last page ends at "
                                 f"byte {size}")
    os.truncate(data, 100)
    assert "not an LMDB file" in (lmdb_damage(data) or "")


def test_a_truncated_ledger_or_journal_is_refused_in_one_line(tmp_path: Path) -> None:
    app = tmp_path / "app"
    cfg: Any = SimpleNamespace(app_dir=app)
    ledger = _lmdb(app)
    journal = _lmdb(app / "tx-journal", 10)
    check_ledger_files(cfg)
    os.truncate(ledger, ledger.stat().st_size // 2)
    with pytest.raises(ConfigError) as err:
        check_ledger_files(cfg)
    message = str(err.value)
    assert "\n" not in message and str(ledger) in message and "is truncated" in message
    assert "consortium restore" in message and f"remove {app}" in message
    _lmdb(tmp_path / "fresh")
    shutil.copy(tmp_path / "fresh" / "data.mdb", ledger)
    os.truncate(journal, 4096)
    with pytest.raises(ConfigError, match=r"transaction journal .* is damaged.*move .* aside"):
        check_ledger_files(cfg)


def test_an_exit_by_signal_is_named() -> None:
    assert describe_exit(-7) == "code -7 (SIGBUS)"
    assert describe_exit(-9) == "code -9 (SIGKILL)"
    assert describe_exit(2) == "code 2"
    assert describe_exit(-200) == "code -200 (signal 200)"


# --- 11. CometBFT's leftover temp files -----------------------------------------------------------


def test_leftover_write_file_atomic_files_are_removed(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    stale = [config / f"write-file-atomic-{n}" for n in ("326959095532624891", "1")]
    kept = [config / "write-file-atomic-notes", config / "addrbook.json",
            tmp_path / "write-file-atomic-5"]  # not in config/
    for path in (*stale, *kept):
        path.write_text("{}")
    assert sorted(remove_engine_temp_files(tmp_path)) == sorted(p.name for p in stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


def test_temp_files_stay_while_an_engine_runs_on_the_home(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    stale = tmp_path / "config" / "write-file-atomic-42"
    stale.write_text("{}")
    # a process that looks like an engine of this home ("cometbft start --home HOME")
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "start",
                             "--home", str(tmp_path)])
    try:
        wait_for(lambda: str(tmp_path) in " ".join(psutil.Process(fake.pid).cmdline()))
        assert remove_engine_temp_files(tmp_path) == [] and stale.exists()
    finally:
        fake.kill()
        fake.wait()
    assert remove_engine_temp_files(tmp_path) == ["write-file-atomic-42"]
