"""The execution engine: py-evm pinned to Prague, with the consortium's native contracts.

Importing this package first selects the fast keccak backend (`safe-pysha3`) unless the
environment already chose one: eth_hash reads ETH_HASH_BACKEND once, at its first import.
"""

from __future__ import annotations

import os

os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
