"""eth_subscribe over WebSocket: the connections, their subscriptions, and the task that
pushes `newHeads` and `logs` notifications for new blocks. One queue and one writer per
connection, so messages never interleave; a client whose backlog passes `max_backlog` is
disconnected (not buffered in the node's memory), and one that is gone loses its
subscriptions at once. A connection's credential (its token, or client certificate) is checked
again before each push and every CREDENTIAL_CHECK_SECONDS: once it is revoked or expired the
connection gets a last JSON-RPC error and is closed (1008), its subscriptions gone."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from consortium.api import json_codec
from consortium.api.eth_json import EthReads, log_json
from consortium.api.filters import LogCriteria
from consortium.api.rpc_error import InvalidParams, LimitExceeded
from consortium.ledger.types import LedgerReader, LogEntry

log = logging.getLogger("consortium.api.subscriptions")

NEW_HEADS, LOGS = "newHeads", "logs"
MAX_SUBSCRIPTIONS_PER_CONNECTION = 256  # geth: none; Infura/Alchemy: a few hundred
MAX_BACKLOG = 10_000  # queued messages before a slow client is disconnected (geth: 20,000)
MAX_CATCH_UP = 1000  # blocks pushed per poll when the poller falls behind
HEADER_DROP = ("transactions", "uncles", "size", "totalDifficulty")
CREDENTIAL_CHECK_SECONDS = 1.0  # an idle connection's credential is checked this often
UNAUTHORIZED = -40100  # api/auth.py's code for a credential that is not (or no longer) valid
POLICY_VIOLATION = 1008  # the WebSocket close code of a connection whose credential ended


@dataclass
class Subscription:
    id: str
    kind: str
    criteria: LogCriteria
    after: int  # the height when it was made: events of later blocks only
    ready: bool = False  # set once the eth_subscribe answer is queued ahead of any event


class Connection:
    """One WebSocket client: its outgoing messages and its subscriptions."""

    def __init__(self, *, max_backlog: int = MAX_BACKLOG, client: str = "client",
                 on_overflow: Callable[[], object] | None = None, credential: str = "",
                 live: Callable[[], tuple[str | None, str]] | None = None) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.subscriptions: dict[str, Subscription] = {}
        self.max_backlog = max_backlog
        self.client = client  # host:port, for the one log line a dropped client gets
        self.credential = credential  # the token or certificate it connected with, if any
        self.on_overflow = on_overflow  # told once, when the backlog overflows
        self.overflowed = False
        self.gone = False  # closed, dropped, or a write to it failed: nothing more is queued
        # the credential's scope now, or (None, why not): auth.live_credential; None: no auth
        self.live = live
        self.ended: str | None = None  # why the node ended it (the WebSocket close reason)

    def credential_scope(self, req_id: Any = None) -> str | None:
        """The scope the connection's credential grants now ("admin" without auth); None,
        after ending the connection with a last error (answering `req_id`), once it is
        revoked or expired."""
        if self.ended is not None:
            return None
        if self.live is None:
            return "admin"
        has, why = self.live()
        if has is None:
            self.end(f"unauthorized: {why}", req_id)
        return has

    def end(self, reason: str, req_id: Any = None) -> None:
        """Queue a last JSON-RPC error saying why, then close (the writer closes the
        WebSocket with POLICY_VIOLATION and `reason`); the subscriptions go at once."""
        if self.gone:
            return
        self.ended = reason
        self.subscriptions.clear()
        self.queue.put_nowait(json_codec.dumps({
            "jsonrpc": "2.0", "id": req_id,
            "error": {"code": UNAUTHORIZED, "message": reason + "; the connection is closed"},
        }).decode())
        self.close()

    def send(self, text: str) -> None:
        """Queue an answer to the client's request and arm the subscriptions it may have
        created. Answers count toward the backlog too: a client that sends requests and
        never reads the answers is dropped like one that never reads notifications."""
        self.notify(text)
        for sub in self.subscriptions.values():  # none once the connection is gone
            sub.ready = True

    def notify(self, text: str) -> None:
        """Queue a notification; past the backlog limit, drop the connection instead."""
        if not self.gone and self.queue.qsize() >= self.max_backlog:
            self.overflowed = True
            self.close()
            if self.on_overflow is not None:
                self.on_overflow()
        if not self.gone:
            self.queue.put_nowait(text)

    def close(self) -> None:
        """Stop queueing: the writer ends at the marker, the subscriptions are dropped."""
        if not self.gone:
            self.gone = True
            self.subscriptions.clear()
            self.queue.put_nowait(None)


class SubscriptionHub:
    """The subscriptions of every connection, fed by one poller of the ledger."""

    def __init__(self, ledger: LedgerReader,
                 run_sync: Callable[[Callable[[], Any]], Awaitable[Any]], *,
                 interval: float = 0.1) -> None:
        self.ledger = ledger
        self._run_sync = run_sync
        self.interval = interval
        self.connections: set[Connection] = set()
        self.max_subscriptions = MAX_SUBSCRIPTIONS_PER_CONNECTION
        self.max_subscriptions_per_credential = 0  # over all its connections; 0: no cap
        self.max_backlog = MAX_BACKLOG  # for the connections made from now on
        self.last_height: int | None = None
        self.on_tick: list[Callable[[], object]] = []  # housekeeping run every ~10 s

    # --- bookkeeping ------------------------------------------------------------------------

    def attach(self, conn: Connection) -> None:
        self.connections.add(conn)

    def detach(self, conn: Connection) -> None:
        self.connections.discard(conn)
        conn.subscriptions.clear()

    @property
    def subscription_count(self) -> int:
        """Subscriptions of all connections (what a dropped client must not leave behind)."""
        return sum(len(c.subscriptions) for c in self.connections)

    def subscribe(self, conn: Connection, kind: str, criteria: LogCriteria) -> str:
        if kind not in (NEW_HEADS, LOGS):
            raise InvalidParams(f"params[0]: unsupported subscription {kind!r}; this node "
                                f"offers {NEW_HEADS!r} and {LOGS!r}")
        if len(conn.subscriptions) >= self.max_subscriptions:
            raise LimitExceeded(f"at most {self.max_subscriptions} subscriptions per "
                                "connection; eth_unsubscribe one first")
        cap = self.max_subscriptions_per_credential
        if cap and conn.credential and sum(
                len(c.subscriptions) for c in self.connections
                if c.credential == conn.credential) >= cap:
            raise LimitExceeded(f"at most {cap} subscriptions per credential "
                                f"({conn.credential}); eth_unsubscribe one first")
        sub_id = "0x" + secrets.token_hex(16)
        conn.subscriptions[sub_id] = Subscription(sub_id, kind, criteria,
                                                  self.ledger.latest_height())
        return sub_id

    @staticmethod
    def unsubscribe(conn: Connection, sub_id: str) -> bool:
        return conn.subscriptions.pop(sub_id.lower(), None) is not None

    # --- the poller ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll the ledger's height every `interval` seconds until cancelled."""
        ticks_per_housekeeping = max(int(10 / self.interval), 1)
        ticks_per_check = max(int(CREDENTIAL_CHECK_SECONDS / self.interval), 1)
        for ticks in itertools.count(1):
            try:
                if ticks % ticks_per_check == 0:
                    self.check_credentials()
                await self.poll()
            except Exception:
                log.exception("subscription poll failed; retrying")
            if ticks % ticks_per_housekeeping == 0:
                for job in self.on_tick:
                    try:
                        job()
                    except Exception:
                        log.exception("API housekeeping failed")
            await asyncio.sleep(self.interval)

    def check_credentials(self, connections: Iterable[Connection] | None = None) -> None:
        """End the connections whose credential was revoked or expired (one stat of the
        token file each, as an HTTP request pays)."""
        for conn in list(self.connections if connections is None else connections):
            if not conn.gone and conn.live is not None and conn.credential_scope() is None:
                self.detach(conn)
                log.info("WebSocket client %s closed: %s", conn.client, conn.ended)

    async def poll(self) -> None:
        """Push notifications for every block committed since the last poll (to the
        connections whose credential is still valid)."""
        latest = self.ledger.latest_height()
        last = self.last_height
        self.last_height = latest
        if last is None or latest <= last:
            return
        self.check_credentials([c for c in self.connections if c.subscriptions])
        subs = [(c, s) for c in self.connections if not c.gone
                for s in c.subscriptions.values() if s.ready]
        if not subs:
            return
        start = max(last + 1, latest - MAX_CATCH_UP + 1)
        want_heads = any(s.kind == NEW_HEADS for _, s in subs)
        want_logs = any(s.kind == LOGS for _, s in subs)
        heads, logs = await self._run_sync(lambda: self._read(start, latest, want_heads,
                                                              want_logs))
        for conn, sub in subs:
            prefix = ('{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"'
                      + sub.id + '","result":')
            if conn.gone:  # dropped by an earlier notification of this poll
                continue
            for text in ([head for height, head in heads if height > sub.after]
                         if sub.kind == NEW_HEADS else
                         [text for entry, text in logs if entry.block_number > sub.after
                          and sub.criteria.matches(entry)]):
                conn.notify(prefix + text + "}}")

    def _read(self, start: int, end: int, want_heads: bool, want_logs: bool
              ) -> tuple[list[tuple[int, str]], list[tuple[LogEntry, str]]]:
        """The new blocks' headers (a newHeads notification carries no more) and logs, each
        serialized once for all subscribers."""
        reads = EthReads(self.ledger)
        blocks = [(h, reads.get_block(h)) for h in range(start, end + 1)] if want_heads else []
        heads = [(h, json_codec.dumps({k: v for k, v in block.items()
                                       if k not in HEADER_DROP}).decode())
                 for h, block in blocks if block is not None]
        entries = self.ledger.get_logs(LogCriteria().tx_filter(start, end)) if want_logs else []
        return heads, [(entry, json_codec.dumps(log_json(entry)).decode())
                       for entry in entries]
