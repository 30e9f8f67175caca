"""The invoices page: where the generated service page (/services/invoices) is not enough —
invoices by state with each row's lifecycle actions for its seller, buyer, banks and the tax
authority, and issuing or importing a CSV file, whose fingerprints are computed in the page.

    /invoices                 the page: state filter, the list, issue form, CSV import
    /invoices/part/list       the list for ?state=&role=seller|buyer|bank&account= (a
                              partial, re-read live on the contract's logs)
    /invoices/check  (POST)   the CSV import's off-chain check: {csv, signer} -> the rows

A fingerprint is HMAC-SHA256 under the consortium key, which the user picks as a file in the
page (as the keystore): the page computes it with WebCrypto and the key never reaches the
node. The rows are checked here by the CLI's own code (`csv_import.read_rows`: the same
refusals, by line), which answers each good row's normalised fields; the page then checks
them on chain (registered already? the issue call's dry run), sends nothing if any row is
refused and "all or nothing" is ticked, and signs one issue per row.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from consortium.apps.invoices.csv_import import REQUIRED, read_rows
from consortium.apps.invoices.fingerprint import FieldError, keyed_hash, normalise
from consortium.apps.invoices.model import FINAL_STATES, STATES
from consortium.apps.surface import BadValue, account_hex
from consortium.console.app import SECURITY_HEADERS, Console, ConsoleRpcError
from consortium.console.forms import Form, script_json, service_contracts, service_forms
from consortium.console.securities import member_names
from consortium.errors import ConsortiumError

MAX_CSV_BYTES = 2_000_000  # a larger file: the CLI's `invoice import`
# read_rows computes fingerprints to find repeated rows; any fixed key finds the same
# repeats, and the real fingerprints are computed in the page
CHECK_KEY = bytes(32)
# where a refusal quotes a row's fingerprint: the page writes the real one's first 16 hex
# digits there (0x…), as the CLI quotes it
FINGERPRINT_SLOT = "{fingerprint}"
ROLES = ("seller", "buyer", "bank")
# (reimburse is the consumer path issued -> reimbursed, which the contract allows the buyer
# in state issued: its title says so, as the other path's confirm is beside it)
TITLES = {"request-financing": "Request financing", "default": "Mark defaulted",
          "reimburse": "Reimbursed (consumer invoice: ends it)"}

# Which of an invoice's writes its row offers in which state, and to whom: ("account", the
# invoice's field that must be the signer) or ("role", a role the signer must hold).
ACTIONS: dict[str, tuple[tuple[str, tuple[str, str]], ...]] = {
    "issued": (("confirm", ("account", "buyer")), ("reimburse", ("account", "buyer")),
               ("cancel", ("account", "seller"))),
    "confirmed": (("request-financing", ("account", "seller")),
                  ("cancel", ("account", "seller"))),
    "financing_requested": (("finance", ("role", "financing_bank")),
                            ("cancel", ("account", "seller"))),
    "financed": (("finance", ("role", "financing_bank")), ("repay", ("account", "buyer")),
                 ("default", ("role", "financing_bank"))),
}


def declared_forms() -> dict[str, Form]:
    from consortium.apps.invoices.surface import INVOICES

    return {f.key.split(".", 1)[1]: f for f in service_forms(INVOICES)}


def row_actions(invoice: dict[str, Any]) -> list[tuple[str, str, Form]]:
    """(attribute, value, form) for each action an invoice's row offers: the form's
    fingerprint fixed, shown where `data-account` or `data-roles` says."""
    forms = declared_forms()
    fp = invoice["fingerprint"]
    out = []
    wanted = list(ACTIONS.get(invoice["state"], ()))
    if invoice["state"] not in FINAL_STATES:
        wanted.append(("set_tax_verified", ("role", "tax_authority")))
    for name, (how, who) in wanted:
        declared = forms[name]
        form = replace(declared, key=f"{declared.key}.{fp[2:12]}",
                       title=TITLES.get(name, declared.title),
                       fields=tuple(f for f in declared.fields if f.name != "fingerprint"),
                       fixed={"fingerprint": fp}, roles=() if how == "account" else (who,))
        if name == "set_tax_verified":
            form = replace(form, title="Tax verified" if not invoice.get("taxVerified")
                           else "Withdraw tax verification",
                           fields=tuple(f for f in form.fields if f.name != "verified"),
                           fixed={**form.fixed, "verified": not invoice.get("taxVerified")})
        out.append(("account", str(invoice[who]), form) if how == "account"
                   else ("roles", who, form))
    return out


def issue_spec() -> dict[str, Any]:
    """What the page needs to encode an issue call: the contract and the method's ABI."""
    contract = service_contracts()["invoices"]
    fragment = next(e for e in contract.abi if e.get("type") == "function"
                    and e["name"] == "issue")
    return {"contract": contract.address, "fragment": fragment}


def routes(console: Console) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        query = dict(request.query_params)
        contract = service_contracts()["invoices"]
        events = {contract.address: [e for e in contract.abi if e["type"] == "event"]}
        return console.page(request, "invoices.html", active="services", states=STATES,
                            roles=ROLES, query=query,
                            listing=await listing(console, request, query),
                            contract=contract.address, events_json=script_json(events),
                            issue_json=script_json(issue_spec()), columns=REQUIRED)

    async def part(request: Request) -> Response:
        return console.page(request, "invoices_list.html",
                            listing=await listing(console, request, dict(request.query_params)))

    async def check(request: Request) -> Response:
        body = (await request.body())[:MAX_CSV_BYTES + 1]
        if len(body) > MAX_CSV_BYTES:
            return _json({"error": "the file is over 2 MB: import it with "
                                   "`consortium invoice import`"}, 413)
        try:
            given = json.loads(body)
            text, signer = str(given["csv"]).removeprefix("\ufeff"), account_hex(given["signer"])
        except (ValueError, KeyError, TypeError, BadValue) as exc:
            return _json({"error": f"expected {{csv, signer}}: {exc}"}, 400)
        try:
            return _json(await check_csv(console, request, text, signer))
        except (ConsortiumError, ConsoleRpcError) as exc:  # a header lacking columns…
            return _json({"error": str(exc)}, 400)

    return [Route("/invoices", page, methods=["GET"]),
            Route("/invoices/part/list", part, methods=["GET"]),
            Route("/invoices/check", check, methods=["POST"])]


def _json(value: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(value, status_code=status, headers=SECURITY_HEADERS)


async def listing(console: Console, request: Request, query: dict[str, str]) -> dict[str, Any]:
    """The invoices for the query's state and the signer's part in them."""
    state = (query.get("state") or "").strip()
    role = (query.get("role") or "").strip()
    out: dict[str, Any] = {"rows": [], "error": "", "state": state, "role": role, "actions": {}}
    filters: dict[str, str] = {}
    if state:
        if state not in STATES:
            out["error"] = f"state: expected one of {', '.join(STATES)}"
            return out
        filters["state"] = state
    if role:
        if role not in ROLES:
            out["error"] = f"role: expected one of {', '.join(ROLES)}"
            return out
        try:
            filters[role] = account_hex(query.get("account") or "")
        except BadValue:
            out["error"] = "Sign in to see your own."
            return out
    try:
        rows = await console.rpc("consortium_invoices", filters, request=request)
    except ConsoleRpcError as exc:
        out["error"] = str(exc)
        return out
    out["rows"] = list(reversed(rows))
    # the CSV link's read and query (console/csv_export.py): the same filters
    out["csv"] = "services/invoices/invoices" + (f"?{urlencode(filters)}" if filters else "")
    out["names"] = await member_names(console, request)
    out["actions"] = {i["fingerprint"]: row_actions(i) for i in out["rows"]}
    return out


async def check_csv(console: Console, request: Request, text: str,
                    signer: str) -> dict[str, Any]:
    """The CLI's off-chain check of a CSV file (csv_import.read_rows), with each good row's
    normalised fields (the page computes its fingerprint) and issue arguments. Raises the
    CLI's ConfigError for a file it cannot read at all (a header lacking columns)."""
    names = await _names(console, request, text)
    rows, refused, count = read_rows(text, CHECK_KEY, signer, names.get)
    fields = _fields_by_line(text)
    return {"rows": count,
            "refused": [_refusal(r.line, r.reason, fields) for r in refused],
            "good": [{"line": r.line, "number": r.number, "message": fields[r.line],
                      "seller": r.args[1], "buyer": r.args[2], "amount": str(r.args[3]),
                      "currency": r.args[4], "dueDate": r.args[5]} for r in rows]}


def _refusal(line: int, reason: str, fields: dict[int, str]) -> dict[str, Any]:
    """A refused row as the page shows it. read_rows quotes a repeated row's fingerprint,
    which it computed under CHECK_KEY: that one is replaced by FINGERPRINT_SLOT and the row's
    fingerprint message given, so the page puts in the real fingerprint (HMAC under the
    consortium key, which only the page has) and the wording stays the CLI's."""
    message = fields.get(line)
    if message is not None:
        placeholder = "0x" + keyed_hash(CHECK_KEY, message.encode("utf-8")).hex()[:16]
        if placeholder in reason:
            return {"line": line, "reason": reason.replace(placeholder, FINGERPRINT_SLOT),
                    "fingerprintOf": message}
    return {"line": line, "reason": reason}


def _records(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and (line, record) of each data row, numbered as read_rows numbers them."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    out = []
    end = reader.line_num
    for record in reader:
        line, end = end + 1, reader.line_num
        out.append((line, record))
    return header, out


def _fields_by_line(text: str) -> dict[int, str]:
    """Each well-formed row's fingerprint message (the normalised fields it is the HMAC
    of), by line."""
    header, records = _records(text)
    out = {}
    for line, record in records:
        if len(record) != len(header):
            continue
        value = dict(zip(header, record, strict=True))
        try:
            fields = normalise(value["seller_tax_id"], value["invoice_number"],
                               value["issue_date"], value["amount"])
        except (FieldError, KeyError):
            continue
        out[line] = fields.message().decode("utf-8")
    return out


async def _names(console: Console, request: Request, text: str) -> dict[str, str]:
    """The member names the file gives as buyer or seller, resolved to their first account
    (unknown names are left for read_rows to refuse)."""
    header, records = _records(text)
    wanted = {record[header.index(c)].strip() for _, record in records
              for c in ("buyer", "seller") if c in header and len(record) == len(header)}
    out = {}
    for name in sorted(n for n in wanted if n and not n.lower().startswith("0x"))[:200]:
        try:
            member = await console.rpc("consortium_member", name, request=request)
        except ConsoleRpcError:
            continue
        if member and member.get("accounts"):
            out[name] = str(member["accounts"][0]).lower()
    return out
