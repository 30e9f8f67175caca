"""The explorer's JSON-RPC methods and CSV route (`consortium.api.explorer` does the work):

    consortium_decodeTransaction(hash)          {status, call, events, revertReason, …} or null
    consortium_getAddressTransactions(address, {fromBlock?, toBlock?, limit?, before?})
                                                {transactions, next, indexedFrom}
    consortium_registerAbi(address, abi, name?) store an ABI checked against the code
    consortium_getAbi(address)                  {address, name, source, abi} or null

    GET /api/v1/explorer/export.csv?kind=transactions|blocks|events&address=
        &fromBlock=&toBlock=   (or &fromDate=&toDate=, yyyy-mm-dd, UTC, both days included)

`JsonRpc` inherits `ExplorerMethods`; `EXPLORER_METHODS` names them for its method table.
consortium_registerAbi writes (to this node's own registry), so it needs the `submit` scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from consortium.api import encoding as enc
from consortium.api.encoding import Params
from consortium.api.explorer import DEFAULT_PAGE, Explorer, ExplorerError
from consortium.api.rpc_error import InvalidParams
from consortium.api.service_surface import RunSync

T = TypeVar("T")

EXPLORER_METHODS: dict[str, str] = {
    "consortium_decodeTransaction": "consortium_decode_transaction",
    "consortium_getAddressTransactions": "consortium_get_address_transactions",
    "consortium_registerAbi": "consortium_register_abi",
    "consortium_getAbi": "consortium_get_abi",
}
EXPORT_PATH = "/api/v1/explorer/export.csv"


def explorer_of(ledger: Any) -> Explorer:
    """The ledger's one `Explorer` (its registered-ABI cache is shared by every caller)."""
    found = getattr(ledger, "_explorer", None)
    if found is None:
        found = Explorer(ledger)
        ledger._explorer = found
    return found


def _page_options(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParams(f"{where}: expected an object {{fromBlock, toBlock, limit, before}}")
    unknown = sorted(set(value) - {"fromBlock", "toBlock", "limit", "before"})
    if unknown:
        raise InvalidParams(f"{where}: unknown option {unknown[0]!r}")
    out: dict[str, Any] = {}
    for key, name in (("fromBlock", "from_block"), ("toBlock", "to_block")):
        if value.get(key) is not None:
            out[name] = enc.quantity(value[key], f"{where}.{key}", maximum=enc.UINT64_MAX)
    if value.get("limit") is not None:
        out["limit"] = enc.quantity(value["limit"], f"{where}.limit", maximum=10**6)
    if value.get("before") is not None:
        if not isinstance(value["before"], str):
            raise InvalidParams(f"{where}.before: the previous page's next (a string)")
        out["before"] = value["before"]
    return out


def _any_json(value: Any, where: str) -> Any:
    if value is None:
        raise InvalidParams(f"{where}: the ABI (a JSON list, or its text)")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidParams(f"{where}: the contract's name, a string")
    return value


def _invalid(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ExplorerError as err:
        raise InvalidParams(str(err)) from None


class ExplorerMethods:
    """The explorer's consortium_* handlers (mixed into `JsonRpc`, which sets `ledger`)."""

    ledger: Any

    @property
    def explorer(self) -> Explorer:
        return explorer_of(self.ledger)

    def consortium_decode_transaction(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        tx_hash = p.required(0, enc.hash32)
        return _invalid(lambda: self.explorer.decode_transaction(tx_hash))

    def consortium_get_address_transactions(self, p: Params) -> dict[str, Any]:
        p.at_most(2)
        address = p.required(0, enc.address)
        options = p.optional(1, _page_options, {})
        options.setdefault("limit", DEFAULT_PAGE)
        return _invalid(lambda: self.explorer.address_transactions(address, **options))

    def consortium_register_abi(self, p: Params) -> dict[str, Any]:
        p.at_most(3)
        address = p.required(0, enc.address)
        abi = p.required(1, _any_json)
        name = p.optional(2, _name, None)
        return _invalid(lambda: self.explorer.register_abi(address, abi, name))

    def consortium_get_abi(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        address = p.required(0, enc.address)
        return _invalid(lambda: self.explorer.get_abi(address))


def _int_query(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise ExplorerError(f"{name} must be a block number, got {text!r}") from None
    if value < 0:
        raise ExplorerError(f"{name} must not be negative")
    return value


def explorer_openapi_paths() -> dict[str, Any]:
    """The CSV export in the node's OpenAPI document."""
    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description,
                "schema": schema}

    text = {"type": "string"}
    return {EXPORT_PATH: {"get": {
        "summary": "CSV of transactions, blocks or events over a block or date range",
        "tags": ["explorer"],
        "parameters": [
            query("kind", "transactions (default), blocks or events",
                  {"type": "string", "enum": ["transactions", "blocks", "events"]}),
            query("address", "only this address's (not for blocks)", text),
            query("fromBlock", "first height", text),
            query("toBlock", "last height (default: the latest)", text),
            query("fromDate", "first day, yyyy-mm-dd (UTC)", text),
            query("toDate", "last day, yyyy-mm-dd (UTC), included", text)],
        "responses": {"200": {"description": "CSV with a header row",
                              "content": {"text/csv": {"schema": text}}},
                      "400": {"description": "bad input or a range over 10,000 blocks"}}}}}


def explorer_routes(ledger: Any, run: RunSync[Any]) -> list[Route]:
    """GET /api/v1/explorer/export.csv: CSV streamed a slice of heights at a time, each
    slice read in a worker thread through `run` (the node's heavy-read gate)."""

    async def export(request: Request) -> Response:
        explorer = explorer_of(ledger)
        q = request.query_params
        kind = q.get("kind", "transactions")

        def prepare() -> Any:
            lo, hi = explorer.export_range(
                from_block=_int_query(request, "fromBlock"),
                to_block=_int_query(request, "toBlock"),
                from_date=q.get("fromDate") or None, to_date=q.get("toDate") or None)
            pieces = explorer.export_csv(kind, lo, hi, q.get("address") or None)
            return lo, hi, pieces

        try:
            lo, hi, pieces = await run(prepare)
        except ExplorerError as err:
            return JSONResponse({"error": str(err)}, status_code=400)

        async def body() -> AsyncIterator[str]:
            while True:
                piece = await run(lambda: next(pieces, None))
                if piece is None:
                    return
                yield piece

        name = f"{kind}-{lo}-{hi}.csv"
        return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{name}"'})

    return [Route(EXPORT_PATH, export, methods=["GET"])]
