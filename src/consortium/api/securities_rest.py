"""Securities and cash tokens over REST: read-only routes answering the same JSON as the
`consortium_*` securities JSON-RPC methods (`consortium.apps.securities.reader` shapes), and
their OpenAPI paths.

    GET /api/v1/securities/instruments
    GET /api/v1/securities/instruments/{isin}
    GET /api/v1/securities/instruments/{isin}/book[?levels=10]
    GET /api/v1/securities/instruments/{isin}/holders[?height=H]     record-date snapshot
    GET /api/v1/securities/orders[?account=&isin=&state=&side=]   /orders/{id}
    GET /api/v1/securities/trades[?account=&isin=&state=]         /trades/{id}
    GET /api/v1/securities/holdings/{account}
    GET /api/v1/securities/investors                             /investors/{account}
    GET /api/v1/securities/restriction?isin=&from=&to=&amount=   ERC-1404 code and message
    GET /api/v1/securities/bilateral-trades[?account=]           /bilateral-trades/{id}
    GET /api/v1/securities/dividends[?isin=]                     /dividends/{id}
    GET /api/v1/securities/forced-transfers
    GET /api/v1/cash/tokens    /cash/tokens/{currency}    /cash/balances/{account}

Errors answer {"error": "<reason>"} with 400 (bad input) or 404 (not found).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from consortium.api.rpc_error import RpcError
from consortium.api.securities_rpc import (
    order_filter,
    parse_account,
    parse_count,
    parse_currency,
    parse_isin,
    securities_reader,
    trade_filter,
)
from consortium.apps.securities.model import MAX_LEVELS
from consortium.apps.securities.reader import SecuritiesReader
from consortium.ledger.types import LedgerReader

T = TypeVar("T")
RunSync = Callable[[Callable[[], T]], Awaitable[T]]
# (request, reader) -> the answer; None answers 404
Handler = Callable[[Request], Callable[[SecuritiesReader], Any]]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def securities_routes(ledger: LedgerReader, run_sync: RunSync[Any]) -> list[Route]:
    def route(path: str, handler: Handler, missing: str = "not found") -> Route:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                read = handler(request)  # parses the request: bad input raises here
                found = await run_sync(lambda: read(securities_reader(ledger)))
            except RpcError as err:
                return _error(400, err.message)
            if found is None:
                return _error(404, missing)
            return JSONResponse(found)

        return Route(path, endpoint, methods=["GET"])

    def path(request: Request, name: str) -> str:
        return str(request.path_params[name])

    def query(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    def instrument(r: Request) -> Callable[[SecuritiesReader], Any]:
        isin = parse_isin(path(r, "isin"), "isin")
        return lambda s: s.instrument(isin)

    def book(r: Request) -> Callable[[SecuritiesReader], Any]:
        isin = parse_isin(path(r, "isin"), "isin")
        levels = min(parse_count(query(r).get("levels", "10"), "levels"), MAX_LEVELS)
        return lambda s: s.book(isin, levels) if isin in s.isins() else None

    def holders(r: Request) -> Callable[[SecuritiesReader], Any]:
        isin = parse_isin(path(r, "isin"), "isin")
        raw = query(r).get("height")
        height = None if raw is None else parse_count(raw, "height")

        def read(s: SecuritiesReader) -> Any:
            if isin not in s.isins():
                return None
            return s.holders(isin) if height is None else s.holders_at(isin, height)

        return read

    def orders(r: Request) -> Callable[[SecuritiesReader], Any]:
        f = order_filter(query(r), "query")
        return lambda s: s.orders(**f)

    def order(r: Request) -> Callable[[SecuritiesReader], Any]:
        n = parse_count(path(r, "id"), "id")
        return lambda s: s.order(n)

    def trades(r: Request) -> Callable[[SecuritiesReader], Any]:
        f = trade_filter(query(r), "query")
        return lambda s: s.trades(**f)

    def trade(r: Request) -> Callable[[SecuritiesReader], Any]:
        n = parse_count(path(r, "id"), "id")
        return lambda s: s.trade(n)

    def holdings(r: Request) -> Callable[[SecuritiesReader], Any]:
        account = parse_account(path(r, "account"), "account")
        return lambda s: s.holdings(account)

    def investor(r: Request) -> Callable[[SecuritiesReader], Any]:
        account = parse_account(path(r, "account"), "account")
        return lambda s: s.investor(account)

    def restriction(r: Request) -> Callable[[SecuritiesReader], Any]:
        q = query(r)
        isin = parse_isin(q.get("isin"), "isin")
        src, dest = parse_account(q.get("from"), "from"), parse_account(q.get("to"), "to")
        amount = parse_count(q.get("amount", "0"), "amount")
        return lambda s: s.restriction(isin, src, dest, amount)

    def proposals(r: Request) -> Callable[[SecuritiesReader], Any]:
        raw = query(r).get("account")
        account = None if raw is None else parse_account(raw, "account")
        return lambda s: s.proposals(account=account)

    def proposal(r: Request) -> Callable[[SecuritiesReader], Any]:
        n = parse_count(path(r, "id"), "id")
        return lambda s: s.proposal(n)

    def dividends(r: Request) -> Callable[[SecuritiesReader], Any]:
        raw = query(r).get("isin")
        isin = None if raw is None else parse_isin(raw, "isin")
        return lambda s: s.dividends(isin) if isin is None or isin in s.isins() else None

    def dividend(r: Request) -> Callable[[SecuritiesReader], Any]:
        n = parse_count(path(r, "id"), "id")
        return lambda s: s.dividend(n)

    def cash_token(r: Request) -> Callable[[SecuritiesReader], Any]:
        currency = parse_currency(path(r, "currency"), "currency")
        return lambda s: s.cash_token(currency)

    def cash_balances(r: Request) -> Callable[[SecuritiesReader], Any]:
        account = parse_account(path(r, "account"), "account")
        return lambda s: s.cash_balances(account)

    base = "/api/v1/securities"
    return [
        route(f"{base}/instruments", lambda r: lambda s: s.instruments()),
        route(f"{base}/instruments/{{isin}}", instrument, "instrument not found"),
        route(f"{base}/instruments/{{isin}}/book", book, "instrument not found"),
        route(f"{base}/instruments/{{isin}}/holders", holders, "instrument not found"),
        route(f"{base}/orders", orders),
        route(f"{base}/orders/{{id}}", order, "order not found"),
        route(f"{base}/trades", trades),
        route(f"{base}/trades/{{id}}", trade, "trade not found"),
        route(f"{base}/holdings/{{account}}", holdings),
        route(f"{base}/investors", lambda r: lambda s: s.investors()),
        route(f"{base}/investors/{{account}}", investor),
        route(f"{base}/restriction", restriction),
        route(f"{base}/bilateral-trades", proposals),
        route(f"{base}/bilateral-trades/{{id}}", proposal, "bilateral trade not found"),
        route(f"{base}/dividends", dividends, "instrument not found"),
        route(f"{base}/dividends/{{id}}", dividend, "dividend not found"),
        route(f"{base}/forced-transfers", lambda r: lambda s: s.forced_transfers()),
        route("/api/v1/cash/tokens", lambda r: lambda s: s.cash_tokens()),
        route("/api/v1/cash/tokens/{currency}", cash_token, "cash token not found"),
        route("/api/v1/cash/balances/{account}", cash_balances),
    ]


def securities_openapi_paths() -> dict[str, Any]:
    address = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
    isin = {"type": "string", "pattern": "^[A-Z]{2}[A-Z0-9]{9}[0-9]$"}
    number = {"type": "integer", "minimum": 0}
    ok = {"content": {"application/json": {"schema": {"type": ["object", "array"]}}}}

    def param(name: str, where: str, schema: dict[str, Any], description: str = "") -> dict[
            str, Any]:
        return {"name": name, "in": where, "required": where == "path", "schema": schema,
                "description": description}

    def get(summary: str, tag: str, *params: dict[str, Any], found: bool = False) -> dict[
            str, Any]:
        responses: dict[str, Any] = {"200": {"description": summary, **ok},
                                     "400": {"description": "malformed input"}}
        if found:
            responses["404"] = {"description": "not found"}
        return {"get": {"summary": summary, "tags": [tag], "parameters": list(params),
                        "responses": responses}}

    base = "/api/v1/securities"
    s = "securities"
    return {
        f"{base}/instruments": get("Every instrument", s),
        f"{base}/instruments/{{isin}}": get("One instrument", s, param("isin", "path", isin),
                                            found=True),
        f"{base}/instruments/{{isin}}/book": get(
            "The order book's depth: bids and asks by price level", s,
            param("isin", "path", isin), param("levels", "query", number), found=True),
        f"{base}/instruments/{{isin}}/holders": get(
            "Holders now, or at the end of block `height` (record-date snapshot)", s,
            param("isin", "path", isin), param("height", "query", number), found=True),
        f"{base}/orders": get(
            "Orders matching every filter given", s, param("account", "query", address),
            param("isin", "query", isin), param("state", "query", {"type": "string"}),
            param("side", "query", {"type": "string", "enum": ["buy", "sell"]})),
        f"{base}/orders/{{id}}": get("One order", s, param("id", "path", number), found=True),
        f"{base}/trades": get(
            "Trades matching every filter given", s, param("account", "query", address),
            param("isin", "query", isin), param("state", "query", {"type": "string"})),
        f"{base}/trades/{{id}}": get("One trade", s, param("id", "path", number), found=True),
        f"{base}/holdings/{{account}}": get("An account's holdings", s,
                                            param("account", "path", address)),
        f"{base}/investors": get("The eligibility registry", s),
        f"{base}/investors/{{account}}": get("One investor's eligibility", s,
                                             param("account", "path", address)),
        f"{base}/restriction": get(
            "detectTransferRestriction: the ERC-1404 code and message of a transfer", s,
            param("isin", "query", isin), param("from", "query", address),
            param("to", "query", address), param("amount", "query", number)),
        f"{base}/bilateral-trades": get("Bilateral trade proposals", s,
                                        param("account", "query", address)),
        f"{base}/bilateral-trades/{{id}}": get("One bilateral trade proposal", s,
                                               param("id", "path", number), found=True),
        f"{base}/dividends": get("Dividends", s, param("isin", "query", isin)),
        f"{base}/dividends/{{id}}": get("One dividend", s, param("id", "path", number),
                                        found=True),
        f"{base}/forced-transfers": get("The regulator's forced transfers", s),
        "/api/v1/cash/tokens": get("Every cash token", "cash"),
        "/api/v1/cash/tokens/{currency}": get(
            "One cash token with its holders", "cash",
            param("currency", "path", {"type": "string", "pattern": "^[A-Z]{3}$"}),
            found=True),
        "/api/v1/cash/balances/{account}": get("An account's cash", "cash",
                                               param("account", "path", address)),
    }
