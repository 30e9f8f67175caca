"""The credit page (/console/credit): the generic service page (console/services.py: the
declared reads and writes) and what it cannot do alone — giving a consent (its expiry counted
in blocks from now, in the page) and checking a delivered report file against the hash its
agency put on chain: hashed in the page (WebCrypto), a mismatch refused in words and nothing
saved, as `consortium credit verify` / `download` do (static/js/credit.js)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consortium.console.app import Console
from consortium.console.forms import Form, relabelled_form
from consortium.console.registry import whole_page, whole_part
from consortium.console.services import declared, page_context

# what the page shows whole (fields, corrections, history), by the read answering it
WHOLE = {"query": "consortium_creditQuery", "record": "consortium_creditRecord",
         "consent": "consortium_creditConsent"}
# the declared reads of one object each, which the page's "whole" section shows instead
SHOWN_WHOLE = frozenset({"credit.query_detail", "credit.record_detail", "credit.consent_detail"})


def consent_form() -> Form | None:
    """grantConsent as the subject gives it (no role: the subject's own account)."""
    docs = {"grantee": ("lender", "The lender allowed to query: account or member."),
            "purpose": ("purpose", "What the query is for (the order must state the same)."),
            "expires_at": ("valid for (blocks from now)",
                           "It expires this many blocks after the next block (as `consortium "
                           "credit consent --blocks`); the height is read when you send."),
            "max_uses": ("uses", "Queries it serves.")}
    return relabelled_form("credit", "grantConsent", docs,
                           {"max_uses": {"default": "1"},
                            "expires_at": {"kind": "blocks-from-now"}},
                           key="credit.give-consent", title="Give consent",
                           summary="The data subject lets a lender query its credit.",
                           done="granted")


def routes(console: Console) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        service = declared()["credit"]
        response = console.page(request, "credit.html", active="services",
                                consent=consent_form(),
                                **await page_context(console, request, service,
                                                     shown_whole=SHOWN_WHOLE))
        # the report's location is the agency's server: this page alone may fetch from
        # http(s) origins (the server must allow it by CORS); scripts stay 'self' only
        policy = response.headers["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = policy.replace(
            "connect-src 'self' ws: wss:", "connect-src 'self' ws: wss: http: https:")
        return response

    async def one(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in WHOLE:
            return console.not_found(request, "credit object", kind)
        return await whole_page(console, request, WHOLE[kind], kind, request.path_params["id"],
                                service="credit", back=("/credit", "Credit"))

    async def one_part(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in WHOLE:
            return console.not_found(request, "credit object", kind)
        return await whole_part(console, request, WHOLE[kind], kind, request.path_params["id"])

    return [Route("/credit", page, methods=["GET"]),
            Route("/credit/{kind}/{id}", one, methods=["GET"]),
            Route("/credit/{kind}/{id}/part", one_part, methods=["GET"])]
