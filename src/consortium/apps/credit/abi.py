"""Credit's ABI shipped as JSON (abi/Credit.json); rewrite it with
`python -m consortium.apps.credit.abi`."""

from consortium.apps.credit.contract import Credit
from consortium.apps.shipped_abi import shipped

SHIPPED = shipped(Credit, __file__)
ABI_FILE, render_abi = SHIPPED.path, SHIPPED.render

if __name__ == "__main__":
    print(SHIPPED.write())
