"""The service pages, generated from the service declarations (`apps.services.SERVICES`):
one page per declared service with its reads as tables and its writes as forms — the same
declarations the CLI, the JSON-RPC methods, the REST routes and the docs come from, so a
read or write declared next shows here with no page written for it.

    /services                       every declared service, its reads and writes counted
    /services/{service}             its reads (tables) and writes (forms signed in the page)
    /services/{service}/read/{read} one read's table for the given parameters (a partial,
                                    re-read live when the service's contract logs)
    /services/{service}/call/{method}  a form for a contract method no declaration covers
                                    yet, its inputs from the shipped ABI (a partial)

A read is answered by the node's own JSON-RPC method (in process); its parameters are parsed
by their declared kinds first, so a bad value gets the same one-line message as anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consortium.apps.surface import BadValue, Service
from consortium.console.app import PREFIX, Console, ConsoleRpcError
from consortium.console.forms import (
    Form,
    TableSpec,
    method_forms,
    read_params,
    read_table,
    script_json,
    service_contracts,
    service_forms,
    table_rows,
)

MAX_ROWS = 200  # rows a table shows; the API and CSV export give the rest


def declared() -> dict[str, Service]:
    from consortium.apps.services import SERVICES

    return {s.name: s for s in SERVICES}


def routes(console: Console) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        return console.page(request, "services.html", active="services",
                            services=list(declared().values()))

    async def page(request: Request) -> Response:
        service = declared().get(request.path_params["service"])
        if service is None:
            return console.not_found(request, "service", request.path_params["service"])
        return console.page(request, "service.html", active="services",
                            **await page_context(console, request, service))

    async def read(request: Request) -> Response:
        service = declared().get(request.path_params["service"])
        key = f"{request.path_params['service']}.{request.path_params['read']}"
        table = next((read_table(service, r) for r in service.reads
                      if f"{service.name}.{r.name}" == key), None) if service else None
        if service is None or table is None:
            return console.not_found(request, "read", key)
        result = await answer(console, request, service, table, dict(request.query_params))
        query = request.url.query
        csv_url = f"{PREFIX}/csv/services/{key.replace('.', '/')}" + (f"?{query}" if query else "")
        return console.page(request, "service_table.html", table=table, result=result,
                            csv_url=csv_url)

    return [Route("/services", index, methods=["GET"]),
            Route("/services/{service}", page, methods=["GET"]),
            Route("/services/{service}/read/{read}", read, methods=["GET"]),
            method_form_route(console, "/services/{service}/call/{method}", method_forms)]


# A table's column whose values are ids of objects with a page of their own: the page's
# path (the id appended), by the read's key
OBJECT_LINKS = {"registry.assets": ("id", "/registry/asset/"),
                "credit.queries": ("id", "/credit/query/"),
                "credit.records": ("id", "/credit/record/"),
                "credit.consents": ("id", "/credit/consent/")}


async def page_context(console: Console, request: Request, service: Service,
                       shown_whole: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What service.html shows of a service (pages of their own extend it: credit, registry).
    `shown_whole`: reads (their keys) such a page shows whole in a section of its own, left
    out of the tables so one object is not offered twice under two near-identical titles."""
    tables = [read_table(service, r) for r in service.reads
              if f"{service.name}.{r.name}" not in shown_whole]
    initial = {t.key: await answer(console, request, service, t, {})
               for t in tables if not t.needs_input}
    contract = service_contracts().get(service.name)
    events = ({contract.address: [e for e in contract.abi if e["type"] == "event"]}
              if contract else {})
    return {"service": service, "tables": tables, "initial": initial,
            "forms": service_forms(service), "other_methods": other_methods(service),
            "contract": contract.address if contract else "", "events_json": script_json(events)}


def method_form_route(console: Console, path: str, forms_of: Callable[[str], list[Form]],
                      cls: str = "sign-form", label: str = "") -> Route:
    """GET `path` ({service}, {method}): that contract method's form, a partial the page
    fetches when the method is chosen (`cls`: the form's class, `label`: its button's)."""
    async def form(request: Request) -> Response:
        service, method = request.path_params["service"], request.path_params["method"]
        found = next((f for f in forms_of(service) if f.method == method), None)
        if found is None:
            return console.not_found(request, "contract method", f"{service}.{method}")
        return console.page(request, "sign_form_part.html", form=found, cls=cls, label=label)

    return Route(path, form, methods=["GET"])


def other_methods(service: Service) -> list[str]:
    """The contract's state-changing methods no declared write covers (callable from the
    page with inputs from the ABI)."""
    declared = {w.method for w in service.writes}
    return [f.method for f in method_forms(service.name) if f.method not in declared]


async def answer(console: Console, request: Request, service: Service, table: TableSpec,
                 query: dict[str, str], limit: int = MAX_ROWS) -> dict[str, Any]:
    """One read's answer as a table: {"columns", "rows", "more"} (past `limit`) or {"error"}."""
    try:
        query = await accounts_by_name(console, request, table, query)
        params = read_params(table, service, query)
        value = await console.rpc(table.rpc, *params, request=request)
    except (BadValue, ConsoleRpcError) as exc:
        return {"error": str(exc)}
    if value is None:
        return {"error": "not found"}
    columns, rows = table_rows(value)
    links = {columns.index(c): path for c, path in [OBJECT_LINKS.get(table.key, ("", ""))]
             if c in columns}
    return {"columns": columns, "rows": rows[:limit], "more": max(0, len(rows) - limit),
            "links": links}


async def accounts_by_name(console: Console, request: Request, table: TableSpec,
                           query: dict[str, str]) -> dict[str, str]:
    """An account parameter given as a member's name (as the forms take them): its first
    account. Unknown names are left for the declared kind to refuse."""
    out = dict(query)
    for field in (*table.params, *table.filters):
        text = (out.get(field.name) or "").strip()
        if field.kind == "account" and text and not text.lower().startswith("0x"):
            member = await console.rpc("consortium_member", text, request=request)
            if member is None:
                raise BadValue(f"{field.name}: no member named {text!r}")
            out[field.name] = member["accounts"][0]
    return out
