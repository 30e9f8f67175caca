"""The securities pages: where the generated service page (/services/securities) is not
enough for trading — a live order book, a trade tape, placing and cancelling orders, letting
the settlement contract lock cash, one's own holdings, bilateral trades, settlement due and
dividends, each with the action a row calls for.

    /securities                       instruments, settlement due, dividends, and (signed in)
                                      one's holdings, cash, orders and bilateral trades
    /securities/part/{part}           one of those parts (a partial, re-read live)
    /securities/{isin}                an instrument: depth, trades, open orders, order forms
    /securities/{isin}/part/{part}    its depth or open orders (partials, re-read live)

Parts are re-read on the contracts' logs (live.js); the trade tape appends TradeExecuted
logs as they come and catches up with eth_getLogs after a reconnect (book.js). Forms are
declared here from the shipped ABIs and signed in the page (sign_forms.js), like the
generated ones; the plain declared writes keep their generated page.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consortium.apps.securities.model import GAS_MARGIN, isin_problem
from consortium.apps.surface import BadValue, account_hex
from consortium.console.app import Console, ConsoleRpcError, hexint
from consortium.console.forms import Field, Form, script_json, service_contracts, service_forms

UNLIMITED = str(2**256 - 1)  # an allowance never used up; text, so JS keeps every digit
SIDE = ("buy", "sell")
LEVELS = 10
ACCOUNT_PARTS = ("holdings", "cash", "orders", "proposals")
PARTS = ("instruments", "due", "dividends", *ACCOUNT_PARTS)


def _fragment(contract: str, method: str) -> dict[str, Any]:
    abi = service_contracts()[contract].abi
    return next(e for e in abi if e.get("type") == "function" and e["name"] == method)


def place_form(isin: str) -> Form:
    """placeOrder for one instrument: side, limit price, quantity, expiry."""
    c = service_contracts()["securities"]
    return Form("securities.place", "Place order",
                "A limit order: it trades with the book at once where it crosses, the rest "
                "rests. A buy locks price × quantity of your cash (approve it first).",
                c.address, _fragment("securities", "placeOrder"), (
                    Field("side", "choice", "uint8", choices=SIDE),
                    Field("price", "amount", "uint256",
                          doc="Cash per unit, in the cash token's smallest unit."),
                    Field("quantity", "amount", "uint256", doc="Units of the instrument."),
                    Field("expiry", "integer", "uint256", required=False, default=0,
                          doc="Last block the order rests (0: until filled or cancelled)."),
                ), roles=("investor",), margin=GAS_MARGIN, done="order placed",
                fixed={"isin": isin})


def approve_form(currency: str | None = None) -> Form:
    """CashTokens.approve for the settlement contract: what a buyer does once per currency."""
    cash = service_contracts()["cash"]
    settlement = service_contracts()["securities"].address
    return Form("cash.approve", "Let settlement lock my cash",
                "Once per currency, before buying: lets the settlement contract lock the cash "
                "of your orders and trades (unlimited, as ERC-20 approvals go).",
                cash.address, _fragment("cash", "approve"),
                (Field("currency", "currency", "string", default=currency),),
                roles=("investor",), done="approved",
                fixed={"spender": settlement, "amount": UNLIMITED})


def propose_form() -> Form:
    """A bilateral trade proposed to a named counterparty."""
    c = service_contracts()["securities"]
    return Form("securities.propose", "Propose a bilateral trade",
                "Your side, with a counterparty who accepts or declines; your leg is locked.",
                c.address, _fragment("securities", "propose"), (
                    Field("isin", "isin", "string"),
                    Field("counterparty", "account", "address",
                          doc="0x account or member name."),
                    Field("side", "choice", "uint8", choices=SIDE, doc="Your side."),
                    Field("quantity", "amount", "uint256", doc="Units."),
                    Field("price", "amount", "uint256", doc="Cash smallest units per unit."),
                    Field("deadline", "integer", "uint256",
                          doc="Last block it can be accepted."),
                ), roles=("investor",), margin=GAS_MARGIN, done="proposed")


def row_form(key: str, method: str, fixed: dict[str, Any], label: str) -> Form:
    """A declared write of securities as a button for one row (its id fixed)."""
    declared = {f.method: f for f in _securities_forms()}[method]
    return replace(declared, key=f"{key}.{next(iter(fixed.values()))}", title=label,
                   fields=tuple(f for f in declared.fields if f.name not in fixed),
                   fixed=fixed, roles=())


def _securities_forms() -> list[Form]:
    from consortium.apps.securities.surface import SECURITIES

    return service_forms(SECURITIES)


def events_json() -> str:
    """Both contracts' events, for the page to decode receipts and the tape's logs."""
    contracts = service_contracts()
    return script_json({contracts[n].address: [e for e in contracts[n].abi if e["type"] == "event"]
                        for n in ("securities", "cash")})


def routes(console: Console) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        parts = {p: await part_context(console, request, p, {}) for p in PARTS
                 if p not in ACCOUNT_PARTS}
        return console.page(request, "securities.html", active="services", parts=parts,
                            account_parts=ACCOUNT_PARTS, approve=approve_form(),
                            propose=propose_form(), addresses=_addresses(),
                            events_json=events_json())

    async def part(request: Request) -> Response:
        name = request.path_params["part"]
        if name not in PARTS:
            return console.not_found(request, "part", name)
        context = await part_context(console, request, name, dict(request.query_params))
        return console.page(request, f"securities_{_template(name)}.html", c=context)

    async def instrument(request: Request) -> Response:
        isin = request.path_params["isin"].strip().upper()
        found = None if isin_problem(isin) else await console.rpc(
            "consortium_instrument", isin, request=request)
        if found is None:
            return console.not_found(request, "instrument", request.path_params["isin"])
        book = await book_context(console, request, isin)
        orders = await orders_context(console, request, isin)
        trades = await console.rpc("consortium_trades", {"isin": isin}, request=request)
        names = await member_names(console, request)
        return console.page(request, "securities_instrument.html", active="services",
                            inst=found, isin=isin, book=book, orders=orders,
                            trades=list(reversed(trades))[:MAX_TRADES],
                            place=place_form(isin), approve=approve_form(found["currency"]),
                            addresses=_addresses(), names=names,
                            names_json=script_json(names),
                            height=hexint(await console.rpc("eth_blockNumber")),
                            events_json=events_json())

    async def instrument_part(request: Request) -> Response:
        isin, name = request.path_params["isin"].strip().upper(), request.path_params["part"]
        if isin_problem(isin) or name not in ("book", "orders"):
            return console.not_found(request, "part", f"{isin}/{name}")
        if name == "book":
            return console.page(request, "securities_book.html",
                                book=await book_context(console, request, isin))
        # the open orders (their owners by name)
        return console.page(request, "securities_orders.html",
                            c=await orders_context(console, request, isin))

    return [Route("/securities", index, methods=["GET"]),
            Route("/securities/part/{part}", part, methods=["GET"]),
            Route("/securities/{isin}", instrument, methods=["GET"]),
            Route("/securities/{isin}/part/{part}", instrument_part, methods=["GET"])]


MAX_TRADES = 50  # trades the tape shows (the newest)


async def member_names(console: Console, request: Request) -> dict[str, str]:
    """account (lower-case) -> its member's name, for the tables' parties."""
    try:
        members = await console.rpc("consortium_members", request=request)
    except ConsoleRpcError:
        return {}
    return {str(a).lower(): str(m["name"]) for m in members or [] for a in m.get("accounts", [])}


def _addresses() -> str:
    contracts = service_contracts()
    return f"{contracts['securities'].address} {contracts['cash'].address}"


# Each part's rows as the declared read that answers them (its CSV link, console/csv_export.py):
# service/read and the query it takes ("account": the signed-in one's)
CSV_READS = {"instruments": ("securities/instruments", {}),
             "holdings": ("securities/holdings", {"account": ""}),
             "cash": ("cash/cash_balances", {"account": ""}),
             "orders": ("securities/orders", {"account": ""}),
             "proposals": ("securities/proposals", {"account": ""}),
             "due": ("securities/trades", {"state": "pending"}),
             "dividends": ("securities/dividends_listed", {})}


def csv_path(read: str, query: dict[str, str]) -> str:
    """A read's CSV under /console/csv/ for a query (empty values left out)."""
    kept = {k: v for k, v in query.items() if v}
    return f"services/{read}" + (f"?{urlencode(kept)}" if kept else "")


def _template(part: str) -> str:
    return "list" if part in ("instruments", "holdings", "cash") else part


async def book_context(console: Console, request: Request, isin: str) -> dict[str, Any]:
    book = await console.rpc("consortium_orderBook", isin, LEVELS, request=request)
    return book or {"isin": isin, "bids": [], "asks": [], "currency": "", "paused": False}


def unclosed(row: dict[str, Any]) -> bool:
    """A row read "expired" past its height that nobody expired on chain yet (closedAt 0):
    it still holds its lock, and anyone may close it."""
    return row["state"] == "expired" and not row.get("closedAt")


def order_form(o: dict[str, Any]) -> Form | None:
    """An order's button: Cancel while open, Expire once past its expiry but not closed."""
    if o["state"] == "open":
        return row_form("cancel", "cancelOrder", {"order_id": o["id"]}, "Cancel")
    if unclosed(o):
        return row_form("expire", "expireOrder", {"order_id": o["id"]}, "Expire")
    return None


def due_forms(trades: list[dict[str, Any]], height: int) -> dict[int, Form]:
    """The due page's buttons for the next block (height + 1): Settle from a trade's settle
    height until its deadline, Expire from its deadline (a lapsed trade reads "expired" and
    holds both locks until then); none before its settle height."""
    forms = {}
    for t in trades:
        if t["state"] == "pending" and t["settleHeight"] <= height + 1 < t["deadline"]:
            forms[t["id"]] = row_form("settle", "settle", {"trade_id": t["id"]}, "Settle")
        elif (t["state"] == "pending" or unclosed(t)) and t["deadline"] <= height + 1:
            forms[t["id"]] = row_form("expire", "expireTrade", {"trade_id": t["id"]}, "Expire")
    return forms


async def orders_context(console: Console, request: Request, isin: str) -> dict[str, Any]:
    orders = await console.rpc("consortium_orders", {"isin": isin, "state": "open"},
                               request=request)
    return {"part": "orders", "rows": orders, "error": "",
            "csv": csv_path("securities/orders", {"isin": isin, "state": "open"}),
            "names": await member_names(console, request),
            "forms": {o["id"]: form for o in orders if (form := order_form(o))}}


async def part_context(console: Console, request: Request, name: str,
                       query: dict[str, str]) -> dict[str, Any]:
    """What one part's template shows: {"part", "error"} or its rows and forms."""
    out: dict[str, Any] = {"part": name, "rows": [], "error": "", "forms": {},
                           "names": await member_names(console, request)}
    try:
        if name in ACCOUNT_PARTS:
            text = (query.get("account") or "").strip()
            if not text:
                out["error"] = "Sign in to see your own."
                return out
            account = account_hex(text)
            out["account"] = account
            if name == "holdings":
                out["rows"] = await console.rpc("consortium_holdings", account, request=request)
            elif name == "cash":
                out["rows"] = await console.rpc("consortium_cashBalances", account,
                                                request=request)
            elif name == "orders":
                out["rows"] = list(reversed(await console.rpc(
                    "consortium_orders", {"account": account}, request=request)))
                out["forms"] = {o["id"]: form for o in out["rows"]
                                if (form := order_form(o))}
            else:
                out["rows"] = list(reversed(await console.rpc(
                    "consortium_bilateralTrades", account, request=request)))
                out["forms"] = {p["id"]: proposal_forms(p, account) for p in out["rows"]
                                if p["state"] == "proposed"}
        elif name == "instruments":
            out["rows"] = await console.rpc("consortium_instruments", request=request)
        elif name == "due":
            height = hexint(await console.rpc("eth_blockNumber"))
            pending = await console.rpc("consortium_trades", {"state": "pending"},
                                        request=request)
            # past their deadline they read "expired" but hold both locks until expired
            lapsed = [t for t in await console.rpc("consortium_trades", {"state": "expired"},
                                                   request=request) if unclosed(t)]
            out["height"] = height
            out["rows"] = pending + lapsed
            out["forms"] = due_forms(out["rows"], height)
        elif name == "dividends":
            out["rows"] = list(reversed(await console.rpc("consortium_dividends",
                                                          request=request) or []))
            out["forms"] = {d["id"]: (row_form("distribute", "distributeDividend",
                                               {"dividend_id": d["id"]}, "Distribute"),
                                      row_form("claim", "claimDividend",
                                               {"dividend_id": d["id"]}, "Claim mine"))
                            for d in out["rows"] if d.get("state") != "paid"}
    except (BadValue, ConsoleRpcError) as exc:
        out["error"] = str(exc)
    if name in CSV_READS:
        read, query = CSV_READS[name]
        out["csv"] = csv_path(read, {k: v or out.get(k, "") for k, v in query.items()})
    return out


def proposal_forms(proposal: dict[str, Any], account: str) -> list[Form]:
    """What the signed-in party can do with an open proposal: accept or decline (the
    counterparty), cancel (the proposer)."""
    pid = {"proposal_id": proposal["id"]}
    if str(proposal["counterparty"]).lower() == account.lower():
        return [row_form("accept", "accept", pid, "Accept"),
                row_form("decline", "cancelProposal", pid, "Decline")]
    return [row_form("withdraw", "cancelProposal", pid, "Withdraw")]
