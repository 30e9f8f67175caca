"""The CashTokens and Securities contracts' ABIs, shipped as JSON (`abi/CashTokens.json`,
`abi/Securities.json`); see `consortium.apps.shipped_abi`. Regenerate with
`python -m consortium.apps.securities.abi`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from consortium.apps.securities.cash import CashTokens
from consortium.apps.securities.contract import Securities
from consortium.apps.shipped_abi import ShippedAbi, shipped, write_all
from consortium.evm.native import NativeContract

SHIPPED: dict[str, ShippedAbi] = {
    cls.__name__: shipped(cls, __file__) for cls in (CashTokens, Securities)}
CONTRACTS: dict[str, type[NativeContract]] = {n: s.contract for n, s in SHIPPED.items()}


def abi_file(name: str) -> Path:
    return SHIPPED[name].path


def render_abi(name: str) -> str:
    return SHIPPED[name].render()


def load_abi(name: str) -> list[dict[str, Any]]:
    return SHIPPED[name].load()


if __name__ == "__main__":
    write_all(SHIPPED.values())
