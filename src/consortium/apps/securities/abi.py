"""The CashTokens and Securities ABIs shipped as JSON (abi/*.json); rewrite them with
`python -m consortium.apps.securities.abi`."""

from pathlib import Path

from consortium.apps.securities.cash import CashTokens
from consortium.apps.securities.contract import Securities
from consortium.apps.shipped_abi import shipped, write_all

SHIPPED = {cls.__name__: shipped(cls, __file__) for cls in (CashTokens, Securities)}
CONTRACTS = {name: abi.contract for name, abi in SHIPPED.items()}


def abi_file(name: str) -> Path:
    return SHIPPED[name].path


def render_abi(name: str) -> str:
    return SHIPPED[name].render()


if __name__ == "__main__":
    write_all(SHIPPED.values())
