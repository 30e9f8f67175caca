"""The Forum contract's ABI, shipped as JSON (`abi/Forum.json`) for any Ethereum tool.
Generated from the class: after changing its methods or events run
`python -m consortium.apps.forum.abi` and commit the file (a unit test compares them)."""

from __future__ import annotations

import json
from pathlib import Path

from consortium.apps.forum.contract import Forum

ABI_FILE = Path(__file__).parent / "abi" / "Forum.json"


def render_abi() -> str:
    return json.dumps(Forum.abi(), indent=2) + "\n"


if __name__ == "__main__":
    ABI_FILE.write_text(render_abi())
    print(ABI_FILE)
