"""The registry page (/console/registry): the generic service page (console/services.py: the
declared reads and writes — approve, reject, transfer, pledge, freeze …) and what it cannot do
alone: applying for an asset as `consortium registry apply` does (the external id hashed in
the page under the consortium key file the user picks, the deed hashed in the page: neither
reaches the node; static/js/registry.js), and one asset shown whole — approvals, pledges and
its full history of transitions — live on the contract's logs (/registry/asset/{id})."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consortium.console.app import Console, ConsoleRpcError
from consortium.console.forms import Form, method_forms, service_contracts, table_rows
from consortium.console.services import declared, page_context


def apply_form() -> Form | None:
    """Registry.apply with the external id's hash filled in by the page and the deed a file."""
    found = next((f for f in method_forms("registry") if f.method == "apply"), None)
    if found is None:
        return None
    docs = {"class_id": ("class id", "The class's id (Asset classes, below)."),
            "external_id_hash": ("external id hash",
                                 "Filled in from the external id and the key above."),
            "metadata_hash": ("deed", "The deed or metadata file (hashed here) or its 0x SHA-256."),
            "owner": ("owner", "You, unless a registrar applies for an owner.")}
    fields = tuple(replace(f, label=docs[f.name][0], doc=docs[f.name][1],
                           kind="digest" if f.name == "metadata_hash" else f.kind)
                   if f.name in docs else f for f in found.fields)
    return replace(found, key="registry.apply", title="Apply",
                   summary="Apply for an asset's registration (k registrars then approve).",
                   fields=fields, done="applied")


def asset_parts(found: dict[str, Any]) -> dict[str, Any]:
    """An asset's answer as the page's tables: its fields, its pledges, its history."""
    scalars = {k: v for k, v in found.items() if not isinstance(v, list)}
    scalars["approved by"] = ", ".join(found.get("approvedBy", [])) or None
    return {"fields": table_rows(scalars)[1],
            "pledges": table_rows(found.get("pledges", [])),
            "history": table_rows(found.get("history", []))}


def routes(console: Console) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        service = declared()["registry"]
        return console.page(request, "registry.html", active="services",
                            apply=apply_form(), **await page_context(console, request, service))

    async def asset(request: Request) -> Response:
        text = request.path_params["id"]
        if not text.isdigit() or int(text) < 1:
            return console.page(request, "registry_asset.html", status=404, id=text,
                                error=f"asset id: expected a positive whole number, got {text!r}")
        try:
            found = await console.rpc("consortium_asset", int(text), request=request)
        except ConsoleRpcError as exc:
            return console.page(request, "registry_asset.html", error=str(exc), id=text)
        if found is None:
            return console.page(request, "registry_asset.html", status=404, id=text,
                                error=f"no asset {text}")
        contract = service_contracts().get("registry")
        return console.page(request, "registry_asset.html", id=text, asset=asset_parts(found),
                            contract=contract.address if contract else "")

    return [Route("/registry", page, methods=["GET"]),
            Route("/registry/asset/{id}", asset, methods=["GET"])]
