"""A service's JSON-RPC methods, REST routes and OpenAPI paths, built from its declared
surface (`consortium.apps.surface.Service`), and what they share with the node's other REST
routes. JSON-RPC: `read.rpc(params…, [filter])`, a bad value answered -32602. REST: GET
`/api/v1/<service><read.rest>`, path parameters in order, the filter as query keys; 400 for
bad input, 404 when a nullable read finds nothing. Reads run within the request's budget."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from consortium.api.encoding import Params
from consortium.api.read_gate import current_budget
from consortium.api.rpc_error import ExecutionRevertedError, InvalidParams, RpcError
from consortium.apps.surface import BadValue, Logs, Param, Read, Service
from consortium.ledger.types import LedgerReader, TxFilter

T = TypeVar("T")
RunSync = Callable[[Callable[[], T]], Awaitable[T]]


def ledger_logs(ledger: LedgerReader) -> Logs:
    """A reader's log source over the ledger's log index (every block to the latest)."""

    def logs(address: bytes, topics: list[bytes | None]) -> list[dict[str, Any]]:
        found = ledger.get_logs(TxFilter(
            from_block=0, to_block=ledger.latest_height(), addresses=["0x" + address.hex()],
            topics=[None if t is None else "0x" + t.hex() for t in topics],
        ), budget=current_budget.get())  # a history scan is bounded like eth_getLogs
        return [{"block": e.block_number, "txHash": e.tx_hash,
                 "topics": [bytes.fromhex(t[2:]) for t in e.topics], "data": e.data}
                for e in found]

    return logs


def ledger_call(ledger: LedgerReader) -> Callable[[bytes, bytes], bytes]:
    """eth_call on the ledger at the latest block for a service's reader, within the
    request's budget (`ReadGate`); reverts raised as JSON-RPC errors."""

    def call(to: bytes, data: bytes) -> bytes:
        result = ledger.call({"to": "0x" + to.hex(), "data": "0x" + data.hex()},
                             budget=current_budget.get())
        if not result.success:
            raise ExecutionRevertedError(result.output, result.error)
        return result.output

    return call


def rest_read(run_sync: RunSync[Any], read: Callable[[Request], Any],
              what: str | Callable[[Request], str]) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A GET handler: the read's JSON; 400 with the reason for bad input, 404 for None
    ("<what> not found"; `what` may name the object from the request)."""

    async def handle(request: Request) -> JSONResponse:
        try:
            found = await run_sync(lambda: read(request))
        except (RpcError, ValueError) as err:
            return JSONResponse({"error": getattr(err, "message", str(err))}, status_code=400)
        if found is None:
            named = what if isinstance(what, str) else what(request)
            return JSONResponse({"error": f"{named} not found"}, status_code=404)
        return JSONResponse(found)

    return handle


def openapi_get(summary: str, tag: str, params: list[dict[str, Any]],
                not_found: bool = False) -> dict[str, Any]:
    """The OpenAPI entry of one read-only route."""
    ok = {"content": {"application/json": {"schema": {"type": ["object", "array"]}}}}
    responses: dict[str, Any] = {"200": {"description": summary, **ok},
                                 "400": {"description": "malformed input"}}
    if not_found:
        responses["404"] = {"description": "not found"}
    return {"get": {"summary": summary, "tags": [tag], "parameters": params,
                    "responses": responses}}


def query_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


RpcHandler = Callable[[LedgerReader, Params], Any]


def _rpc_parser(parse: Callable[[Any, str], Any], name: str = "") -> Callable[[Any, str], Any]:
    """`parse` with its BadValue answered as JSON-RPC's invalid params (-32602), the
    parameter named beside its position ("params[3] (amount): …")."""
    def run(value: Any, where: str) -> Any:
        try:
            return parse(value, f"{where} ({name})" if name else where)
        except BadValue as err:
            raise InvalidParams(err.message) from None

    return run


def rpc_handler(service: Service, read: Read) -> RpcHandler:
    parsers = [(param, _rpc_parser(param.kind.parse, param.name)) for param in read.params]
    filters = _rpc_parser(read.parse_filters) if read.filters else None

    def handle(ledger: LedgerReader, p: Params) -> Any:
        p.at_most(len(parsers) + (1 if filters else 0))
        args = [p.required(i, parse) if param.required else p.optional(i, parse, param.default)
                for i, (param, parse) in enumerate(parsers)]
        found: dict[str, Any] = p.optional(len(parsers), filters, {}) if filters else {}
        try:
            return _run(service, read, ledger, args, found)
        except BadValue as err:
            raise InvalidParams(err.message) from None

    return handle


def _run(service: Service, read: Read, ledger: LedgerReader, args: list[Any],
         found: dict[str, Any]) -> Any:
    """The read on the ledger, its values parsed: a height above the chain's, or a value
    the contract's ABI cannot hold, is BadValue (a bad parameter, never an internal error)."""
    read.check_heights(args, found, lambda: ledger.latest_height())
    reader = service.reader(ledger_call(ledger), ledger_logs(ledger))
    return read.run(reader, args, found)


def rpc_handlers(services: tuple[Service, ...]) -> dict[str, RpcHandler]:
    """JSON-RPC method name -> handler, for every read of every service."""
    return {read.rpc: rpc_handler(s, read) for s in services for read in s.reads}


def rpc_mixin(services: tuple[Service, ...]) -> tuple[type, dict[str, str]]:
    """A class whose methods answer the services' reads (for `JsonRpc` to inherit: it sets
    `ledger`), and its method table: JSON-RPC name -> attribute."""
    def answer(handler: RpcHandler) -> Callable[[Any, Params], Any]:
        return lambda self, p: handler(self.ledger, p)

    handlers = rpc_handlers(services)
    table = {name: "read_" + name for name in handlers}
    return type("ServiceReads", (), {table[n]: answer(h) for n, h in handlers.items()}), table


def _rest_arg(param: Param, found: dict[str, Any]) -> Any:
    """A positional parameter from the path or the query (taken out of it: what is left
    are filter keys); a missing one is its default, or refused if required."""
    if param.name in found:
        return param.kind.parse(found.pop(param.name), param.name)
    if param.required:
        raise BadValue(f"{param.name}: {param.kind.refusal}")
    return param.default


def rest_routes(service: Service, ledger: LedgerReader, run_sync: RunSync[Any]) -> list[Route]:
    """The service's GET routes under /api/v1/<service>."""
    routes = []
    for read in service.reads:
        def run(request: Request, read: Read = read) -> Any:
            path, query = dict(request.path_params), dict(request.query_params)
            try:
                args = [_rest_arg(p, path if p in read.path_params else query)
                        for p in read.params]
                found = read.parse_filters(query, "query") if read.filters else {}
                return _run(service, read, ledger, args, found)
            except BadValue as err:
                raise ValueError(err.message) from None

        routes.append(Route(service.rest_base + read.rest,
                            rest_read(run_sync, run, read.noun or read.name),
                            methods=["GET"]))
    return routes


def openapi_paths(service: Service) -> dict[str, Any]:
    """The OpenAPI entries of the service's routes."""
    out = {}
    for read in service.reads:
        params = [path_param(p.name, p.kind.schema) for p in read.path_params]
        params += [query_param(f.name, f.doc, f.kind.schema) for f in read.query_params]
        out[service.rest_base + read.rest] = openapi_get(read.summary, service.name, params,
                                                          read.nullable)
    return out
