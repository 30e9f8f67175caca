"""The system contracts' ABIs, shipped as JSON in `consortium/system/abi/<Name>.json`, so any
Ethereum tool (web3.py, ethers, cast) can call them. Generated from the classes: after
changing a contract's methods or events run `python -m consortium.system.abi_files` (a unit
test checks the shipped files equal the classes' ABIs)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from consortium.evm.native import NativeCalls, NativeContract

ABI_DIR = Path(__file__).parent / "abi"


def contract_classes() -> dict[str, type[NativeContract]]:
    from consortium.system import Crypto, Governance, Nodes, Permissions, Privacy

    return {"Governance": Governance, "Permissions": Permissions, "Nodes": Nodes, "Crypto": Crypto,
            "Privacy": Privacy}


def render(abi: list[dict[str, Any]]) -> str:
    return json.dumps(abi, indent=2) + "\n"


def write_abis(folder: Path = ABI_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, cls in contract_classes().items():
        path = folder / f"{name}.json"
        path.write_text(render(cls.abi()))
        written.append(path)
    return written


class Function:
    """One method of a system contract: `encode(*args)` a call, `decode(output)` its answer."""

    def __init__(self, calls: NativeCalls, name: str) -> None:
        if name not in calls.specs:
            raise KeyError(f"{calls.cls.__name__} has no function {name!r}")
        self.encode = partial(calls.encode, name)
        self.decode = partial(calls.decode, name)


def function(contract: str, name: str) -> Function:
    return Function(NativeCalls(contract_classes()[contract]), name)


if __name__ == "__main__":
    for written in write_abis():
        print(written)
