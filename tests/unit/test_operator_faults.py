"""What an operator is told when a node fails or is misconfigured (the day-2 operations
test's findings 6-9 and 12):

- `consortium up` quotes the telling line of a failed start (CometBFT's `panic:`, its
  `ERROR:` with the detail line after it, a Go error naming a file), not the node's own
  "engine exited" consequence, and waits for a validator's switch to consensus (where the
  double-sign check may stop it) before calling it up;
- consortium.toml refuses unknown sections and keys, naming each with the nearest known one;
- `consortium status` says why a node is down (an upgrade, the double-sign check, an exit
  code), from the record `consortium node` leaves or the node's log;
- restore's closing message: `double_sign_check_height` back to 0, and `consortium up NODE
  --dir NET` for a node of a network folder;
- `roles "Bank D"`, `--trust-rpc` at a wrong port, an offline backup's message.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from consortium.cli.main import main
from consortium.errors import ConfigError, NetworkError
from consortium.network import supervisor
from consortium.network.backup_archive import Manifest
from consortium.network.layout import MemberEntry, Network, NodeEntry
from consortium.network.node_config import NodeConfig
from consortium.network.restore import Restored

STARTED = ("2026-12-06 20:45:49,640 INFO consortium.ledger: ledger opened at height 14 (engine "
           "revm, 17 trie nodes cached)\n"
           "2026-12-06 20:45:50,082 INFO consortium.node: node node0 (Bank A) started: engine "
           "pid 27169, execution on revm, API http://127.0.0.1:35545 (auth off)\n"
           "I[2026-12-06|20:45:50.100] Version info                                 "
           "module=main tendermint_version=0.38.25\n")
ENGINE_EXIT = ("2026-12-06 20:45:50,220 ERROR consortium.node: engine exited with code {code}; "
               "stopping node node0\n"
               "2026-12-06 20:45:50,427 INFO consortium.node: node node0 stopped\n")

# what CometBFT wrote to node.log in the operations test's failed starts (shortened)
DECODING = ('ERROR: 1 error(s) decoding:\n\n* error decoding \'consensus.timeout_commit\': '
            'time: invalid duration "fast"\n')
NO_STATE = ("open /srv/net/nodes/node0/data/priv_validator_state.json: no such file or "
            "directory\n")
APP_HASH = ("panic: state.AppHash does not match AppHash after replay. Got\n"
            "\t6EE174D87A798FD6C98EE5E60630432E41E3524141A48439572D06EA33083430, expected .\n"
            "\t\n"
            "\tState: {{{11 1} 0.38.25} consortium-local 1 0 :0:000000000000 ValidatorSet{\n"
            "\t  Proposer: Validator{A47C10BD VP:10 A:0}\n"
            "\t} 1 {{22020096 1000000000} {100000 48h0m0s 1048576} {[ed25519]} {0} {0}} 1 [] []}\n"
            "\t\n"
            "\tDid you reset CometBFT without resetting your application's data?\n"
            "\n"
            "goroutine 1 [running]:\n"
            "github.com/cometbft/cometbft/consensus.assertAppHashEqualsOneFromState({_, _, _})\n"
            "\t/root/go/pkg/mod/github.com/cometbft/cometbft@v0.38.25/consensus/replay.go:557\n")
DOUBLE_SIGN = ("E[2026-12-06|20:50:01.000] Stopping peer for error                  "
               "module=p2p err=EOF\n"
               "panic: Failed to start consensus state: found signature from the same key\n"
               "\t\n\tconS:\n\tConsensusState{H:80 R:0 S:RoundStepNewHeight}\n\t\n\tconR:\n"
               "\tConsensusReactor{...}\n\n"
               "goroutine 215 [running]:\n"
               "github.com/cometbft/cometbft/consensus.(*Reactor).SwitchToConsensus(...)\n")


def _log(home: Path, text: str) -> int:
    """Append `text` to home's node.log; returns where it began."""
    home.mkdir(parents=True, exist_ok=True)
    start = supervisor.log_size(home)
    with (home / "node.log").open("a") as f:
        f.write(text)
    return start


# --- 6: the telling line of a failed start ------------------------------------------------

@pytest.mark.parametrize(("engine_output", "code", "quoted"), [
    (DECODING, 1, 'ERROR: 1 error(s) decoding: * error decoding \'consensus.timeout_commit\': '
                  'time: invalid duration "fast"'),
    (NO_STATE, 1, NO_STATE.strip()),
    (APP_HASH, 2, "panic: state.AppHash does not match AppHash after replay. Got "
                  "6EE174D87A798FD6C98EE5E60630432E41E3524141A48439572D06EA33083430, expected . "
                  "Did you reset CometBFT without resetting your application's data?"),
])
def test_a_failed_start_quotes_the_engines_cause_not_the_nodes_consequence(
        tmp_path: Path, engine_output: str, code: int, quoted: str) -> None:
    _log(tmp_path, "2026-12-06 20:00:00,000 ERROR consortium.node: an earlier run's error\n")
    start = _log(tmp_path, STARTED + engine_output + ENGINE_EXIT.format(code=code))
    assert supervisor.last_log_line(tmp_path, since=start) == quoted


def test_the_double_sign_panic_is_quoted_with_what_to_do(tmp_path: Path) -> None:
    start = _log(tmp_path, STARTED + DOUBLE_SIGN + ENGINE_EXIT.format(code=2))
    quoted = supervisor.last_log_line(tmp_path, since=start)
    assert quoted.startswith("panic: Failed to start consensus state: found signature from "
                             "the same key (CometBFT's double-sign check")
    assert "double_sign_check_height" in quoted and "\n" not in quoted


def test_the_nodes_own_reason_and_errors_still_come_first(tmp_path: Path) -> None:
    upgrade = ("consortium node node0 stopped: upgrade 'v2' scheduled at height 31 needs "
               "consortium >= 0.2.0; this node runs 0.1.0; install it and restart\n")
    start = _log(tmp_path, STARTED + upgrade)
    assert supervisor.last_log_line(tmp_path, since=start) == upgrade.strip()
    start = _log(tmp_path, "2026-12-06 14:00:00,000 ERROR consortium.node: the cause\n"
                           "2026-12-06 14:00:00,001 ERROR consortium.node: engine exited with "
                           "code 1; stopping node node0\n")
    assert supervisor.last_log_line(tmp_path, since=start).endswith("the cause")


class _Proc:
    """A node process that exits once `dies_after` polls have seen it running."""

    def __init__(self, dies_after: int | None) -> None:
        self.polls = 0
        self.dies_after = dies_after
        self.returncode: int | None = None

    def poll(self) -> int | None:
        self.polls += 1
        if self.dies_after is not None and self.polls > self.dies_after:
            self.returncode = 2
        return self.returncode


def _one_node(tmp_path: Path) -> tuple[Network, NodeEntry]:
    node = NodeEntry(name="node2", member="Bank C", home="nodes/node2", node_id="0" * 40,
                     validator_pub_key="", p2p_port=1, rpc_port=2, api_port=3)
    network = Network(root=tmp_path, chain_id="test", eth_chain_id=1, production=False,
                      nodes=[node])
    return network, node


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool, int] | None]:
    """The node's API and engine answer; its engine's (power, catching up, peers) are
    taken from the returned list, one per probe (the last one repeats)."""
    states: list[tuple[int, bool, int] | None] = []
    monkeypatch.setattr(supervisor, "_api_alive", lambda *_: True)
    monkeypatch.setattr(supervisor, "_engine_alive", lambda *_: True)
    monkeypatch.setattr(supervisor, "_engine_state",
                        lambda *_: states.pop(0) if len(states) > 1 else states[0])
    monkeypatch.setattr(supervisor.time, "sleep", lambda _s: None)
    monkeypatch.setattr(supervisor, "SETTLE_GRACE", 0.0)
    return states


def test_up_sees_a_validator_die_at_its_switch_to_consensus(
        tmp_path: Path, answering: list[Any]) -> None:
    """The operations test's restored node2: API and RPC answered, `up` said started, and
    CometBFT's double-sign check stopped it 3 s later, once block sync had caught up."""
    network, node = _one_node(tmp_path)
    home = network.node_home(node)
    start = _log(home, STARTED)
    answering.extend([(10, True, 3)] * 3)
    proc = _Proc(dies_after=3)
    _log(home, DOUBLE_SIGN + ENGINE_EXIT.format(code=2))
    with pytest.raises(NetworkError, match=r"^node2 exited with code 2: panic: Failed to start "
                       r"consensus state: found signature from the same key \(CometBFT's"):
        supervisor._wait_up(network, node, proc, 1e12, lambda _m: None,  # type: ignore[arg-type]
                            start)


def test_up_calls_a_validator_up_once_it_joined_consensus(
        tmp_path: Path, answering: list[Any]) -> None:
    network, node = _one_node(tmp_path)
    said: list[str] = []
    answering.extend([(10, True, 3), (10, True, 3), (10, False, 3)])
    supervisor._wait_up(network, node, _Proc(None), 1e12, said.append)  # type: ignore[arg-type]
    assert said == [f"node2 is up: API {node.api_url}"]
    # a full node has no double-sign check to wait for
    said.clear()
    answering[:] = [(0, True, 3)]
    supervisor._wait_up(network, node, _Proc(None), 1e12, said.append)  # type: ignore[arg-type]
    assert said == [f"node2 is up: API {node.api_url}"]


def test_up_does_not_wait_for_a_validator_without_peers(
        tmp_path: Path, answering: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    network, node = _one_node(tmp_path)
    monkeypatch.setattr(supervisor, "NO_PEERS_GRACE", 0.0)
    said: list[str] = []
    answering.append((10, True, 0))
    supervisor._wait_up(network, node, _Proc(None), 1e12, said.append)  # type: ignore[arg-type]
    assert said[0].startswith("node2 is up: API") and "no peer yet" in said[0]


# --- 7: unknown sections and keys in consortium.toml --------------------------------------

BASE = '[node]\nname = "node0"\nmember = "Bank A"\n\n[api]\nport = 8545\n'


@pytest.mark.parametrize(("text", "message"), [
    (BASE + "\n[state_sync]\nsnapshot_intreval = 10\n",
     "unknown key state_sync.snapshot_intreval (did you mean state_sync.snapshot_interval?)"),
    (BASE.replace("[api]", "[apii]"), "unknown section [apii] (did you mean [api]?)"),
    (BASE.replace("port =", "prot ="), "unknown key api.prot (did you mean api.port?)"),
    (BASE + "\n[ops]\nowner = 1\n", "unknown section [ops] (sections: node, api, consortium, "
                                    "metrics, console, state_sync)"),
])
def test_consortium_toml_refuses_what_it_does_not_know(tmp_path: Path, text: str,
                                                       message: str) -> None:
    (tmp_path / "consortium.toml").write_text(text)
    with pytest.raises(ConfigError) as refused:
        NodeConfig.load(tmp_path)
    assert refused.value.message == f"{tmp_path / 'consortium.toml'}: {message}"


def test_every_setting_the_software_reads_is_known(tmp_path: Path) -> None:
    (tmp_path / "consortium.toml").write_text(
        BASE + 'auth = "token"\nmax_connections = 5\ncall_timeout = 2\n'
        "requests_per_second_per_client = 3\n\n[consortium]\nkey_file = \"consortium.key\"\n"
        '\n[metrics]\nlisten = "127.0.0.1:9464"\n\n[console]\nenabled = false\n'
        '\n[state_sync]\nenable = false\nrpc_servers = []\ntrust_period = "168h0m0s"\n'
        "snapshot_interval = 50\nsnapshot_keep = 2\nsnapshot_chunk_bytes = 4096\n")
    assert NodeConfig.load(tmp_path).api_limits.max_connections == 5


# --- 8: why a node is down ----------------------------------------------------------------

UPGRADE_STOP = ("2026-12-06 13:51:17,800 CRITICAL consortium.app: upgrade 'v2' scheduled at "
                "height 125 needs consortium >= 0.2.0; this node runs 0.1.0; install it and "
                "restart\n"
                "consortium node node0 stopped: upgrade 'v2' scheduled at height 125 needs "
                "consortium >= 0.2.0; this node runs 0.1.0; install it and restart\n"
                "2026-12-06 13:51:17,861 ERROR consortium.node: node node0 stops for a software "
                "upgrade (exit code 3)\n"
                "2026-12-06 13:51:17,900 INFO consortium.node: node node0 stopped\n")
CLEAN_STOP = ("2026-12-06 13:00:00,000 INFO consortium.node: stopping node node0\n"
              "2026-12-06 13:00:00,500 INFO consortium.node: node node0 stopped\n")


@pytest.mark.parametrize(("log", "code", "label", "reason"), [
    (STARTED + UPGRADE_STOP, 3, "upgrade", "consortium node node0 stopped: upgrade 'v2'"),
    (STARTED + DOUBLE_SIGN + ENGINE_EXIT.format(code=2), 2, "double-sign",
     "panic: Failed to start consensus state: found signature from the same key"),
    (STARTED + NO_STATE + ENGINE_EXIT.format(code=1), 1, "exit 1", "open /srv/net"),
    (STARTED + "I[2026-12-06|20:45:51.000] Committed state module=state height=15\n", None,
     "killed?", "no stop was logged"),
    (STARTED + DOUBLE_SIGN + ENGINE_EXIT.format(code=2) + STARTED + CLEAN_STOP, 0, "",
     "stopped on request"),
    (STARTED + ENGINE_EXIT.format(code="-9 (SIGKILL)"), -9, "exit -9",
     "2026-12-06 20:45:50,220 ERROR consortium.node: engine exited with code -9 (SIGKILL)"),
    (STARTED + "2026-12-06 20:45:52,000 ERROR consortium.node: engine halted: CONSENSUS "
     "FAILURE (failed to save block: no space left on device); it commits no more blocks; "
     "stopping node node0\n2026-12-06 20:45:52,500 INFO consortium.node: node node0 stopped\n",
     1, "exit 1", "engine halted: CONSENSUS FAILURE (failed to save block"),
])
def test_the_last_exit_is_read_from_the_nodes_log(tmp_path: Path, log: str, code: int | None,
                                                 label: str, reason: str) -> None:
    _log(tmp_path, log)
    found = supervisor.last_exit(tmp_path)
    assert found is not None
    assert (found.code, found.label) == (code, label)
    assert found.reason.startswith(reason)


def test_the_exit_record_wins_and_the_log_names_the_engines_cause(tmp_path: Path) -> None:
    assert supervisor.last_exit(tmp_path) is None  # never started
    supervisor.record_exit(tmp_path, 3, "upgrade 'v2' scheduled at height 125 needs 0.2.0")
    found = supervisor.last_exit(tmp_path)
    assert found is not None and (found.code, found.label) == (3, "upgrade")
    assert found.at is not None and found.reason.startswith("upgrade 'v2'")
    _log(tmp_path, STARTED + APP_HASH + ENGINE_EXIT.format(code=2))
    supervisor.record_exit(tmp_path, 2, "engine exited with code 2; stopping node node0")
    found = supervisor.last_exit(tmp_path)
    assert found is not None and found.code == 2
    assert found.reason.startswith("panic: state.AppHash does not match")


def test_the_node_command_leaves_its_exit_record(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from consortium.network import node as node_module

    (tmp_path / "consortium.toml").write_text(BASE)
    supervisor.record_exit(tmp_path, 1, "an earlier run's")

    def halts(home: Path) -> int:
        assert not (home / supervisor.LAST_EXIT_FILE).exists()  # gone while it runs
        logging.getLogger("consortium.app").critical("upgrade 'v2' needs 0.2.0")
        logging.getLogger("consortium.node").error("node node0 stops for a software upgrade")
        return 3

    monkeypatch.setattr(node_module, "run_node", halts)
    assert main(["node", "--home", str(tmp_path)]) == 3
    record = json.loads((tmp_path / supervisor.LAST_EXIT_FILE).read_text())
    assert (record["code"], record["reason"]) == (3, "upgrade 'v2' needs 0.2.0")


def test_status_shows_why_a_node_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from consortium.network import health

    network, node = _one_node(tmp_path)
    network.save()
    down = supervisor.NodeStatus("node2", "Bank C", False, last_exit=supervisor.LastExit(
        3, "upgrade 'v2' scheduled at height 125 needs consortium >= 0.2.0", "2026-12-06T13:51"))
    monkeypatch.setattr(health, "network_health",
                        lambda _n: [(down, health.NodeHealth())])
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["status", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "down (upgrade)" in out
    assert ("node2 stopped at 2026-12-06T13:51 (exit code 3): upgrade 'v2' scheduled at "
            "height 125 needs consortium >= 0.2.0") in out
    assert main(["status", "--dir", str(tmp_path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["nodes"][0]
    assert row["last_exit"]["code"] == 3 and row["running"] is False


# --- 9: restore's closing message ---------------------------------------------------------

def _manifest() -> Manifest:
    return Manifest(chain_id="consortium-local", node="node2", member="Bank C",
                    software_version="0", engine_version="0.38.25", created_at="now",
                    ledger_height=120, ledger_app_hash="00", engine_height=None,
                    includes_keys=True)


def test_restore_says_how_to_start_and_to_reset_the_double_sign_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from consortium.network import restore

    (tmp_path / "net").mkdir()
    network, node = _one_node(tmp_path / "net")
    network.save()
    home = network.node_home(node)
    home.mkdir(parents=True)
    done = Restored(_manifest(), home, True, double_sign_check=10)
    assert done.start_command == f"`consortium up node2 --dir {tmp_path / 'net'}`"
    monkeypatch.setattr(restore, "restore_node", lambda *_a, **_k: done)
    assert main(["restore", str(tmp_path / "a.tar"), "--home", str(home),
                 "--as-validator"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"Start it with `consortium up node2 --dir {tmp_path / 'net'}`." in out
    assert "consortium node --home" not in out
    assert ("Once it signs blocks again, set double_sign_check_height back to 0 under "
            f"[consensus] in {home / 'config' / 'config.toml'} (restore set it to 10)") in out
    assert "(backed up while the node was stopped)" in out
    # elsewhere: in the foreground; with --validator-state: no double-sign check to reset
    other = Restored(_manifest(), tmp_path / "srv" / "node2", True)
    assert other.start_command == f"`consortium node --home {tmp_path / 'srv' / 'node2'}`"
    monkeypatch.setattr(restore, "restore_node", lambda *_a, **_k: other)
    assert main(["restore", str(tmp_path / "a.tar"), "--home", str(other.home)]) == 0
    assert "double_sign_check_height" not in capsys.readouterr().out


# --- 12: small things ---------------------------------------------------------------------

def test_roles_takes_a_member_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from consortium.cli import governance

    account = "0x" + "ab" * 20
    Network(root=tmp_path, chain_id="test", eth_chain_id=1, production=False,
            members=[MemberEntry("Bank D", account, "keystores/bank-d.json")]).save()
    asked: list[str | None] = []

    class Client:
        def roles(self, who: str | None) -> dict[str, Any]:
            asked.append(who)
            return {"account": who, "roles": ["member"]}

    monkeypatch.setattr(governance, "_client", lambda *_a: Client())
    assert main(["roles", "Bank D", "--dir", str(tmp_path)]) == 0
    assert asked == [account] and f"{account}: member" in capsys.readouterr().out
    assert main(["roles", "Bank Z", "--dir", str(tmp_path), "--rpc", "http://127.0.0.1:9"]) == 1
    assert "ACCOUNT 'Bank Z' is not a 0x account or a member name" in capsys.readouterr().err


def test_a_trust_rpc_that_is_no_cometbft_rpc_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from consortium.network import state_sync

    def api_port(url: str, **_kw: Any) -> httpx.Response:
        return httpx.Response(404, request=httpx.Request("GET", url), text="Not Found")

    monkeypatch.setattr(state_sync.httpx, "get", api_port)
    with pytest.raises(NetworkError) as refused:
        state_sync.fetch_trust(["http://127.0.0.1:32545"])
    message = refused.value.message
    assert message.startswith("http://127.0.0.1:32545 is not a CometBFT RPC: GET /status "
                              "answered HTTP 404 Not Found; give the CometBFT RPC")
    assert "\n" not in message and "mozilla" not in message


def test_an_offline_backup_says_the_node_was_stopped(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from consortium.network import backup

    monkeypatch.setattr(backup, "backup_node", lambda *_a, **_k: _manifest())
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["backup", "--home", str(tmp_path), "--out", str(tmp_path / "b.tar")]) == 0
    out = capsys.readouterr().out
    assert "ledger at height 120 (node stopped), 0 files" in out and "?" not in out
