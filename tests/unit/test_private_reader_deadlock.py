"""A group's reads opened from an API thread while the processor holds a write transaction on
the group's store must not wait for it: py-lmdb opens a database in a write transaction and
waits for the writer's lock holding the GIL, so opening one there froze the whole node (the
processor, needing the GIL to finish its write, never released the lock). Run in a child
process: a deadlock holds the GIL, so only a timeout from outside can fail the test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import sys, threading, time
from pathlib import Path
import consortium.natives
from tests.unit.test_private_groups import GROUP, Net, revm_engine

net = Net(Path(sys.argv[1]), {n: "revm" if revm_engine.available() else "py-evm" for n in "ab"})
net.setup_group()
groups = net.nodes["a"].groups
group = groups._groups[GROUP]
group.reader = None  # as on a node whose API reads the group for the first time
writing = threading.Event()

def write() -> None:
    with group.store.write():
        writing.set()
        time.sleep(0.5)  # the GIL released; then Python work inside the transaction
        sum(range(10**6))

writer = threading.Thread(target=write)
writer.start()
writing.wait()
assert groups.reader(GROUP) is not None
writer.join()
net.close()
print("ok")
"""


def test_a_first_read_does_not_wait_for_the_processors_write(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
