"""The Notary's ABI shipped as JSON (abi/Notary.json); rewrite it with
`python -m tests.support.notary.abi`."""

from consortium.apps.shipped_abi import shipped
from tests.support.notary.contract import Notary

SHIPPED = shipped(Notary, __file__)

if __name__ == "__main__":
    print(SHIPPED.write())
