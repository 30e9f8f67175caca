"""ConsortiumClient.reverted: the one place the service and governance clients say why a
sent transaction reverted (its call replayed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from consortium.errors import ExecutionReverted
from consortium.sdk.client import ConsortiumClient

TX = b"\x01" * 32
HEAD = f"transaction 0x{TX.hex()} reverted in block 7: "


def _refused() -> None:
    raise ExecutionReverted("execution reverted: only the seller may confirm")


def _unreachable() -> None:
    raise OSError("connection refused")


@pytest.mark.parametrize(("replay", "why"), [
    (_refused, "execution reverted: only the seller may confirm"),
    (lambda: None, "execution reverted"),  # the replay passed: no reason to tell
    (_unreachable, "execution reverted"),
])
def test_reverted_says_why(replay: Callable[[], None], why: str) -> None:
    err = ConsortiumClient("http://127.0.0.1:9").reverted(TX, 7, replay)
    assert isinstance(err, ExecutionReverted)
    assert err.message == HEAD + why
