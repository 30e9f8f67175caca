"""One node's process: `consortium node --home HOME`, and `python -m
consortium.network.node_process HOME`, which the supervisor starts for each node: the same
run without loading the CLI's commands and the libraries only they need (~0.15 s of the ~2 s
of CPU a node's start took on this machine).

Either way a run records how it ended (`last-exit.json`, read by `consortium status`).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from consortium.errors import ConsortiumError


def serve(home: Path) -> int:
    """Run the node at `home` in the foreground until it stops; returns its exit code and
    records how the run ended (an error's message, an unexpected exception's line)."""
    from consortium.network.node import exception_line, run_node, running_pid
    from consortium.network.node_config import NodeConfig
    from consortium.network.supervisor import LAST_EXIT_FILE, ExitReason, record_exit

    home = home.resolve()
    level = NodeConfig.load(home).log_level.upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if running_pid(home) is not None:  # refused by run_node; that node's record stays
        return run_node(home)
    # how this run ends, for `consortium status` (last-exit.json; an earlier run's goes now,
    # so a node killed before it could write one is not shown with a stale reason)
    (home / LAST_EXIT_FILE).unlink(missing_ok=True)
    reasons = ExitReason()
    logging.getLogger("consortium").addHandler(reasons)
    try:
        code = run_node(home)
    except ConsortiumError as exc:
        record_exit(home, 1, f"error: {exc.message}")
        raise
    except Exception as exc:  # nothing expected it: its traceback's last line is the reason
        record_exit(home, 1, exception_line(exc))
        raise
    record_exit(home, code, reasons.reason(code))
    return code


def main(argv: list[str]) -> int:
    """`python -m consortium.network.node_process HOME`: an error is one line on stderr and
    exit code 1, as the CLI's."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m consortium.network.node_process HOME\n")
        return 2
    try:
        return serve(Path(argv[0]))
    except ConsortiumError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
