"""How much of the API one client address, and one credential, may use: request rates, batch
and body sizes, WebSockets and subscriptions (the connection caps of `http_server` bound what
a client holds; these bound what it asks). Rates are token buckets per address and per
credential, one token per call, request or WebSocket message, holding `rate_burst_seconds`
of the rate; over either, the request is refused whole with 429 and Retry-After before it
runs. Loopback clients (the node's operator, the benchmark) are limited by credential only
unless `rate_limit_loopback`; expensive reads have their own gate (`read_gate`)."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from consortium.api.auth import CREDENTIAL_KEY, deny, is_loopback, refusal_body
from consortium.errors import TooManyRequests

LIMIT_EXCEEDED = -32005  # as the read gate's 429 (EIP-1474's "limit exceeded")
MAX_BUCKETS = 100_000  # client addresses/credentials remembered; full buckets are dropped first


@dataclass(frozen=True)
class ClientLimits:
    """The `[api]` keys of what one client may ask. A rate of 0 means none."""

    requests_per_second_per_client: int = 5_000  # calls and requests of one address
    requests_per_second_per_credential: int = 10_000  # of one token or client certificate
    rate_burst_seconds: float = 2.0  # a bucket holds this many seconds of its rate
    rate_limit_loopback: bool = False  # loopback clients rate limited by address too
    max_batch: int = 1_000  # calls in one JSON-RPC batch
    max_body_bytes: int = 64 * 1024 * 1024  # one HTTP request's body (as CometBFT's RPC)
    max_websockets_per_credential: int = 64  # 0: no cap
    max_subscriptions_per_credential: int = 1_024  # over all its WebSockets; 0: no cap


class TokenBuckets:
    """One token bucket per key, refilled at `rate`/s up to `rate * burst` tokens."""

    def __init__(self, rate: int, burst_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(rate * burst_seconds, 1.0)
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: str, n: int = 1) -> float:
        """Take `n` tokens for `key`: 0 when granted, else the seconds until they would be
        (nothing is taken then). A request larger than the bucket waits for a full one."""
        if not self.rate:
            return 0.0
        now = self.clock()
        tokens, when = self.buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - when) * self.rate)
        need = min(float(n), self.capacity)
        if tokens < need:
            self.buckets[key] = (tokens, now)
            return (need - tokens) / self.rate
        if len(self.buckets) >= MAX_BUCKETS and key not in self.buckets:
            self._forget_full(now)
        self.buckets[key] = (tokens - need, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (they hold nothing a new one would not)."""
        self.buckets = {k: (t, w) for k, (t, w) in self.buckets.items()
                        if t + (now - w) * self.rate < self.capacity}


class ClientGate:
    """The node's rate buckets and its WebSocket count per credential (the subscription
    hub counts subscriptions per credential)."""

    def __init__(self, limits: ClientLimits | None = None) -> None:
        self.limits = limits = limits or ClientLimits()
        self.by_client = TokenBuckets(limits.requests_per_second_per_client,
                                      limits.rate_burst_seconds)
        self.by_credential = TokenBuckets(limits.requests_per_second_per_credential,
                                          limits.rate_burst_seconds)
        self.websockets: Counter[str] = Counter()

    def charge(self, scope: Scope, calls: int = 1) -> None:
        """Count `calls` against the request's client address and credential, or raise
        TooManyRequests (nothing counted) naming which limit and when to retry."""
        host = _host(scope)
        credential = scope.get(CREDENTIAL_KEY)
        checks = [(self.by_credential, credential, f"with credential {credential}",
                   self.limits.requests_per_second_per_credential)] if credential else []
        if host and (self.limits.rate_limit_loopback or not is_loopback(host)):
            checks.insert(0, (self.by_client, host, f"from {host}",
                              self.limits.requests_per_second_per_client))
        for buckets, key, who, rate in checks:
            wait = buckets.take(key, calls)
            if wait:
                raise TooManyRequests(f"too many requests {who}: the limit is {rate}/s; "
                                      "retry later", retry_after=math.ceil(wait))

    def open_websocket(self, scope: Scope) -> str | None:
        """Count a WebSocket of the request's credential, or say why not."""
        credential = scope.get(CREDENTIAL_KEY)
        cap = self.limits.max_websockets_per_credential
        if not credential:
            return None
        if cap and self.websockets[credential] >= cap:
            return f"too many WebSocket connections with credential {credential} (limit {cap})"
        self.websockets[credential] += 1
        return None

    def close_websocket(self, scope: Scope) -> None:
        credential = scope.get(CREDENTIAL_KEY)
        if credential:
            self.websockets[credential] -= 1
            if self.websockets[credential] <= 0:
                del self.websockets[credential]


def _host(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def too_many_body(err: TooManyRequests, req_id: object = None) -> dict[str, object]:
    return refusal_body(LIMIT_EXCEEDED, err.message, req_id)


class RateLimited:
    """ASGI middleware (inside the auth middleware, which names the credential): every
    HTTP request but JSON-RPC's POST / (charged per call once its body is parsed) and
    `/health` takes one token; a WebSocket handshake takes one."""

    def __init__(self, app: ASGIApp, gate: ClientGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"] != "/health" and not (
                scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/"):
            try:
                self.gate.charge(scope)
            except TooManyRequests as err:
                await deny(scope, send, 429, too_many_body(err),
                           [(b"retry-after", str(err.retry_after).encode())])
                return
        await self.app(scope, receive, send)
