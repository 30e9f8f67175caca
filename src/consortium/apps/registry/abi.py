"""The Registry contract's ABI, shipped as JSON (`abi/Registry.json`); see
`consortium.apps.shipped_abi`. Regenerate with `python -m consortium.apps.registry.abi`."""

from __future__ import annotations

from consortium.apps.registry.contract import Registry
from consortium.apps.shipped_abi import shipped, write_all

SHIPPED = shipped(Registry, __file__)
ABI_FILE = SHIPPED.path
render_abi = SHIPPED.render
load_abi = SHIPPED.load
write_abi = SHIPPED.write

if __name__ == "__main__":
    write_all([SHIPPED])
