"""The Forum contract's ABI, shipped as JSON (`abi/Forum.json`); see
`consortium.apps.shipped_abi`. Regenerate with `python -m consortium.apps.forum.abi`."""

from __future__ import annotations

from consortium.apps.forum.contract import Forum
from consortium.apps.shipped_abi import shipped, write_all

SHIPPED = shipped(Forum, __file__)
ABI_FILE = SHIPPED.path
render_abi = SHIPPED.render
load_abi = SHIPPED.load
write_abi = SHIPPED.write

if __name__ == "__main__":
    write_all([SHIPPED])
