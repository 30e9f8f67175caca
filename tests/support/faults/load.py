"""A bounded load of signed transfers from several dev accounts, sent in JSON-RPC batches,
that remembers every hash a node answered: those are the transactions the network now owes
the client (committed, or reported rejected with a reason)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from tests.support.faults import rpc


@dataclass(frozen=True)
class Sent:
    sender: str
    nonce: int
    node: str  # the API url that answered the hash
    at: float  # time.monotonic() when the answer came


@dataclass
class Load:
    """`senders` each send `per_sender` transfers of 1 wei to `to`, `batch` at a time, one
    batch every `interval` seconds, through `urls[i % len(urls)]`; when that node does not
    answer, the same signed batch goes to the next url (as a client with several nodes would).
    A sender stops at its first refusal: the nonces after it could only be refused too."""

    urls: list[str]
    senders: list[LocalAccount]
    to: str
    chain_id: int
    per_sender: int = 100
    batch: int = 10
    interval: float = 0.2
    failover_s: float = 120.0  # how long a batch keeps looking for a node that answers
    accepted: dict[str, Sent] = field(default_factory=dict)
    refused: list[tuple[str, int, str]] = field(default_factory=list)  # sender, nonce, message
    unanswered: int = 0  # batches no node answered (connection refused, reset, timeout)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for i, acct in enumerate(self.senders):
            first = int(rpc.result(self.urls[i % len(self.urls)], "eth_getTransactionCount",
                                   acct.address, "pending"), 16)
            t = threading.Thread(target=self._run, args=(i, acct, first), daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def stop(self, timeout: float = 120) -> None:
        """Stop sending (a batch under way finishes) and wait for the senders."""
        self._stop.set()
        self.join(timeout)

    def join(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._threads if t.is_alive()]
        assert not alive, f"{len(alive)} load senders still running after {timeout:.0f}s"

    @property
    def done(self) -> bool:
        return all(not t.is_alive() for t in self._threads)

    def hashes(self) -> list[str]:
        with self._lock:
            return list(self.accepted)

    def burst(self, acct: LocalAccount, url: str, count: int) -> int:
        """One batch of `count` transfers from `acct` (not one of the load's senders) through
        `url`, recorded with the load's; returns how many were accepted."""
        first = int(rpc.result(url, "eth_getTransactionCount", acct.address, "pending"), 16)
        nonces = range(first, first + count)
        answers = rpc.batch(url, [("eth_sendRawTransaction", ["0x" + self._sign(acct, n).hex()])
                                  for n in nonces], timeout=60)
        self._record(acct.address, nonces, answers, url)
        return sum("result" in a for a in answers)

    def _run(self, index: int, acct: LocalAccount, first: int) -> None:
        url_at = index
        for start in range(first, first + self.per_sender, self.batch):
            if self._stop.is_set():
                return
            nonces = range(start, min(start + self.batch, first + self.per_sender))
            raws = [self._sign(acct, n) for n in nonces]
            answers = None
            deadline = time.monotonic() + self.failover_s
            while answers is None and time.monotonic() < deadline:
                url = self.urls[url_at % len(self.urls)]
                try:
                    answers = rpc.batch(
                        url, [("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws])
                except (httpx.HTTPError, ValueError, RuntimeError):
                    url_at += 1
                    time.sleep(0.2)
            if answers is None:
                with self._lock:
                    self.unanswered += 1
                return
            if not self._record(acct.address, nonces, answers, url):
                return
            self._stop.wait(self.interval)

    def _record(self, sender: str, nonces: range, answers: list[Any], url: str) -> bool:
        ok = True
        now = time.monotonic()
        with self._lock:
            for nonce, answer in zip(nonces, answers, strict=True):
                if "result" in answer:
                    self.accepted[answer["result"]] = Sent(sender, nonce, url, now)
                else:
                    message = str(answer.get("error", {}).get("message", answer))
                    if "already known" not in message:  # a batch resent after a failover
                        self.refused.append((sender, nonce, message))
                        ok = False
        return ok

    def _sign(self, acct: LocalAccount, nonce: int) -> bytes:
        tx = {"to": self.to, "value": 1, "gas": 21000, "maxFeePerGas": 0,
              "maxPriorityFeePerGas": 0, "nonce": nonce, "chainId": self.chain_id}
        return bytes(acct.sign_transaction(tx).raw_transaction)


@dataclass
class Settled:
    """What became of every accepted transaction after the settle period."""

    committed: set[str]
    rejected: dict[str, str]  # hash -> the reason given
    lost: dict[str, str]  # hash -> the last status seen (pending, queued, unknown, ...)


def settle(url: str, hashes: list[str], timeout: float = 60) -> Settled:
    """Poll node `url` until every hash is committed or rejected with a reason, or `timeout`
    passes; what is left then is lost."""
    deadline = time.monotonic() + timeout
    while True:
        seen = rpc.statuses(url, hashes)
        committed = {h for h, (s, _) in seen.items() if s == rpc.COMMITTED}
        rejected = {h: why for h, (s, why) in seen.items() if s == rpc.REJECTED and why}
        lost = {h: s for h, (s, _) in seen.items() if h not in committed and h not in rejected}
        if not lost or time.monotonic() > deadline:
            return Settled(committed, rejected, lost)
        time.sleep(1.0)


def describe_lost(load: Load, lost: dict[str, str], events: list[tuple[float, str]],
                  names: dict[str, str] | None = None) -> dict[str, str]:
    """The lost transactions by sender and accepting node: their nonces, what that node says
    of them now, and the perturbation that followed their acceptance most closely."""
    groups: dict[tuple[str, str], list[tuple[str, Sent]]] = {}
    for h in lost:
        sent = load.accepted[h]
        groups.setdefault((sent.sender, sent.node), []).append((h, sent))
    out = {}
    for (sender, node), items in sorted(groups.items()):
        nonces = sorted(s.nonce for _, s in items)
        seen = rpc.statuses(node, [h for h, _ in items])
        said = sorted({st for st, _ in seen.values()})
        why = next((w for _, w in seen.values() if w), "")
        last = max(s.at for _, s in items)
        after = [(t - last, name) for t, name in events if t >= last]
        near = f"{after[0][0]:.2f}s before '{after[0][1]}'" if after else "after the schedule"
        out[f"{sender[:10]} via {(names or {}).get(node, node)}"] = (
            f"{len(nonces)} lost, nonces {nonces[0]}..{nonces[-1]}; that node says "
            f"{', '.join(said)}{f' ({why[:120]})' if why else ''}; last accepted {near}")
    return out
