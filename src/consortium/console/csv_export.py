"""CSV downloads of the console's tables (issue 20: "CSV export of any list"): the same rows
and column headers the page shows, as text — accounts as 0x addresses with a member-name
column beside them where the page names them, amounts in smallest units.

    /csv/services/{service}/{read}   any declared read's table, for the page's parameters
    /csv/governance/{list}           members, proposals (fromBlock/toBlock: created in range),
                                     roles, officers, task-forces

A bad read or list is the 404 page; a bad parameter is one line with status 400 (a download
must not save an HTML page as a .csv). At most MAX_ROWS rows; a last line says it was cut.
A read that answers a page at a time (`limit`, `after`) is exported whole — page after page —
unless the query names a `limit`; an empty answer still has its header (the columns of the
read's first object, whatever the filters).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from consortium.apps.surface import PAGE_LIMIT, BadValue
from consortium.console.app import Console
from consortium.console.forms import read_table
from consortium.console.governance import governance_state, params_text
from consortium.console.services import answer, declared

MAX_ROWS = 100_000
BLOCK_RANGE = ("fromBlock", "toBlock")


def csv_response(name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 more: int = 0) -> Response:
    """`rows` under `columns` as a CSV attachment `name`.csv; `more` rows left out are told
    on a last line (as are rows past MAX_ROWS; -1: some, not counted)."""
    more = -1 if more < 0 else more + max(0, len(rows) - MAX_ROWS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else str(v) for v in row] for row in rows[:MAX_ROWS])
    if more:
        count = "" if more < 0 else f"{more} "
        writer.writerow([f"cut: {count}more rows not listed (at most {MAX_ROWS}); "
                         "narrow the filters or the block range"])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                             "X-Content-Type-Options": "nosniff"})


def refused(message: str, status: int = 400) -> Response:
    """A parameter refused: one line, not a page."""
    return PlainTextResponse(message + "\n", status_code=status)


def unknown_keys(query: dict[str, str], known: Sequence[str]) -> str | None:
    """The first query key this table does not take, as the refusal's text."""
    extra = sorted(set(query) - set(known))
    if not extra:
        return None
    return (f"{extra[0]}: unknown parameter (this table takes "
            f"{', '.join(known) or 'no parameters'})")


def block_range(query: dict[str, str]) -> tuple[int, int | None]:
    """fromBlock/toBlock (decimal or 0x), inclusive; raises BadValue naming the key."""
    bounds: list[int | None] = []
    for key in BLOCK_RANGE:
        text = (query.get(key) or "").strip()
        try:
            bounds.append(int(text, 0) if text else None)
        except ValueError:
            raise BadValue(f"{key}: expected a block number, not {text!r}") from None
        if (bounds[-1] or 0) < 0:
            raise BadValue(f"{key}: expected a block number, not {text!r}")
    low, high = bounds
    if low is not None and high is not None and high < low:
        raise BadValue(f"toBlock: {high} is before fromBlock {low}")
    return low or 0, high


def routes(console: Console) -> list[BaseRoute]:
    async def service_read(request: Request) -> Response:
        service = declared().get(request.path_params["service"])
        key = f"{request.path_params['service']}.{request.path_params['read']}"
        read = next((r for r in service.reads if r.name == request.path_params["read"]),
                    None) if service else None
        if service is None or read is None:
            return console.not_found(request, "read", key)
        table = read_table(service, read)
        query = dict(request.query_params)
        # a read declaring fromBlock/toBlock takes them as its own parameters
        why = unknown_keys(query, [f.name for f in (*table.params, *table.filters)])
        if why:
            return refused(why)
        paged = read.paged
        if paged and "limit" not in query:
            result = await every_page(console, request, service, table, query)
        else:
            result = await answer(console, request, service, table, query, limit=MAX_ROWS)
        if "error" in result:
            return refused(result["error"], 404 if result["error"] == "not found" else 400)
        if paged and not result["columns"]:  # its header, from any object of the read
            probe = await answer(console, request, service, table, {"limit": "1"}, limit=1)
            result["columns"] = probe.get("columns", [])
        return csv_response(key.replace(".", "-"), result["columns"], result["rows"],
                            result["more"])

    async def governance_list(request: Request) -> Response:
        name = request.path_params["list"]
        export = GOVERNANCE_LISTS.get(name)
        if export is None:
            return console.not_found(request, "governance list", name)
        query = dict(request.query_params)
        why = unknown_keys(query, BLOCK_RANGE if name == "proposals" else ())
        if why:
            return refused(why)
        try:
            span = block_range(query)
        except BadValue as exc:
            return refused(str(exc))
        state = await governance_state(console, request, all_proposals=True)
        columns, rows = export(state, span)
        return csv_response(f"governance-{name}", columns, rows)

    return [Route("/csv/services/{service}/{read}", service_read, methods=["GET"]),
            Route("/csv/governance/{list}", governance_list, methods=["GET"])]


async def every_page(console: Console, request: Request, service: Any, table: Any,
                     query: dict[str, str]) -> dict[str, Any]:
    """A paged read's answer page after page (from `after`, if given) up to MAX_ROWS rows
    (then "more": 1, told as cut): what the export promises, its whole list."""
    columns: list[str] = []
    rows: list[list[Any]] = []
    after = query.get("after", "0")
    while True:
        page = await answer(console, request, service, table,
                            {**query, "after": after, "limit": str(PAGE_LIMIT)}, limit=PAGE_LIMIT)
        if "error" in page:
            return page
        columns = columns or page["columns"]
        rows += page["rows"]
        if len(page["rows"]) < PAGE_LIMIT or "id" not in page["columns"]:
            return {"columns": columns, "rows": rows, "more": 0}
        if len(rows) >= MAX_ROWS:
            return {"columns": columns, "rows": rows[:MAX_ROWS], "more": -1}
        after = str(page["rows"][-1][page["columns"].index("id")])


# --- governance's lists, as its page shows them ------------------------------------------------

Rows = tuple[list[str], list[list[Any]]]


def _named(account: str | None, names: dict[str, str]) -> list[str]:
    return [account or "", names.get(account or "", "")]


def members_rows(state: dict[str, Any], span: tuple[int, int | None]) -> Rows:
    return (["id", "name", "tier", "status", "weight", "accounts", "since block"],
            [[m["id"], m["name"], m["tier"], m["status"], m["weight"], " ".join(m["accounts"]),
              m["since"]] for m in state["members"]])


def proposals_rows(state: dict[str, Any], span: tuple[int, int | None]) -> Rows:
    low, high = span
    names = state["names"]
    rows = [[p["id"], p["kind"], "; ".join(f"{k} {v}" for k, v in params_text(p["params"], names)),
             *_named(p["proposer"], names), p["status"], p["yesWeight"], p["noWeight"],
             p["tally"]["total"], p["createdAt"], p["expiresAt"], p["closedAt"], p["note"]]
            for p in (*state["open_proposals"], *state["closed_proposals"])
            if low <= p["createdAt"] and (high is None or p["createdAt"] <= high)]
    return (["id", "kind", "parameters", "proposer", "proposer name", "status", "yes weight",
             "no weight", "total weight", "created at block", "expires at block",
             "closed at block", "note"], sorted(rows, key=lambda r: r[0]))


def roles_rows(state: dict[str, Any], span: tuple[int, int | None]) -> Rows:
    return (["role", "account", "member"],
            [[role, *_named(a, state["names"])] for role, accounts in state["roles"]
             for a in accounts])


def officers_rows(state: dict[str, Any], span: tuple[int, int | None]) -> Rows:
    return (["office", "holder", "holder name", "vacant", "term ends at block",
             "elected at block"],
            [[o["office"], *_named(o["lastHolder"] if o["vacant"] else o["holder"], state["names"]),
              "yes" if o["vacant"] else "no", o["termEnd"], o["electedAt"]]
             for o in state["officers"]])


def task_forces_rows(state: dict[str, Any], span: tuple[int, int | None]) -> Rows:
    names = state["names"]
    return (["name", "lead", "lead name", "members", "member names", "charter",
             "formed at block"],
            [[t["name"], *_named(t["lead"], names), " ".join(t["members"]),
              "; ".join(names.get(a, "") for a in t["members"]), t["charter"], t["formedAt"]]
             for t in state["task_forces"]])


GOVERNANCE_LISTS: dict[str, Callable[[dict[str, Any], tuple[int, int | None]], Rows]] = {
    "members": members_rows, "proposals": proposals_rows, "roles": roles_rows,
    "officers": officers_rows, "task-forces": task_forces_rows}

__all__ = ["GOVERNANCE_LISTS", "MAX_ROWS", "csv_response", "routes"]
