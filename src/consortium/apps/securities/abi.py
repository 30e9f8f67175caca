"""The CashTokens and Securities contracts' ABIs, shipped as JSON (`abi/CashTokens.json`,
`abi/Securities.json`) for any Ethereum tool (web3.py, ethers, cast). Generated from the
classes; after changing their methods or events run

    python -m consortium.apps.securities.abi

and commit the result (a unit test checks the shipped files equal the classes' ABIs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from consortium.apps.securities.cash import CashTokens
from consortium.apps.securities.contract import Securities
from consortium.evm.native import NativeContract

ABI_DIR = Path(__file__).parent / "abi"
CONTRACTS: dict[str, type[NativeContract]] = {"CashTokens": CashTokens, "Securities": Securities}


def abi_file(name: str) -> Path:
    return ABI_DIR / f"{name}.json"


def render_abi(name: str) -> str:
    return json.dumps(CONTRACTS[name].abi(), indent=2) + "\n"


def load_abi(name: str) -> list[dict[str, Any]]:
    return json.loads(abi_file(name).read_text())  # type: ignore[no-any-return]


def write_abis() -> list[Path]:
    ABI_DIR.mkdir(parents=True, exist_ok=True)
    out = []
    for name in CONTRACTS:
        abi_file(name).write_text(render_abi(name))
        out.append(abi_file(name))
    return out


if __name__ == "__main__":
    for path in write_abis():
        print(path)
