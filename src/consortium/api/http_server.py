"""The API's HTTP server: uvicorn (h11, websockets) with limits on what a client can hold.

Stock uvicorn keeps a half-sent request, a trickling body or a vanished WebSocket reader for
ever and caps nothing per client. These subclasses add deadlines for a request's headers and
body (408) and for a client that stops reading; a cap on a request's headers (431, however
they arrive: h11 alone bounds only headers still incomplete); caps on connections node-wide
(the longest idle keep-alive closed to make room, else 503) and per client address (429);
caps on WebSockets (429 at the handshake, close 1009 over `ws_max_size`), no writes once one
failed, and a ping that closes (1011) a client that stopped reading. Per-connection
subscription limits are the subscription hub's, set from the same `ApiLimits`.

Stopping is bounded: a connection still open `CLOSE_GRACE` after it began closing at
shutdown is aborted, and requests still being answered get `SHUTDOWN_TIMEOUT`. Without that,
asyncio waits up to 30 s for a TLS client's close_notify, which an idle keep-alive client
(not reading) never sends, and the server would wait that long to stop."""

from __future__ import annotations

import asyncio
import contextlib
import http
import ssl
from collections import Counter, OrderedDict
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.http11 import Request as WsRequest

from consortium.api.auth import PEER_CERT

CLOSE_GRACE = 1.0  # s a connection closing at shutdown has to finish before it is aborted
MAX_HEADER_BYTES = 16 * 1024  # a request's line and headers, to the blank line that ends them
HEADERS_TOO_LARGE = (431, f"request line and headers over {MAX_HEADER_BYTES // 1024} KiB "
                          f"({MAX_HEADER_BYTES} bytes)")
SHUTDOWN_TIMEOUT = 4  # s answers still running at shutdown get (the node waits 5 s for all)


@dataclass(frozen=True)
class ApiLimits:
    """What one client, and all of them, may hold of the API server. The field names are
    the keys of the node's `[api]` settings; a per-client cap of 0 means none (for a node
    behind a proxy, where every client has the proxy's address)."""

    header_timeout: float = 10.0  # s from connecting, or from a request's first byte
    body_timeout: float = 30.0  # s for a request's whole body, from the end of its headers
    write_timeout: float = 30.0  # s a response may wait on a client that does not read it
    keep_alive_timeout: float = 5.0  # s an idle keep-alive connection is kept
    max_connections: int = 1000  # HTTP connections in all; the oldest idle one makes room
    max_connections_per_client: int = 256  # HTTP and WebSocket connections of one address
    max_websockets: int = 1000  # WebSocket connections in all
    max_websockets_per_client: int = 64
    websocket_max_message_bytes: int = 16 * 1024 * 1024  # as uvicorn's default
    websocket_ping_interval: float = 10.0  # s between pings; as long to answer (uvicorn: 20)
    max_subscriptions_per_websocket: int = 256
    websocket_max_backlog: int = 10_000  # queued messages before a client is dropped (1008)


def api_server(app: ASGIApp, host: str, port: int, limits: ApiLimits | None = None, *,
               log_level: str = "warning", tls_cert: str | None = None,
               tls_key: str | None = None, tls_client_ca: str | None = None
               ) -> uvicorn.Server:
    """A uvicorn server for `app` on host:port that enforces `limits`, without signal
    handlers of its own (the node owns SIGTERM/SIGINT; set `should_exit` to stop it). The
    limits of the app's subscription hub (`app.state.hub`), if it has one, are set too.
    With `tls_cert` and `tls_key` (PEM files) it serves HTTPS and WSS only; with
    `tls_client_ca` too, only to clients with a certificate that CA issued (the app finds
    it in its ASGI scope's state under `consortium.api.auth.PEER_CERT`)."""
    limits = limits or ApiLimits()
    hub = getattr(getattr(app, "state", None), "hub", None)
    if hub is not None:
        hub.max_subscriptions = limits.max_subscriptions_per_websocket
        hub.max_backlog = limits.websocket_max_backlog
    return _ApiServer(_LimitedConfig(
        _quiet_disconnects(app), limits, host=host, port=port, log_level=log_level,
        lifespan="on", http=LimitedH11Protocol, ws=LimitedWebSocketProtocol,
        ws_max_size=limits.websocket_max_message_bytes,
        ws_ping_interval=limits.websocket_ping_interval,
        ws_ping_timeout=limits.websocket_ping_interval,
        timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]  # any number
        timeout_graceful_shutdown=SHUTDOWN_TIMEOUT,
        ssl_certfile=tls_cert, ssl_keyfile=tls_key, ssl_ca_certs=tls_client_ca,
        ssl_cert_reqs=ssl.CERT_REQUIRED if tls_client_ca else ssl.CERT_NONE))


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _LimitedConfig(uvicorn.Config):
    """uvicorn's settings plus the limits, and the one admission record of the server's
    connections that its protocol instances share."""

    def __init__(self, app: ASGIApp, limits: ApiLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits
        self.admission = Admission(limits)


def _quiet_disconnects(app: ASGIApp) -> ASGIApp:
    """Starlette raises ClientDisconnect when a request's body stops coming (the client
    left, or its body timed out); uvicorn would log that as an application error, once per
    such client. It is the client's doing, so it ends the request quietly."""

    async def quiet(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except ClientDisconnect:
            if scope["type"] != "http":
                raise

    return quiet


def _refuse(transport: asyncio.BaseTransport, status: int, text: str) -> None:
    """Answer `status` with `text` outside any request cycle, and close."""
    body = text.encode() + b"\n"
    phrase = http.HTTPStatus(status).phrase.encode()
    head = (b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % (status, phrase, len(body)))
    if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
        transport.write(head + body)
    transport.close()


def _client_host(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


class Admission:
    """The server's open connections: per client address, HTTP and WebSocket, and the idle
    HTTP ones in the order they went idle. Keyed by transport, which a connection keeps
    when it is upgraded to a WebSocket."""

    def __init__(self, limits: ApiLimits) -> None:
        self.limits = limits
        self.hosts: dict[asyncio.BaseTransport, str] = {}
        self.per_client: Counter[str] = Counter()
        self.http: dict[asyncio.BaseTransport, LimitedH11Protocol] = {}
        self.idle: OrderedDict[asyncio.BaseTransport, LimitedH11Protocol] = OrderedDict()
        self.websockets: set[asyncio.BaseTransport] = set()
        self.websockets_per_client: Counter[str] = Counter()

    def admit_http(self, proto: LimitedH11Protocol, transport: asyncio.BaseTransport
                   ) -> tuple[int, str] | None:
        """Record a new connection, or say why not (status, text)."""
        host = _client_host(transport)
        cap = self.limits.max_connections_per_client
        if cap and self.per_client[host] >= cap:
            return 429, f"too many connections from {host} (limit {cap})"
        if len(self.http) >= self.limits.max_connections:
            if not self.idle:
                return 503, f"too many connections (limit {self.limits.max_connections})"
            oldest_transport, oldest = self.idle.popitem(last=False)
            self.release(oldest_transport)
            oldest.evict()
        self.hosts[transport] = host
        self.per_client[host] += 1
        self.http[transport] = proto
        self.idle[transport] = proto
        return None

    def admit_websocket(self, transport: asyncio.BaseTransport) -> str | None:
        """Move an upgraded connection to the WebSocket count, or say why not."""
        self.http.pop(transport, None)
        self.idle.pop(transport, None)
        host = self.hosts.get(transport, _client_host(transport))
        cap = self.limits.max_websockets_per_client
        if cap and self.websockets_per_client[host] >= cap:
            return f"too many WebSocket connections from {host} (limit {cap})"
        if len(self.websockets) >= self.limits.max_websockets:
            return f"too many WebSocket connections (limit {self.limits.max_websockets})"
        self.websockets.add(transport)
        self.websockets_per_client[host] += 1
        return None

    def went_idle(self, transport: asyncio.BaseTransport) -> None:
        proto = self.http.get(transport)
        if proto is not None:
            self.idle[transport] = proto
            self.idle.move_to_end(transport)

    def release(self, transport: asyncio.BaseTransport) -> None:
        """Forget a closed (or closing) connection; a second call does nothing."""
        host = self.hosts.pop(transport, None)
        if host is None:
            return
        self.per_client[host] -= 1
        if self.per_client[host] <= 0:
            del self.per_client[host]
        self.http.pop(transport, None)
        self.idle.pop(transport, None)
        if transport in self.websockets:
            self.websockets.discard(transport)
            self.websockets_per_client[host] -= 1
            if self.websockets_per_client[host] <= 0:
                del self.websockets_per_client[host]


class _ShutdownWatch:
    """Ends a connection that lingers once the server stops: checked every `CLOSE_GRACE`
    s, it is aborted when it was already closing at the previous check (so a response
    written just before its close still had that long to reach the client). A TLS close
    otherwise waits up to 30 s for the client's close_notify (asyncio's SSL shutdown
    timeout), which an idle keep-alive client, not reading, never sends."""

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.BaseTransport
                 ) -> None:
        self.loop, self.transport = loop, transport
        self.was_closing = transport.is_closing()
        self.timer: asyncio.TimerHandle | None = loop.call_later(CLOSE_GRACE, self._check)

    def _check(self) -> None:
        closing = self.transport.is_closing()
        if closing and self.was_closing:
            self.timer = None
            if isinstance(self.transport, asyncio.WriteTransport):
                self.transport.abort()
            return
        self.was_closing = closing
        self.timer = self.loop.call_later(CLOSE_GRACE, self._check)

    def cancel(self) -> None:
        """The connection is gone: nothing to end."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


HEADERS, BODY = "headers", "body"


class _HeadLimitedConnection(h11.Connection):
    """h11's server side, holding every request's line and headers to MAX_HEADER_BYTES. h11
    refuses headers that grow past its `max_incomplete_event_size` before they are complete,
    but parses complete ones of any size: headers of 100 KB that came in one read passed.
    Here their size is what parsing them took from the receive buffer; `refusal` says why a
    RemoteProtocolError was raised when it was their size."""

    def __init__(self) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.refusal: tuple[int, str] | None = None

    def next_event(self) -> Any:
        if self.their_state is not h11.IDLE:  # not reading a request's headers
            return super().next_event()
        buffered = len(self._receive_buffer)  # h11 has no public size of it (only a copy)
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint == 431:  # incomplete, and already over the limit
                self.refusal = HEADERS_TOO_LARGE
            raise
        if (isinstance(event, h11.Request)
                and buffered - len(self._receive_buffer) > MAX_HEADER_BYTES):
            self.refusal = HEADERS_TOO_LARGE
            raise h11.RemoteProtocolError(HEADERS_TOO_LARGE[1], error_status_hint=431)
        return event


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines and the connection caps."""

    def __init__(self, config: uvicorn.Config, server_state: ServerState,
                 app_state: dict[str, Any], _loop: asyncio.AbstractEventLoop | None = None
                 ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, _LimitedConfig), "built by api_server"
        self.conn = _HeadLimitedConnection()
        self.limits = config.limits
        self.admission = config.admission
        self.reading: str | None = None  # HEADERS or BODY while a deadline runs
        self.deadline: asyncio.TimerHandle | None = None
        self.write_stall: asyncio.TimerHandle | None = None
        self.upgraded = False
        self.shutdown_watch: _ShutdownWatch | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = transport.get_extra_info("ssl_object")
        peer = tls.getpeercert() if tls is not None else None
        if peer:  # verified against the client CA; the app reads it from the scope's state
            self.app_state = {**self.app_state, PEER_CERT: peer}
        refusal = self.admission.admit_http(self, transport)
        if refusal is not None:
            _refuse(transport, *refusal)
            return
        self._expect(HEADERS)

    def connection_lost(self, exc: Exception | None) -> None:
        self._expect(None)
        self.resume_writing()
        if self.shutdown_watch is not None:
            self.shutdown_watch.cancel()
        self.admission.release(self.transport)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server stops: uvicorn closes an idle connection (lets a busy one finish its
        response); either is aborted if it lingers (`_ShutdownWatch`)."""
        super().shutdown()
        self.shutdown_watch = _ShutdownWatch(self.loop, self.transport)

    def pause_writing(self) -> None:
        """The client reads slower than the node answers: it has `write_timeout` to catch
        up before the connection is aborted (its answer waits in memory till then)."""
        super().pause_writing()
        if self.write_stall is None:
            self.write_stall = self.loop.call_later(self.limits.write_timeout,
                                                    self.transport.abort)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.write_stall is not None:
            self.write_stall.cancel()
            self.write_stall = None

    def data_received(self, data: bytes) -> None:
        self.admission.idle.pop(self.transport, None)  # busy: not evicted
        if self.reading is None and self.conn.their_state is h11.IDLE:
            self._expect(HEADERS)  # a later request on a keep-alive connection
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        self._follow()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 refused; 431 with the reason when it was the
        size of its headers (the request is not run)."""
        refusal = self.conn.refusal if isinstance(self.conn, _HeadLimitedConnection) else None
        if refusal is None:
            super().send_400_response(msg)
            return
        self._expect(None)
        _refuse(self.transport, *refusal)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self.upgraded = True
        self._expect(None)
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing() or self.upgraded:
            return
        if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
            self._expect(None)  # idle: uvicorn's keep-alive timeout runs from here
            self.admission.went_idle(self.transport)
        else:
            self._follow()

    def evict(self) -> None:
        """Close this idle connection to make room for a new one (as keep-alive would)."""
        self._expect(None)
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()

    def _follow(self) -> None:
        """Keep the deadline that fits what the client is sending now."""
        if self.upgraded or self.transport.is_closing():
            return
        state = self.conn.their_state
        want = HEADERS if state is h11.IDLE else BODY if state is h11.SEND_BODY else None
        if want != self.reading:
            self._expect(want)

    def _expect(self, what: str | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.reading = what
        if what is not None:
            delay = self.limits.header_timeout if what == HEADERS else self.limits.body_timeout
            self.deadline = self.loop.call_later(delay, self._timed_out)

    def _timed_out(self) -> None:
        what, self.reading, self.deadline = self.reading, None, None
        if self.transport.is_closing():
            return
        if what == HEADERS and self.transport in self.admission.idle:
            self.timeout_keep_alive_handler()  # nothing of a request came: close quietly
            return
        cycle = self.cycle if what == BODY else None
        if cycle is not None:  # the app waits for the rest of the body: it gets a disconnect
            cycle.disconnected = True
            cycle.message_event.set()
        if cycle is None or not cycle.response_started:
            limit = self.limits.header_timeout if what == HEADERS else self.limits.body_timeout
            _refuse(self.transport, 408, f"request {what} not received within {limit:g} s")
        else:
            self.transport.close()


class LimitedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol with the connection caps, and no writes to a
    connection once it is failing."""

    shutdown_watch: _ShutdownWatch | None = None

    @property
    def admission(self) -> Admission:
        assert isinstance(self.config, _LimitedConfig), "built by api_server"
        return self.config.admission

    def handle_connect(self, event: WsRequest) -> None:
        refusal = self.admission.admit_websocket(self.transport)
        if refusal is None:
            super().handle_connect(event)
            return
        self.handshake_initiated = self.handshake_complete = self.close_sent = True
        self.conn.send_response(self.conn.reject(http.HTTPStatus.TOO_MANY_REQUESTS,
                                                 refusal + "\n"))
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.shutdown_watch is not None:
            self.shutdown_watch.cancel()
        self.admission.release(self.transport)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server stops: uvicorn sends close 1012; the connection is aborted if it
        lingers (`_ShutdownWatch`)."""
        super().shutdown()
        self.shutdown_watch = _ShutdownWatch(self.loop, self.transport)

    async def send(self, message: Any) -> None:
        if message["type"] == "websocket.send" and self.transport.is_closing():
            # A write failed (the client is gone) or the connection is closing: asyncio
            # would log every further write to it, and none can arrive.
            raise ClientDisconnected()
        if (message["type"] == "websocket.close" and self.handshake_complete
                and not self.writable.is_set()):
            # The client is not reading: a close frame would wait behind what it never
            # reads, and the connection with it.
            self.transport.abort()
            raise ClientDisconnected()
        await super().send(message)

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        if self.transport.get_write_buffer_size():  # unanswered pings and unread writes
            self.transport.abort()


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it passes `limit` bytes (declared or streamed)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
