"""The Forum contract's ABI shipped as abi/Forum.json (`consortium.apps.shipped_abi`);
regenerate with `python -m consortium.apps.forum.abi`."""

from consortium.apps.forum.contract import Forum
from consortium.apps.shipped_abi import shipped, write_all

SHIPPED = shipped(Forum, __file__)
ABI_FILE, render_abi = SHIPPED.path, SHIPPED.render
if __name__ == "__main__":
    write_all([SHIPPED])
