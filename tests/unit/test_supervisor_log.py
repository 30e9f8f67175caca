"""`consortium up`'s report of a node that exited at start quotes that start's log lines:
an earlier run's error, still among the log's last lines, is not this start's cause (the
upgrade test's restarted old node once got its previous stop's error line quoted)."""

from __future__ import annotations

from pathlib import Path

from consortium.network.supervisor import last_log_line, log_size

EARLIER = (
    "2026-12-06 13:51:17,861 ERROR consortium.node: node node0 stops for a software upgrade "
    "(exit code 3)\n"
    "2026-12-06 13:51:17,900 INFO consortium.node: node node0 stopped\n"
)
THIS_START = "consortium node node0 stopped: upgrade 'v2' scheduled at height 31 needs 0.2.0\n"


def test_a_failed_start_is_quoted_from_its_own_lines(tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    log.write_text(EARLIER)
    start = log_size(tmp_path)
    with log.open("a") as f:
        f.write(THIS_START)
    assert last_log_line(tmp_path, since=start) == THIS_START.strip()
    # an error of this start is still preferred to the lines after it
    start = log_size(tmp_path)
    with log.open("a") as f:
        f.write("2026-12-06 14:00:00,000 ERROR consortium.node: the cause\nshutting down\n")
    assert last_log_line(tmp_path, since=start).endswith("the cause")
    # (which line of a start is the most telling: tests/unit/test_operator_faults.py)


def test_a_node_without_a_log_yet(tmp_path: Path) -> None:
    assert log_size(tmp_path) == 0
    assert last_log_line(tmp_path) == "(no log)"
    (tmp_path / "node.log").write_text("")
    assert last_log_line(tmp_path, since=0) == "(empty log)"
