"""The system contracts' ABIs, shipped as JSON in `consortium/system/abi/<Name>.json`, so any
Ethereum tool (web3.py, ethers, cast) can call them, and a small typed way to use them.

The files are generated from the classes (`NativeContract.abi()`): after changing a
contract's methods or events, run

    python -m consortium.system.abi_files

and commit the result; a unit test checks the shipped files equal the classes' ABIs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

ABI_DIR = Path(__file__).parent / "abi"
CONTRACT_NAMES = ("Governance", "Permissions", "Nodes", "Crypto")


def contract_classes() -> dict[str, Any]:
    from consortium.system import Crypto, Governance, Nodes, Permissions

    return {"Governance": Governance, "Permissions": Permissions, "Nodes": Nodes, "Crypto": Crypto}


@cache
def load_abi(name: str) -> list[dict[str, Any]]:
    """The shipped ABI of system contract `name` ("Governance", "Permissions"…)."""
    if name not in CONTRACT_NAMES:
        raise KeyError(f"no system contract {name!r} (contracts: {', '.join(CONTRACT_NAMES)})")
    return json.loads((ABI_DIR / f"{name}.json").read_text())  # type: ignore[no-any-return]


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


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter, tuples spelled out: "(uint256,string)[]"."""
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return str(kind)


@dataclass(frozen=True)
class AbiFunction:
    """One function of a shipped ABI: encode a call, decode its answer."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def selector(self) -> bytes:
        return keccak(f"{self.name}({','.join(self.inputs)})".encode())[:4]

    def encode(self, *args: Any) -> bytes:
        return self.selector + abi_encode(list(self.inputs), list(args))

    def decode(self, output: bytes) -> Any:
        values = abi_decode(list(self.outputs), output)
        return values[0] if len(values) == 1 else values


@cache
def function(contract: str, name: str) -> AbiFunction:
    for entry in load_abi(contract):
        if entry.get("type") == "function" and entry["name"] == name:
            return AbiFunction(
                name,
                tuple(abi_type(p) for p in entry["inputs"]),
                tuple(abi_type(p) for p in entry["outputs"]),
            )
    raise KeyError(f"{contract} has no function {name!r}")


if __name__ == "__main__":
    for written in write_abis():
        print(written)
