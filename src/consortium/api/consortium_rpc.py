"""The `consortium_*` JSON-RPC namespace: governance reads, built from governance's declared
surface (`consortium.apps.governance_surface`); `JsonRpc` inherits the handlers and
`CONSORTIUM_METHODS` names them for its method table."""

from __future__ import annotations

from consortium.api.service_surface import rpc_mixin
from consortium.apps.governance_surface import GOVERNANCE
from consortium.ledger.types import LedgerReader

_Reads, CONSORTIUM_METHODS = rpc_mixin((GOVERNANCE,))


class ConsortiumMethods(_Reads):  # type: ignore[valid-type,misc]  # made from the declaration
    ledger: LedgerReader
