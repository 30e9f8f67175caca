from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import consortium.natives  # noqa: F401  (every native registered, as a node's startup does)
from tests.support.localnet import LocalNet


@pytest.fixture
def localnet(tmp_path: Path) -> Iterator:
    """A factory: `localnet(validators=4)` returns a started LocalNet, stopped at teardown."""
    nets: list[LocalNet] = []

    def make(
        validators: int = 4, members: list[str] | None = None, start: bool = True, **kw
    ) -> LocalNet:
        net = LocalNet(tmp_path / f"net{len(nets)}", validators, members, **kw)
        nets.append(net)
        if start:
            net.up()
        return net

    yield make
    for net in nets:
        net.cleanup()
