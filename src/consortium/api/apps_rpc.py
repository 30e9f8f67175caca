"""The method table of the services' hand-written JSON-RPC reads (securities, forum): a
handler registers under its JSON-RPC name with `apps_rpc`, and `JsonRpc` runs every name in
`APPS_METHODS` in the ledger worker thread with the other reads. (Declared services —
`consortium.apps.services` — need neither: their methods are built from the declaration.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

APPS_METHODS: dict[str, str] = {}  # JSON-RPC method name -> handler attribute


def apps_rpc(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        APPS_METHODS[name] = fn.__name__
        return fn

    return register
