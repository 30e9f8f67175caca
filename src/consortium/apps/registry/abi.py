"""The Registry contract's ABI, shipped as JSON (`abi/Registry.json`) for any Ethereum tool
(web3.py, ethers, cast). Generated from the class; after changing its methods or events run

    python -m consortium.apps.registry.abi

and commit the result (a unit test checks the shipped file equals the class's ABI).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from consortium.apps.registry.contract import Registry

ABI_FILE = Path(__file__).parent / "abi" / "Registry.json"


def render_abi() -> str:
    return json.dumps(Registry.abi(), indent=2) + "\n"


def load_abi() -> list[dict[str, Any]]:
    return json.loads(ABI_FILE.read_text())  # type: ignore[no-any-return]


def write_abi() -> Path:
    ABI_FILE.parent.mkdir(parents=True, exist_ok=True)
    ABI_FILE.write_text(render_abi())
    return ABI_FILE


if __name__ == "__main__":
    print(write_abi())
