"""The console's sub-app: what every page handler is given (`Console`), the Jinja2
environment, the node sign-in form and the 404 page, mounted by the API at `/console`.

Handlers read through the node's own JSON-RPC methods, called in process (`Console.rpc`):
the same code, checks and limits as a client's call, and no second indexer to drift.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from consortium.api.auth import CONSOLE_COOKIE, CREDENTIAL_KEY, TokenCheck, hash_secret
from consortium.api.jsonrpc import JsonRpc, method_names
from consortium.api.read_gate import current_client
from consortium.errors import ConsortiumError

log = logging.getLogger("consortium.console")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PREFIX = "/console"
NAV = (("overview", "Overview", "/"), ("explorer", "Explorer", "/explorer"),
       ("governance", "Governance", "/governance"),
       ("forum", "Forum", "/forum"),
       ("services", "Services", "/services"))
# Our pages load scripts only from the node itself (no inline script, no CDN): a page that
# decrypts keystores in the browser must not run code injected into it.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
                                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                "connect-src 'self' ws: wss:; frame-ancestors 'none'; "
                                "base-uri 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class ConsoleRpcError(Exception):
    """A JSON-RPC call the console made in process was answered with an error."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Console:
    """What the page handlers share: the node's JSON-RPC (called in process), its name,
    its token check (None: the API asks no token) and the templates."""

    jsonrpc: JsonRpc
    node_name: str = "node"
    tokens: TokenCheck | None = None
    env: jinja2.Environment = field(default_factory=lambda: template_env())  # defined below

    @property
    def ledger(self) -> Any:
        return self.jsonrpc.ledger

    @property
    def run_sync(self) -> Callable[[Callable[[], Any]], Awaitable[Any]]:
        return self.jsonrpc.run_sync

    @staticmethod
    def has_method(name: str) -> bool:
        """Whether the node serves JSON-RPC method `name` (pages degrade without the
        optional ones, such as the explorer's decoding)."""
        return name in method_names()

    async def rpc(self, method: str, *params: Any, request: Request | None = None) -> Any:
        """Call one of the node's JSON-RPC methods in process; raises ConsoleRpcError."""
        if request is not None and request.client is not None:
            current_client.set(request.client.host)  # the heavy-read limits count per client
        answer = await self.jsonrpc.handle(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if "error" in answer:
            error = answer["error"]
            raise ConsoleRpcError(str(error.get("message")), int(error.get("code", 0)))
        return answer["result"]

    async def rpc_batch(self, calls: list[tuple[str, list[Any]]],
                        request: Request | None = None) -> list[Any]:
        """Several reads in one JSON-RPC batch (the ledger's run in one worker thread, one
        hand-over instead of one each): each call's result, or None where it was refused
        or the node lacks the method."""
        if request is not None and request.client is not None:
            current_client.set(request.client.host)
        if not calls:
            return []
        answers = await self.jsonrpc.handle(
            [{"jsonrpc": "2.0", "id": i, "method": method, "params": params}
             for i, (method, params) in enumerate(calls)])
        by_id = {a.get("id"): a for a in answers or []}
        return [by_id.get(i, {}).get("result") for i in range(len(calls))]

    async def engine(self, method: str) -> Any:
        """A CometBFT RPC answer (status, net_info, validators), or None if it is down."""
        try:
            return await self.jsonrpc.engine.call(method)
        except Exception as exc:  # the engine restarting must not break the page
            log.info("console: engine %s failed: %s", method, exc)
            return None

    def page(self, request: Request, template: str, *, status: int = 200,
             active: str = "", **context: Any) -> HTMLResponse:
        """A page rendered from `template` with the shell's context. (`status` is the HTTP
        status: a template's own variables need other names.)"""
        body = self.env.get_template(template).render(
            request=request, node=self.node_name, nav=NAV, active=active, prefix=PREFIX,
            node_auth=self.tokens is not None,
            node_credential=_credential_name(request), **context)
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    def not_found(self, request: Request, what: str = "", searched: str = "") -> HTMLResponse:
        """The 404 page, naming what was looked for."""
        return self.page(request, "404.html", status=404, what=what, searched=searched)


def template_env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]),
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["url"] = lambda path="/": PREFIX + path
    env.filters["short"] = short
    env.filters["utc"] = utc
    env.filters["hexint"] = hexint
    env.filters["ether"] = ether
    env.filters["units"] = units
    env.filters["quote"] = lambda s: quote(str(s), safe="")
    return env


def short(value: Any, keep: int = 10) -> str:
    """0x1234abcd…cdef: a hash or address shortened for tables."""
    text = str(value or "")
    return text if len(text) <= keep + 6 else f"{text[:keep]}…{text[-4:]}"


def hexint(value: Any) -> int:
    """An Ethereum JSON quantity ("0x1f") as an int (ints pass through)."""
    if isinstance(value, int):
        return value
    text = str(value or "0")
    return int(text, 16) if text.startswith("0x") else int(text or 0)


def utc(seconds: Any) -> str:
    """A block timestamp (seconds or 0x quantity) as UTC text."""
    when = dt.datetime.fromtimestamp(hexint(seconds), dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def ether(wei: Any) -> str:
    """An amount of wei shown in ether, exactly (no float rounding)."""
    return units(wei, 18)


def units(amount: Any, decimals: int) -> str:
    """A token amount in smallest units shown with its decimals, exactly."""
    whole, frac = divmod(hexint(amount), 10**decimals)
    return f"{whole:,}" + (f".{frac:0{decimals}d}".rstrip("0") if frac else "")


def _credential_name(request: Request) -> str:
    """The API credential the request came with ("token:NAME"), empty with auth off."""
    return str(request.scope.get(CREDENTIAL_KEY) or "")


def login_routes(console: Console) -> list[BaseRoute]:
    """Signing in to the node (`[api] auth = "token"`): the API token is kept in an
    HttpOnly, SameSite=Strict cookie that the API accepts from same-origin requests
    (pages, JSON-RPC, the WebSocket). Not the member's signing key: that stays in the page."""

    async def login_form(request: Request) -> Response:
        if console.tokens is None:
            return RedirectResponse(PREFIX + "/", status_code=303)
        return console.page(request, "login.html", next=_next(request.query_params.get("next")),
                            error=signed_out_reason(console.tokens, request))

    async def login(request: Request) -> Response:
        if console.tokens is None:
            return RedirectResponse(PREFIX + "/", status_code=303)
        origin = request.headers.get("origin")
        if origin is not None and origin.partition("://")[2] != request.headers.get("host"):
            # another site posting its own token here would sign this browser in as it
            return console.page(request, "login.html", status=403, next=PREFIX + "/",
                                error="Not signed in: the form was sent from another site.")
        body = (await request.body())[:8192].decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(body).items()}
        secret = form.get("token", "").strip()
        target = _next(form.get("next"))
        if not secret:
            return console.page(request, "login.html", status=401, next=target,
                                error="Not signed in: enter a token (`consortium api-token "
                                      "create` makes one).")
        token, why = console.tokens.token_of(f"Bearer {secret}")
        if token is None:
            return console.page(request, "login.html", status=401, next=target,
                                error=f"Not signed in: {why}.")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(CONSOLE_COOKIE, secret, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse(PREFIX + "/login", status_code=303)
        response.delete_cookie(CONSOLE_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def session(request: Request) -> Response:
        """204 while the browser's credential admits it: what a page asks when its live
        updates stop (the API redirects it to the sign-in form, or refuses it, otherwise)."""
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    return [Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/session", session, methods=["GET"])]


def signed_out_reason(tokens: TokenCheck, request: Request) -> str:
    """Why the token this browser keeps (its cookie) no longer signs it in: revoked, expired
    or unknown; empty without a cookie or with one still valid."""
    secret = request.cookies.get(CONSOLE_COOKIE, "").strip()
    if not secret:
        return ""
    token, why = tokens.token_of(f"Bearer {secret}")
    if token is not None:
        return ""
    try:
        found = next((t for t in tokens.file.load() if t.sha256 == hash_secret(secret)), None)
    except ConsortiumError:
        found = None
    state = found.state() if found is not None else ""
    if found is not None and state == "revoked":
        return f"Signed out: your token {found.name!r} was revoked. Sign in with another token."
    if found is not None and state == "expired":
        return f"Signed out: your token {found.name!r} has expired. Sign in with another token."
    return f"Signed out: the token this browser kept is refused ({why}). Sign in again."


def _next(target: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX + "/"
