"""A service contract's ABI shipped as JSON beside its code (`apps/<service>/abi/<Name>.json`)
for any Ethereum tool (web3.py, ethers, cast). The files are generated from the classes
(`NativeContract.abi()`); after changing a contract's methods or events run
`python -m consortium.apps.<service>.abi` and commit the result (each service's unit tests
check the shipped file equals the class's ABI)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from consortium.evm.native import NativeContract


@dataclass(frozen=True)
class ShippedAbi:
    """One contract class and the JSON file its ABI is shipped in."""

    contract: type[NativeContract]
    path: Path

    def render(self) -> str:
        return json.dumps(self.contract.abi(), indent=2) + "\n"

    def write(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.render())
        return self.path


def shipped(contract: type[NativeContract], module_file: str) -> ShippedAbi:
    """The ABI file of `contract` in the `abi/` folder beside `module_file`."""
    return ShippedAbi(contract, Path(module_file).parent / "abi" / f"{contract.__name__}.json")


def write_all(abis: Iterable[ShippedAbi]) -> None:
    """Regenerate the files (the services' `python -m … .abi`)."""
    for abi in abis:
        print(abi.write())
