"""Where the pinned CometBFT engine's files are: its binary and the ABCI protobuf classes
generated for it.

A module of its own, below both `consortium.abci` (which loads the protobuf classes) and
`consortium.network.engine` (which builds the files and runs the binary), so the ABCI layer
needs nothing from the network layer.
"""

from __future__ import annotations

import os
from pathlib import Path


def engine_dir() -> Path:
    """The folder holding the engine binary and generated code.

    `CONSORTIUM_ENGINE_DIR` wins; in a source checkout it is `<checkout>/.engine`; otherwise a
    per-user data folder.
    """
    env = os.environ.get("CONSORTIUM_ENGINE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "src" / "consortium").is_dir():
        return checkout / ".engine"
    return Path.home() / ".local" / "share" / "consortium" / "engine"


def cometbft_path() -> Path:
    env = os.environ.get("CONSORTIUM_COMETBFT")
    if env:
        return Path(env)
    return engine_dir() / "bin" / "cometbft"


def proto_dir() -> Path:
    """Where the generated `tendermint.*` Python modules live."""
    return engine_dir() / "python"
