"""The registry page (/console/registry): the generic service page (console/services.py: the
declared reads and writes — approve, reject, transfer, pledge, freeze …) and what it cannot do
alone: applying for an asset as `consortium registry apply` does (the external id hashed in
the page under the consortium key file the user picks, the deed hashed in the page: neither
reaches the node; static/js/registry.js), and one asset shown whole — approvals, pledges and
its full history of transitions — live on the contract's logs (/registry/asset/{id}): in
place of the generic page's table of the `asset` read, which showed the same asset flat."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consortium.console.app import Console, ConsoleRpcError
from consortium.console.forms import (
    Form,
    method_forms,
    relabelled_form,
    script_json,
    service_contracts,
    table_rows,
)
from consortium.console.securities import member_names
from consortium.console.services import declared, page_context


def apply_form() -> Form | None:
    """Registry.apply with the external id's hash filled in by the page and the deed a file."""
    docs = {"class_id": ("class id", "The class's id (Asset classes, below)."),
            "external_id_hash": ("external id hash",
                                 "Filled in from the external id and the key above."),
            "metadata_hash": ("deed", "The deed or metadata file (hashed here) or its 0x SHA-256."),
            "owner": ("owner", "You, unless a registrar applies for an owner.")}
    return relabelled_form("registry", "apply", docs, {"metadata_hash": {"kind": "digest"}},
                           key="registry.apply", title="Apply",
                           summary="Apply for an asset's registration (k registrars then approve).",
                           done="applied")


def whole(found: dict[str, Any], names: dict[str, str] | None = None) -> dict[str, Any]:
    """One object's answer (an asset, a credit query or record) as the page's tables: its
    fields, then each of its lists (pledges, corrections, history) as a table of its own;
    an account a member holds is shown with the member's name."""
    found = named(found, names or {})
    scalars = {k: v for k, v in found.items() if not isinstance(v, list)}
    if "approvedBy" in found:
        scalars["approved by"] = ", ".join(found["approvedBy"]) or None
    lists = {k: table_rows(v) for k, v in found.items()
             if isinstance(v, list) and k != "approvedBy"}
    return {"fields": table_rows(scalars)[1], "lists": lists}


def named(value: Any, names: dict[str, str]) -> Any:
    """`value` with each account a member holds written "Name (0x…)"."""
    if isinstance(value, dict):
        return {k: named(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [named(v, names) for v in value]
    if isinstance(value, str) and value.lower() in names:
        return f"{names[value.lower()]} ({value})"
    return value


LIST_TITLES = {"pledges": "Pledges", "corrections": "The record and its corrections (oldest first)",
               "history": "History (every transition, oldest first)"}


def release_forms(found: dict[str, Any],
                  names: dict[str, str] | None = None) -> list[tuple[int, Form, str, str]]:
    """(pledge, its Release button, its secured party's account and name) per active pledge
    of an asset: the button is shown to the secured party only (the contract lets no one
    else release it), anyone else signed in is told who may."""
    release = next((f for f in method_forms("registry") if f.method == "release"), None)
    if release is None:
        return []
    out = []
    for p in found.get("pledges", []):
        if p.get("state") != "active":
            continue
        party = str(p.get("securedParty") or "").lower()
        form = replace(
            release, key=f"registry.release-{p['pledge']}", title=f"Release pledge {p['pledge']}",
            summary="The secured party releases its pledge.", fields=(), done="released",
            fixed={"asset_id": str(found["id"]), "pledge_index": str(p["pledge"])})
        out.append((int(p["pledge"]), form, party, (names or {}).get(party, party)))
    return out


async def whole_read(console: Console, request: Request, rpc: str, noun: str,
                     text: str) -> tuple[dict[str, Any] | None, str, int]:
    """One object (read by `rpc` with its id `text`): (its answer, "", 200), or (None, why
    not, status: 404 for a bad id or none such, 503 for a read that failed)."""
    if not text.isdigit() or int(text) < 1:
        return None, f"{noun} id: expected a positive whole number, got {text!r}", 404
    try:
        found = await console.rpc(rpc, int(text), request=request)
    except ConsoleRpcError as exc:
        return None, str(exc), 503
    if found is None:
        return None, f"no {noun} {text}", 404
    return found, "", 200


async def whole_context(console: Console, request: Request, found: dict[str, Any], noun: str,
                        text: str) -> dict[str, Any]:
    """What registry_asset.html shows of one object found."""
    names = await member_names(console, request)
    return {"title": f"{noun.capitalize()} {text}",
            "whole": whole(found, names),
            "titles": LIST_TITLES,
            "releases": release_forms(found, names) if noun == "asset" else []}


async def whole_part(console: Console, request: Request, rpc: str, noun: str,
                     text: str) -> Response:
    """The partial showing one object whole (read by `rpc` with its id `text`), or a line
    saying why not (404: a bad id, none such): what a page keeps live."""
    found, why, status = await whole_read(console, request, rpc, noun, text)
    if found is None:
        return console.page(request, "registry_asset.html", status=status, error=why)
    return console.page(request, "registry_asset.html",
                        page_url=request.url.path.removesuffix("/part"),
                        **await whole_context(console, request, found, noun, text))


async def whole_page(console: Console, request: Request, rpc: str, noun: str, text: str, *,
                     service: str, back: tuple[str, str]) -> Response:
    """One object whole as a console page of its own (the shell, sign-in, its Release
    buttons), kept live from `part_url`; the 404 page for a bad id or none such."""
    found, why, status = await whole_read(console, request, rpc, noun, text)
    if found is None and status == 404:
        return console.page(request, "404.html", status=404, what=noun, searched=text,
                            hint=why[0].upper() + why[1:] + ".")
    if found is None:
        return console.page(request, "error.html", status=status, message=why)
    contract = service_contracts()[service]
    events = {contract.address: [e for e in contract.abi if e["type"] == "event"]}
    return console.page(request, "object.html", active="services", noun=noun, object_id=text,
                        part_url=f"{request.url.path.rstrip('/')}/part", back=back,
                        contract=contract.address, events_json=script_json(events),
                        **await whole_context(console, request, found, noun, text))


def routes(console: Console) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        service = declared()["registry"]
        return console.page(request, "registry.html", active="services", apply=apply_form(),
                            **await page_context(console, request, service,
                                                 shown_whole=frozenset({"registry.asset"})))

    async def asset(request: Request) -> Response:
        return await whole_page(console, request, "consortium_asset", "asset",
                                request.path_params["id"], service="registry",
                                back=("/registry", "Registry"))

    async def asset_part(request: Request) -> Response:
        return await whole_part(console, request, "consortium_asset", "asset",
                                request.path_params["id"])

    return [Route("/registry", page, methods=["GET"]),
            Route("/registry/asset/{id}", asset, methods=["GET"]),
            Route("/registry/asset/{id}/part", asset_part, methods=["GET"])]
