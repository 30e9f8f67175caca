"""Registry's ABI shipped as JSON (abi/Registry.json); rewrite it with
`python -m consortium.apps.registry.abi`."""

from consortium.apps.registry.contract import Registry
from consortium.apps.shipped_abi import shipped

SHIPPED = shipped(Registry, __file__)
ABI_FILE, render_abi = SHIPPED.path, SHIPPED.render

if __name__ == "__main__":
    print(SHIPPED.write())
