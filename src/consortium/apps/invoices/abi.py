"""Invoices's ABI shipped as JSON (abi/Invoices.json); rewrite it with
`python -m consortium.apps.invoices.abi`."""

from consortium.apps.invoices.contract import Invoices
from consortium.apps.shipped_abi import shipped

SHIPPED = shipped(Invoices, __file__)
ABI_FILE, render_abi = SHIPPED.path, SHIPPED.render

if __name__ == "__main__":
    print(SHIPPED.write())
