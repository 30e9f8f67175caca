"""The node's API: one ASGI app serving Ethereum JSON-RPC over HTTP and WebSocket (POST and
GET /, eth_subscribe), the REST routes (/api/v1/…), /health and /openapi.json; the methods
live in `consortium.api.jsonrpc`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import orjson
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from consortium.api import auth, json_codec, rate_limits
from consortium.api.engine_client import CheckTxWatch, EngineClient
from consortium.api.explorer_rpc import explorer_openapi_paths, explorer_routes
from consortium.api.filters import FilterRegistry
from consortium.api.forum_blobs import forum_blob_openapi_paths, forum_blob_routes
from consortium.api.http_server import read_body
from consortium.api.jsonrpc import MAX_BATCH, JsonRpc, batch_too_large, error_response
from consortium.api.local_txs import LocalTransactions
from consortium.api.metrics import ApiMetrics, instrument
from consortium.api.private_submit import PrivacyNode, PrivateSubmitter
from consortium.api.read_gate import ReadGate, ReadLimits, current_client, current_disconnect
from consortium.api.rest import openapi_schema, rest_routes
from consortium.api.rpc_error import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
    rpc_error_for,
)
from consortium.api.service_surface import openapi_paths
from consortium.api.service_surface import rest_routes as service_rest_routes
from consortium.api.subscriptions import (
    POLICY_VIOLATION,
    Connection,
    SubscriptionHub,
)
from consortium.api.tx_journal import TxJournal
from consortium.apps.services import SURFACES
from consortium.console.app import Console
from consortium.console.mount import console_mount
from consortium.errors import CallCancelled, CallTimeout, TooManyRequests

log = logging.getLogger("consortium.api")

T = TypeVar("T")
LEDGER_THREADS = 8  # ledger reads (py-evm, LMDB) run in at most this many worker threads
WS_IN_FLIGHT = 32  # requests of one WebSocket connection answered concurrently
MAX_JSON_DEPTH = 64  # arrays/objects nested in one request
MAX_JSON_CONTAINERS = 500_000  # arrays and objects in one request (a 1000-call batch: ~5,000)


class LedgerOffload:
    """Runs blocking ledger reads in worker threads, so the event loop (which also serves
    ABCI) keeps serving. One thread limiter per event loop."""

    def __init__(self, threads: int = LEDGER_THREADS) -> None:
        self.threads = threads
        self._limiter: tuple[int, anyio.CapacityLimiter] | None = None  # (loop id, limiter)

    async def __call__(self, fn: Callable[[], T]) -> T:
        key = id(asyncio.get_running_loop())
        if self._limiter is None or self._limiter[0] != key:
            self._limiter = (key, anyio.CapacityLimiter(self.threads))
        return await anyio.to_thread.run_sync(fn, limiter=self._limiter[1])


def _parse_error(message: str) -> dict[str, Any]:
    code = message.code if isinstance(message, _Unparsable) else PARSE_ERROR
    return error_response(None, RpcError(message, code=code))


def create_app(ledger: Any, engine_rpc: str, *, node_name: str = "node",
               checks: CheckTxWatch | None = None, journal: Path | None = None,
               read_limits: ReadLimits | None = None, tokens: auth.TokenCheck | None = None,
               client_certificates: bool = False, cors_origins: Sequence[str] = (),
               client_limits: rate_limits.ClientLimits | None = None,
               metrics: ApiMetrics | None = None, console: bool = True,
               privacy: PrivacyNode | None = None) -> Starlette:
    """Build the API of one node around its ledger and its engine's RPC address.
    `checks`: the CheckTx answers of the node's own ABCI app (transactions then go with
    broadcast_tx_async, else broadcast_tx_sync); `journal`: the directory of the durable
    journal of accepted transactions (in memory without it); `tokens` or
    `client_certificates`: the credentials every route but /health needs (`api.auth`);
    `console`: serve the web console at /console; `privacy`: serve the priv_ methods."""
    offload = LedgerOffload()
    clients = rate_limits.ClientGate(client_limits)
    gate = ReadGate(read_limits)
    engine = EngineClient(engine_rpc, checks=checks)
    local_txs = LocalTransactions(ledger, engine, offload, journal=TxJournal(journal))
    filters = FilterRegistry()
    hub = SubscriptionHub(ledger, offload)
    hub.max_subscriptions_per_credential = clients.limits.max_subscriptions_per_credential
    hub.on_tick.append(filters.expire)
    api = JsonRpc(ledger, engine, offload, hub=hub, filters=filters, node_name=node_name,
                  gate=gate, local_txs=local_txs)
    api.max_batch = clients.limits.max_batch
    if privacy is not None:
        api.privacy = PrivateSubmitter(ledger, local_txs, privacy, offload)
    schema = openapi_schema(node_name)
    for paths in (forum_blob_openapi_paths(), explorer_openapi_paths(),
                  *map(openapi_paths, SURFACES)):
        schema["paths"].update(paths)

    async def health(_: Request) -> JSONResponse:
        height, app_hash = ledger.info()
        return JSONResponse({"ok": True, "node": node_name, "height": height,
                             "app_hash": app_hash.hex()})

    async def openapi(_: Request) -> JSONResponse:
        return JSONResponse(schema)

    def refusal(scope: Any, payload: Any) -> tuple[Any, int, TooManyRequests | None] | None:
        """Why a request (HTTP or WebSocket) is not run: its answer, HTTP status and the
        rate limit it hit; or None. Checked in this order: JSON, scope, rate."""
        if isinstance(payload, _Unparsable):
            return _parse_error(payload), 200, None
        refused = _beyond_scope(scope, payload)
        if refused is not None:
            return refused, 403, None
        try:
            clients.charge(scope, len(payload) if isinstance(payload, list) else 1)
        except TooManyRequests as err:
            return rate_limits.too_many_body(err, _id_of(payload)), 429, err
        return None

    async def rpc_http(request: Request) -> Response:
        max_body = clients.limits.max_body_bytes
        body = await read_body(request, max_body)
        if body is None:
            return _json(_parse_error(f"request body over {max_body} bytes"), 413)
        payload = _loads(body, api.max_batch)
        refused = refusal(request.scope, payload)
        if refused is not None:
            answer, status, limit = refused
            return _json(answer, status) if limit is None else _too_many(answer, limit)
        # who the request counts against in the read limits: its peer address
        current_client.set(request.client.host if request.client is not None else "unknown")
        current_disconnect.set(lambda: _disconnected(request))
        try:
            answer = await api.handle(payload)
        except TooManyRequests as err:
            return _too_many(error_response(_id_of(payload), rpc_error_for(err)), err)
        if answer is None:
            return Response(status_code=204)
        return _json(answer)

    async def rpc_ws(websocket: WebSocket) -> None:
        refusal = clients.open_websocket(websocket.scope)
        if refusal is not None:
            body = auth.refusal_body(rate_limits.LIMIT_EXCEEDED, refusal)
            await websocket.send_denial_response(JSONResponse(body, status_code=429))
            return
        try:
            await _serve_ws(websocket)
        finally:
            clients.close_websocket(websocket.scope)

    async def _serve_ws(websocket: WebSocket) -> None:
        await websocket.accept()
        peer = websocket.client
        conn = Connection(max_backlog=hub.max_backlog,
                          client=f"{peer.host}:{peer.port}" if peer else "client",
                          credential=str(websocket.scope.get(auth.CREDENTIAL_KEY) or ""),
                          live=auth.live_credential(websocket.scope, tokens))
        hub.attach(conn)
        writer = asyncio.create_task(_pump(websocket, conn, hub))
        conn.on_overflow = writer.cancel  # the writer closes the connection (1008)
        slots = asyncio.Semaphore(WS_IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()

        async def answer(payload: Any) -> None:
            try:
                try:
                    result = await api.handle(payload, conn)
                except TooManyRequests as err:
                    result = error_response(_id_of(payload), rpc_error_for(err))
                if result is not None:
                    conn.send(_encode(result).decode())
            except Exception:
                log.exception("WebSocket request failed")
            finally:
                slots.release()

        try:
            while not writer.done():
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                try:
                    payload = _loads(text if text is not None
                                     else (message.get("bytes") or b"").decode(), api.max_batch)
                except UnicodeDecodeError:
                    payload = _Unparsable("parse error: binary frame is not UTF-8")
                # the credential again, per message: revoked or expired ends the connection
                has = conn.credential_scope(_id_of(payload))
                if has is None:
                    log.info("WebSocket client %s closed: %s", conn.client, conn.ended)
                    break
                if conn.live is not None:
                    websocket.scope[auth.SCOPE_KEY] = has  # as the token file says now
                refused = refusal(websocket.scope, payload)
                if refused is not None:
                    conn.send(_encode(refused[0]).decode())
                    continue
                await slots.acquire()
                task = asyncio.create_task(answer(payload))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except WebSocketDisconnect:
            pass
        finally:
            hub.detach(conn)
            for task in list(tasks):
                task.cancel()
            conn.close()
            if conn.ended is not None:  # the writer sends the last error, then closes
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(writer), 10)
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # the subscription poller; the journal keeper (resubmits, then prunes); privacy's
        tasks = [asyncio.create_task(job.run()) for job in (hub, local_txs, api.privacy)
                 if job is not None]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await local_txs.aclose()
            await engine.aclose()
            gate.close()

    app = Starlette(
        routes=[
            Route("/", rpc_http, methods=["POST"]),
            WebSocketRoute("/", rpc_ws),
            Route("/health", health, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            *rest_routes(ledger, offload, node_name, local_txs.next_nonce),
            # the services' reads scan their records: admitted like eth_call
            *forum_blob_routes(ledger, gate.run_admitted),
            *explorer_routes(ledger, gate.run_admitted),  # the explorer's CSV export
            *(route for service in SURFACES
              for route in service_rest_routes(service, ledger, gate.run_admitted)),
            *([console_mount(Console(api, node_name=node_name, tokens=tokens))]
              if console else []),
        ],
        exception_handlers={TooManyRequests: _rest_too_many, CallTimeout: _rest_timeout,
                            CallCancelled: _rest_timeout},
        middleware=[Middleware(CORSMiddleware, allow_origins=list(cors_origins),
                               allow_methods=["GET", "POST", "PUT"], allow_headers=["*"]),
                    *([Middleware(auth.ApiAuth, check=tokens)]
                      if tokens is not None or client_certificates else []),
                    Middleware(rate_limits.RateLimited, gate=clients)],
        lifespan=lifespan,
    )
    app.state = State({"jsonrpc": api, "engine": engine, "local_txs": local_txs, "hub": hub,
                       "gate": gate, "clients": clients})
    if metrics is not None:
        instrument(app, metrics)
    return app


def _id_of(payload: Any) -> Any:
    return payload.get("id") if isinstance(payload, dict) else None


def _beyond_scope(scope: Any, payload: Any) -> dict[str, Any] | None:
    """The 403 answer to a JSON-RPC request (a batch: whole) that needs more than the
    scope of its token, or None."""
    has, needed = auth.granted(scope), auth.needed_for_call(payload)
    if auth.covers(has, needed):
        return None
    message = auth.forbidden_message(needed, has, str(scope.get(auth.CREDENTIAL_KEY) or ""))
    return auth.refusal_body(auth.FORBIDDEN, message, _id_of(payload))


async def _disconnected(request: Request) -> None:
    """Returns when the HTTP client has gone (its body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _too_many(body: Any, err: TooManyRequests) -> Response:
    return Response(_encode(body), status_code=429, media_type="application/json",
                    headers={"Retry-After": str(err.retry_after)})


async def _rest_too_many(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyRequests)
    return _too_many({"error": exc.message}, exc)


async def _rest_timeout(request: Request, exc: Exception) -> Response:
    """A REST read stopped by its budget (timeout, or its client left)."""
    assert isinstance(exc, CallTimeout | CallCancelled)
    return JSONResponse({"error": exc.message}, status_code=503)


class _Unparsable(str):
    """What `_loads` answers for input it does not decode (not JSON, or too large or deep a
    structure): why, answered as a JSON-RPC error with `code`."""

    code = PARSE_ERROR


class _BatchTooLarge(_Unparsable):
    """A batch of more requests than allowed, counted without decoding it."""

    code = INVALID_REQUEST


class _NotJson(ValueError):
    """Raised by the decoder's hooks for what Python's json accepts but RFC 8259 does not."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _finite(literal: str) -> float:
    value = float(literal)
    if value in (math.inf, -math.inf):
        raise _NotJson(f"number {literal[:40]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _NotJson(f"duplicate key {json.dumps(key)[:60]} in an object")
            seen.add(key)
    return obj


# Python's json plus hooks, so that only RFC 8259 JSON passes: no NaN/Infinity, no number
# that overflows a double, no duplicate keys (parsers disagree on which one wins, so a
# request could mean one thing to a proxy and another to the node). Integers stay exact:
# clients send wei amounts beyond 64 bits as plain numbers, which orjson would round.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite,
                            object_pairs_hook=_unique_keys)


def _loads(text: str | bytes, max_batch: int = MAX_BATCH) -> Any:
    """A request body (HTTP) or text message (WebSocket) as JSON, or `_Unparsable` with
    the reason: strictly RFC 8259 (UTF-8, no NaN/Infinity, no lone surrogates, no
    duplicate keys), at most MAX_JSON_CONTAINERS arrays and objects (`_shape_refusal`: a
    larger batch of over `max_batch` requests is refused as that), nested at most
    MAX_JSON_DEPTH deep."""
    raw = text.encode(errors="surrogatepass") if isinstance(text, str) else text
    refused = _shape_refusal(raw, max_batch)
    if refused is not None:
        return refused
    try:
        doc = raw.decode()
    except UnicodeDecodeError as exc:
        return _Unparsable(f"parse error: not UTF-8 (byte {exc.start})")
    try:
        if b"\\u" in raw:  # an escape may be a lone surrogate: orjson refuses those
            orjson.loads(raw)
        return _DECODER.decode(doc)
    except _NotJson as exc:
        return _Unparsable(f"parse error: {exc}")
    except (ValueError, RecursionError) as exc:  # orjson.JSONDecodeError is a ValueError
        return _Unparsable(f"parse error: not valid JSON: {str(exc)[:200]}")


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BATCH_START = re.compile(rb"[ \t\r\n]*\[")  # JSON whitespace, then an array
_NOT_SHAPE = bytes(b for b in range(256) if b not in b"[]{},")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{},"\\')
_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _shape_refusal(raw: bytes, max_batch: int) -> _Unparsable | None:
    """Why a body is refused before it is decoded, from its arrays and objects alone: more
    than MAX_JSON_CONTAINERS of them (a batch of more than `max_batch` requests is refused
    as that instead, when `_batch_size` can count them), or nested deeper than
    MAX_JSON_DEPTH; None when neither.

    Checked before json.loads: py-evm's dependencies raise the recursion limit to 100,000,
    so the C decoder would overflow the thread's stack (a segfault, taking the node down)
    before raising RecursionError on input like "[[[[...". No legitimate request nests more
    than ~8. The cap on their number bounds this check's own time (a Python step per
    bracket) and what decoding would build."""
    shape = _shape(raw)
    if shape is None:
        return None
    opened = shape.count(b"[") + shape.count(b"{")
    closed = shape.count(b"]") + shape.count(b"}")
    if opened > MAX_JSON_CONTAINERS:
        size = _batch_size(raw, shape)
        if size is not None and size > max_batch:
            return _BatchTooLarge(batch_too_large(size, max_batch).message)
        return _Unparsable(f"parse error: too many arrays and objects: {opened}, at most "
                           f"{MAX_JSON_CONTAINERS}")
    if closed > MAX_JSON_CONTAINERS:
        return _Unparsable(f"parse error: not valid JSON: {closed} closing brackets for "
                           f"{opened} arrays and objects")
    brackets = shape.translate(None, b",")
    if max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > MAX_JSON_DEPTH:
        return _Unparsable(f"parse error: arrays and objects nest deeper than {MAX_JSON_DEPTH}")
    return None


def _shape(raw: bytes) -> bytes | None:
    """The body's brackets and commas outside its strings; None when it has at most
    MAX_JSON_DEPTH opening brackets in all (then nothing in it can be refused for them)."""
    # Only brackets, commas, quotes and backslashes matter: a batch of 100 signed
    # transactions is 30 KB, mostly hex, and ~2 KB of these.
    structure = raw.translate(None, _NOT_STRUCTURE)
    if structure.count(b"[") + structure.count(b"{") <= MAX_JSON_DEPTH:
        return None
    if b"\\" in structure:  # an escape may hide a quote: find the strings in the body
        return _JSON_STRING.sub(b"", raw).translate(None, _NOT_SHAPE)
    # strings are what lies between pairs of quotes; brackets in them do not nest
    return b"".join(structure.split(b'"')[::2])


def _batch_size(raw: bytes, shape: bytes) -> int | None:
    """How many elements a body that is an array has, counted on its `_shape` without
    decoding it: the commas between them. Each pass drops every empty array or object and a
    comma at either end of every one; none of that is a comma between the batch's elements,
    and once no bracket is left only those remain. None when the body is not an array, or
    counting would take long: a pass that leaves over 7/8 of the brackets and commas (long
    arrays or deep nesting in its elements), or more than three times their number read."""
    if _BATCH_START.match(raw) is None or shape[:1] != b"[" or shape[-1:] != b"]":
        return None
    inner = shape[1:-1].translate(_AS_ARRAYS)
    budget = 3 * len(inner)
    while b"[" in inner or b"]" in inner:
        budget -= len(inner)
        reduced = inner.replace(b"[]", b"").replace(b"[,", b"[").replace(b",]", b"]")
        if budget < 0 or len(reduced) * 8 > len(inner) * 7:
            return None
        inner = reduced
    return inner.count(b",") + 1


def _encode(value: Any) -> bytes:
    """An answer as compact JSON; an internal error if something in it is not JSON."""
    try:
        return json_codec.dumps(value)
    except (TypeError, ValueError):
        log.exception("an answer could not be serialized")
        return json_codec.dumps(
            error_response(None, RpcError("internal error", code=INTERNAL_ERROR)))


def _json(value: Any, status: int = 200) -> Response:
    return Response(_encode(value), status_code=status, media_type="application/json")


def _close_reason(text: str) -> str:
    """A WebSocket close reason: at most 123 bytes of UTF-8."""
    raw = text.encode()
    return text if len(raw) <= 123 else raw[:120].decode(errors="ignore") + "..."


async def _pump(websocket: WebSocket, conn: Connection, hub: SubscriptionHub) -> None:
    """The connection's one writer: answers and notifications, in queue order. It ends at
    the queue's end marker (closing with 1008 and the reason when the node ended the
    connection: its credential was revoked or expired); when a write fails (the client is
    gone: its subscriptions go at once, nothing more is queued, one log line); or when
    cancelled because the backlog overflowed (`Connection.on_overflow`: closed with 1008,
    one log line)."""
    try:
        while (text := await conn.queue.get()) is not None:
            await websocket.send_text(text)
        if conn.ended is not None:  # its credential was revoked or expired
            await websocket.close(code=POLICY_VIOLATION, reason=_close_reason(conn.ended))
    except asyncio.CancelledError:
        if not conn.overflowed:
            raise
        hub.detach(conn)
        log.warning("WebSocket client %s dropped: more than %d messages waited for it",
                    conn.client, conn.max_backlog)
        with contextlib.suppress(Exception):
            await websocket.close(code=1008, reason="backlog too large: read faster")
    except Exception as exc:
        conn.close()
        hub.detach(conn)
        log.info("WebSocket client %s is gone (%s); its subscriptions are removed",
                 conn.client, type(exc).__name__)

