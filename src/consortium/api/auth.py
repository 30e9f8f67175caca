"""Who may use a node's API: bearer tokens with a scope, kept hashed (SHA-256: a token is 256
random bits, so a slow password hash would only cost time per request) in
`HOME/api-tokens.json`, re-read when the file changes (one stat per request), so a revocation
needs no restart; or, with `auth = "mtls"`, a consortium CA client certificate whose OU names
its scope. Scopes nest: read < submit (eth_sendRawTransaction, the forum's blob PUT) < admin.
Refusals carry a JSON-RPC error body: 401 (with `WWW-Authenticate: Bearer`) for a missing or
bad token, 403 naming the scope needed; a batch is refused whole. docs/api-access.md."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import ipaddress
import json
import logging
import os
import re
import secrets
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from consortium.errors import ConfigError

log = logging.getLogger("consortium.api.auth")

TOKENS_FILE = "api-tokens.json"
TOKEN_PREFIX = "cst_"
SCOPES = ("read", "submit", "admin")  # each includes the ones before it
AUTH_MODES = ("off", "token", "mtls")
UNAUTHORIZED = -40100  # as Besu answers a JSON-RPC call without a valid credential (401)
FORBIDDEN = -40300  # a valid credential whose scope does not cover the call (403)
SUBMIT_METHODS = frozenset({"eth_sendRawTransaction", "consortium_registerAbi",
                            "priv_distributeRawTransaction", "priv_createPrivacyGroup",
                            "priv_proposeMembersChange",  # privacy groups (private_rpc)
                            "priv_proveNodeKey"})
ADMIN_PREFIXES = ("admin_",)
OPEN_PATHS = frozenset({"/health"})
# POST routes that change nothing (the console's check of an invoice CSV import answers the
# rows by the CLI's rules and writes nothing): a read's scope, as the pages they serve
READ_POSTS = frozenset({"/console/invoices/check"})
# the console's sign-in and sign-out forms and its static files need no credential
OPEN_PREFIXES = ("/console/login", "/console/logout", "/console/static/")
# the console keeps the API token in this cookie (HttpOnly, SameSite=Strict), accepted only
# from same-origin requests: the browser cannot set headers on its pages or WebSocket
CONSOLE_COOKIE = "consortium_token"
SCOPE_KEY = "consortium.api_scope"  # where the middleware leaves the token's scope
CREDENTIAL_KEY = "consortium.api_credential"  # and who it is: "token:NAME" or "cert:SUBJECT"
# the token's SHA-256, so that a long-lived connection (a WebSocket) can check it again
TOKEN_HASH_KEY = "consortium.api_token_sha256"
PEER_CERT = "consortium.peer_cert"  # the client certificate, in the ASGI scope's state
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def covers(granted: str, needed: str) -> bool:
    return SCOPES.index(granted) >= SCOPES.index(needed)


@dataclass(frozen=True)
class Token:
    """One token's record (never its secret)."""

    name: str
    scope: str
    sha256: str
    created: str
    expires: str | None = None
    revoked: str | None = None

    def state(self, now: dt.datetime | None = None) -> str:
        """"active", "revoked" or "expired"."""
        if self.revoked is not None:
            return "revoked"
        expires = _parse_time(self.expires)
        if expires is not None and (now or _now()) >= expires:
            return "expired"
        return "active"


class TokenFile:
    """`HOME/api-tokens.json`: what the CLI writes and the node reads."""

    def __init__(self, home: Path) -> None:
        self.path = home / TOKENS_FILE

    def load(self) -> list[Token]:
        if not self.path.exists():
            return []
        try:
            doc = json.loads(self.path.read_text())
            tokens = [Token(**entry) for entry in doc["tokens"]]
            for token in tokens:
                if token.scope not in SCOPES:
                    raise ValueError(f"token {token.name!r} has an unknown scope {token.scope!r}")
                _parse_time(token.expires)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path} is not a valid token file: {exc}") from None
        return tokens

    def create(self, name: str, scope: str, expires_days: int | None = None) -> str:
        """A new token's secret (returned once; only its hash is kept)."""
        if not _NAME.fullmatch(name):
            raise ConfigError(f"token name {name!r} must be 1-64 letters, digits, '.', '_' "
                              "or '-', starting with a letter or digit")
        if scope not in SCOPES:
            raise ConfigError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        if expires_days is not None and expires_days < 1:
            raise ConfigError(f"--expires must be a number of days of at least 1, "
                              f"got {expires_days}")
        with self._editing() as tokens:
            if any(t.name == name for t in tokens):
                raise ConfigError(f"a token named {name!r} exists already in {self.path} "
                                  "(revoked tokens keep their name)")
            secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
            created = _now()
            expires = (None if expires_days is None
                       else created + dt.timedelta(days=expires_days))
            tokens.append(Token(name, scope, hash_secret(secret), _iso(created) or "",
                                _iso(expires)))
        return secret

    def revoke(self, name: str) -> Token:
        with self._editing() as tokens:
            i = next((i for i, t in enumerate(tokens) if t.name == name), None)
            if i is None:
                raise ConfigError(f"no token named {name!r} in {self.path}")
            if tokens[i].revoked is not None:
                raise ConfigError(f"token {name!r} was revoked already ({tokens[i].revoked})")
            tokens[i] = replace(tokens[i], revoked=_iso(_now()))
        return tokens[i]

    @contextlib.contextmanager
    def _editing(self) -> Iterator[list[Token]]:
        """The tokens, saved when the block ends without an error. One writer at a time
        (two `api-token` commands at once would lose one's change): an exclusive lock on
        the home folder."""
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            tokens = self.load()
            yield tokens
            self._save(tokens)
        finally:
            os.close(fd)

    def _save(self, tokens: list[Token]) -> None:
        """Write the whole file anew (mode 600) and swap it in: never a partial file."""
        body = json.dumps({"tokens": [asdict(t) for t in tokens]}, indent=2) + "\n"
        tmp = self.path.with_name(f".{TOKENS_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


class TokenCheck:
    """The node's view of its token file, read again when the file changes."""

    def __init__(self, home: Path) -> None:
        self.file = TokenFile(home)
        self._seen: tuple[int, int, int] | None = None
        self._by_hash: dict[str, Token] = {}
        self._broken: str | None = None  # why the file does not parse, while it does not

    def _current(self) -> dict[str, Token]:
        try:
            st = os.stat(self.file.path)
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            key = (0, 0, 0)
        if key != self._seen:
            self._seen = key
            try:
                self._by_hash = {t.sha256: t for t in self.file.load()}
                self._broken = None
            except ConfigError as exc:  # refuse every token until the file is mended
                log.error("%s; every token is refused until it is fixed", exc.message)
                self._by_hash = {}
                self._broken = exc.message
        return self._by_hash

    def _unknown(self) -> str:
        """Why a token is not found: unknown, or every token is refused (the file is bad;
        its name, not its path or contents, goes to the client, the log says more)."""
        if self._broken is not None:
            return (f"the node's token file {TOKENS_FILE} is not valid, so every token is "
                    "refused until its operator fixes it (the node's log says why)")
        return "unknown token"

    def token_of(self, authorization: str | None) -> tuple[Token | None, str]:
        """The active token an Authorization header carries, or (None, why not)."""
        if not authorization:
            return None, "a bearer token is required (Authorization: Bearer <token>)"
        kind, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        if kind.lower() != "bearer" or not secret or " " in secret:
            return None, "malformed Authorization header: expected 'Bearer <token>'"
        return self.recheck(hash_secret(secret))

    def recheck(self, sha256: str) -> tuple[Token | None, str]:
        """The token with this hash as the file says now (one stat unless it changed), or
        (None, why not): what a WebSocket checks again per message and while it is open,
        so a revocation or an expiry ends it too."""
        token = self._current().get(sha256)
        if token is None:
            return None, self._unknown()
        state = token.state()
        if state != "active":
            return None, f"token {token.name!r} is {state}"
        return token, ""


def scope_of_certificate(cert: dict[str, Any] | None) -> tuple[str | None, str]:
    """The scope a verified client certificate grants (its organizational unit), or
    (None, why not). `cert` is `ssl.SSLObject.getpeercert()`."""
    if not cert:
        return None, "a client certificate from the consortium CA is required"
    units = [value for rdn in cert.get("subject", ()) for key, value in rdn
             if key == "organizationalUnitName"]
    scopes = [u for u in units if u in SCOPES]
    if len(scopes) != 1:
        return None, "the client certificate names no API scope (read, submit or admin)"
    return scopes[0], ""


def certificate_name(cert: dict[str, Any] | None) -> str:
    """Who a verified client certificate names (its subject's common name and serial):
    what its requests count against in the rate limits."""
    names = [value for rdn in (cert or {}).get("subject", ()) for key, value in rdn
             if key == "commonName"]
    return f"cert:{names[0] if names else '?'}#{(cert or {}).get('serialNumber', '?')}"


def needed_for_call(payload: Any) -> str:
    """The scope a parsed JSON-RPC request (one call or a batch) needs: the largest of its
    calls'. Malformed calls need `read` (they get their JSON-RPC error)."""
    calls = payload if isinstance(payload, list) else [payload]
    methods = [m for c in calls if isinstance(c, dict) and isinstance(m := c.get("method"), str)]
    if any(m.startswith(ADMIN_PREFIXES) for m in methods):
        return "admin"
    return "submit" if any(m in SUBMIT_METHODS for m in methods) else "read"


def needed_for_route(method: str, path: str) -> str:
    """The scope an HTTP request to a route other than JSON-RPC's POST / needs."""
    if method in ("GET", "HEAD", "OPTIONS") or (method == "POST" and path in READ_POSTS):
        return "read"
    if method == "PUT" and path.startswith("/api/v1/forum/blobs/"):
        return "submit"
    return "admin"


def granted(scope: Scope) -> str:
    """The scope the request's credential grants (`admin` when auth is off)."""
    return str(scope.get(SCOPE_KEY, "admin"))


def refusal_body(code: int, message: str, req_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}}


def forbidden_message(needed: str, has: str, credential: str = "") -> str:
    """`credential`: CREDENTIAL_KEY's value (a client certificate's is "cert:…")."""
    held = "client certificate" if credential.startswith("cert:") else "token"
    return f"forbidden: this call needs the {needed!r} scope; the {held} has {has!r}"


def certificate_expiry(cert: dict[str, Any] | None) -> float | None:
    """When a verified client certificate expires (seconds since the epoch), if it says."""
    not_after = (cert or {}).get("notAfter")
    if not not_after:
        return None
    try:
        return float(ssl.cert_time_to_seconds(str(not_after)))
    except ValueError:
        return None


LiveCheck = Callable[[], tuple[str | None, str]]


def live_credential(scope: Scope, check: TokenCheck | None) -> LiveCheck | None:
    """For a connection that stays open (a WebSocket): a function answering the scope its
    credential grants now, or (None, why not) once the token is revoked, expired or gone
    from the token file, or the client certificate has expired; None when nothing is to be
    checked (auth off). Cheap: one stat of the token file (HTTP pays it per request)."""
    if SCOPE_KEY not in scope:
        return None  # auth is off (or an open path)
    sha256 = scope.get(TOKEN_HASH_KEY)
    if check is not None and isinstance(sha256, str):
        def token_now() -> tuple[str | None, str]:
            token, why = check.recheck(sha256)
            return (None, why) if token is None else (token.scope, "")
        return token_now
    expires = certificate_expiry(scope.get("state", {}).get(PEER_CERT))
    if check is None and expires is not None:
        has = str(scope[SCOPE_KEY])

        def certificate_now() -> tuple[str | None, str]:
            if time.time() >= expires:
                return None, "the client certificate has expired"
            return has, ""
        return certificate_now
    return None


class ApiAuth:
    """ASGI middleware: every HTTP request and WebSocket handshake but `/health` must carry
    a valid token (401 otherwise); REST routes are checked for scope here (403), JSON-RPC
    calls by the app once parsed (`needed_for_call`). WebSockets take the token from the
    handshake's Authorization header or, for browsers (which cannot set headers on a
    WebSocket), from a `?token=` query parameter. With `check` None the credential is the
    connection's client certificate (`PEER_CERT`, put there by the API server)."""

    def __init__(self, app: ASGIApp, check: TokenCheck | None) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS
                or scope["path"].startswith(OPEN_PREFIXES)):
            await self.app(scope, receive, send)
            return
        if self.check is None:
            cert = scope.get("state", {}).get(PEER_CERT)
            has, why = scope_of_certificate(cert)
            credential = certificate_name(cert)
        else:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope.get("headers", [])}
            authorization = headers.get("authorization")
            if authorization is None and scope["type"] == "websocket":
                authorization = _query_token(scope.get("query_string", b""))
            foreign_cookie = False
            if authorization is None:
                authorization = _cookie_token(headers)
                foreign_cookie = authorization is None and _has_cookie(headers)
            token, why = self.check.token_of(authorization)
            if foreign_cookie:
                why = ("the console's cookie is accepted only from this node's own origin, "
                       f"not from {headers.get('origin')!r}; send Authorization: Bearer "
                       "<token> instead")
            has = None if token is None else token.scope
            credential = "" if token is None else f"token:{token.name}"
            if token is not None:
                scope[TOKEN_HASH_KEY] = token.sha256
        if has is None and _console_page(scope):
            # a console page asked for without a credential: the sign-in form, then back
            target = quote(scope["path"], safe="/")
            await RedirectResponse(f"/console/login?next={target}", 303)(scope, receive, send)
            return
        if has is None:
            req_id = await _call_id(scope, receive)
            await deny(scope, send, 401,
                       refusal_body(UNAUTHORIZED, f"unauthorized: {why}", req_id),
                       [(b"www-authenticate", b'Bearer realm="consortium"')])
            return
        if scope["type"] == "http" and not (scope["method"] == "POST" and scope["path"] == "/"):
            needed = needed_for_route(scope["method"], scope["path"])
            if not covers(has, needed):
                await deny(scope, send, 403,
                           refusal_body(FORBIDDEN, forbidden_message(needed, has, credential)))
                return
        scope[SCOPE_KEY] = has
        scope[CREDENTIAL_KEY] = credential
        await self.app(scope, receive, send)


def _cookie_token(headers: dict[str, str]) -> str | None:
    """The console's cookie as a bearer credential, from a same-origin request only (no
    Origin header, as on a page load, or one naming this host)."""
    origin = headers.get("origin")
    if origin is not None and origin.partition("://")[2] != headers.get("host"):
        return None
    pairs = (part.strip().partition("=") for part in headers.get("cookie", "").split(";"))
    value = next((v for name, _, v in pairs if name == CONSOLE_COOKIE and v), None)
    return None if value is None else f"Bearer {value}"


ID_BODY_LIMIT = 64 * 1024  # a refused JSON-RPC call's body read for its id, at most
ID_READ_SECONDS = 5.0


async def _call_id(scope: Scope, receive: Receive) -> Any:
    """The id of a refused JSON-RPC call (POST /), so its 401 answers it as a 403 does; None
    for anything else: a batch, a body over ID_BODY_LIMIT or slower than ID_READ_SECONDS,
    or one nesting more than a few arrays/objects (never parsed: an unauthenticated client
    must not reach the JSON decoder with deep input, app._shape_refusal's concern)."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/":
        return None
    body = bytearray()

    async def read() -> bool:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return False
            body.extend(message.get("body", b""))
            if len(body) > ID_BODY_LIMIT:
                return False
            if not message.get("more_body", False):
                return True

    try:
        if not await asyncio.wait_for(read(), ID_READ_SECONDS):
            return None
    except TimeoutError:
        return None
    raw = bytes(body).strip()
    if not raw.startswith(b"{") or raw.count(b"{") + raw.count(b"[") > 16:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    req_id = doc.get("id") if isinstance(doc, dict) else None
    if isinstance(req_id, bool) or not isinstance(req_id, str | int):
        return None  # JSON-RPC ids are strings or numbers (null: no id)
    return req_id


def _has_cookie(headers: dict[str, str]) -> bool:
    """Whether the request carries the console's cookie (whatever its origin)."""
    pairs = (part.strip().partition("=") for part in headers.get("cookie", "").split(";"))
    return any(name == CONSOLE_COOKIE and v for name, _, v in pairs)


def _console_page(scope: Scope) -> bool:
    return (scope["type"] == "http" and scope["method"] == "GET"
            and (scope["path"] == "/console" or scope["path"].startswith("/console/")))


def _query_token(query: bytes) -> str | None:
    values = parse_qs(query.decode("latin-1")).get("token")
    return f"Bearer {values[0]}" if values else None


async def deny(scope: Scope, send: Send, status: int, body: dict[str, Any],
               extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer an HTTP request, or refuse a WebSocket handshake (ASGI's denial response,
    which uvicorn supports), with `status` and a JSON body."""
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(data)).encode()), *(extra_headers or [])]
    prefix = "websocket." if scope["type"] == "websocket" else ""
    await send({"type": f"{prefix}http.response.start", "status": status, "headers": headers})
    await send({"type": f"{prefix}http.response.body", "body": data})


@dataclass(frozen=True)
class ApiAccess:
    """The `[api]` settings of who may reach the API and how: `auth` ("off", "token" or
    "mtls"; None: "off" on loopback, "token" beyond), `allow_open` (listen beyond loopback
    with auth off), `tls_cert`/`tls_key` (paths relative to the home: HTTPS and WSS),
    `tls_client_ca` (the CA certificate that client certificates must chain to: "mtls"),
    and `cors_origins` (browser origins allowed; none: same origin only)."""

    auth: str | None = None
    allow_open: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    tls_client_ca: str | None = None

    def mode(self, host: str) -> str:
        return self.auth if self.auth is not None else ("off" if is_loopback(host) else "token")


@functools.lru_cache(maxsize=4096)
def is_loopback(host: str) -> bool:
    """(Cached: the rate limits ask it of every request's client address.)"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond loopback


def parse_access(api: dict[str, Any], where: Path) -> ApiAccess:
    """The access settings of an `[api]` table, checked."""
    auth = api.get("auth")
    if auth is not None and auth not in AUTH_MODES:
        raise ConfigError(f"{where}: api.auth must be one of {', '.join(AUTH_MODES)}, "
                          f"got {auth!r}")
    allow_open = api.get("allow_open", False)
    if not isinstance(allow_open, bool):
        raise ConfigError(f"{where}: api.allow_open must be true or false, got {allow_open!r}")
    paths = {}
    for key in ("tls_cert", "tls_key", "tls_client_ca"):
        value = api.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{where}: api.{key} must be a file path, got {value!r}")
        paths[key] = value
    if (paths["tls_cert"] is None) != (paths["tls_key"] is None):
        raise ConfigError(f"{where}: api.tls_cert and api.tls_key go together: set both")
    origins = api.get("cors_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) and o for o in origins):
        raise ConfigError(f"{where}: api.cors_origins must be a list of origins like "
                          f"\"https://app.example\", got {origins!r}")
    if auth == "mtls" and (paths["tls_cert"] is None or paths["tls_client_ca"] is None):
        raise ConfigError(f"{where}: api.auth = \"mtls\" needs api.tls_cert, api.tls_key "
                          "and api.tls_client_ca (the CA of the clients' certificates)")
    if paths["tls_client_ca"] is not None and auth != "mtls":
        raise ConfigError(f"{where}: api.tls_client_ca is used only with api.auth = \"mtls\"")
    return ApiAccess(auth, allow_open, paths["tls_cert"], paths["tls_key"], tuple(origins),
                     paths["tls_client_ca"])


def check_exposure(host: str, access: ApiAccess, where: Path) -> None:
    """Refuse an API that anyone beyond this host could use without a credential."""
    if access.mode(host) == "off" and not is_loopback(host) and not access.allow_open:
        raise ConfigError(f"{where}: the API listens on {host}, beyond loopback, with "
                          "api.auth = \"off\": set api.auth = \"token\", or api.allow_open "
                          "= true to serve everyone")
