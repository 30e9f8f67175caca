"""CheckTx answers across a process boundary: the node's ABCI app tells every answer to a
`CheckTxRelay` (from the consensus thread), which writes them in bursts to the API process
connected on a unix socket; there `follow_checks` hands them to that process's
`CheckTxWatch`, as the ABCI app hands them to an API in the node's own process.

The other way (`NodeLink`), the API process tells the node the sender it recovered of each
transaction it is about to send, so that the node's CheckTx takes it instead of recovering
the signature again (`SenderCache.know`): one recovery a transaction, not two; and it hands
the node each ABI registered with the explorer, which the node stores (the API's process
reads the ledger's store, never writes it), and asks its mempool's pending nonces; the node
answers each request, in order. The socket is the node user's alone (mode 0600): what
arrives on it is trusted as the node's own code is. The node also tells there each
privacy-group height its processor executed (`private_block`), which the API's process
attests as the node's own API would."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import struct
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from consortium.api.bursts import LoopBursts
from consortium.api.engine_client import CheckTxWatch
from consortium.errors import ConsortiumError

log = logging.getLogger("consortium.api.check_relay")

_HEAD = struct.Struct(">BIIH")  # kind, raw length, code, log length; then raw and log
# the node's kinds: a CheckTx answer; a private block processed; the answer to a request of
# the API's process (code 0 and its result as the raw, or 1 and the log saying why not)
_ANSWER, _PRIVATE_BLOCK, _ABI_STORED, _NONCES = 0, 1, 2, 3
_PRIVATE = struct.Struct(">32sQ32s?")  # group id, height, private root, had markers
_UP = struct.Struct(">BI20s")  # the API's way: kind, body length, address; then the body
# the API's kinds: a raw transaction and its sender; an ABI document for the address; the
# mempool's pending nonces of the addresses the body lists (20 bytes each)
_SENDER, _ABI, _ASK_NONCES = 0, 1, 2
_ANSWER_KIND = {_ABI: _ABI_STORED, _ASK_NONCES: _NONCES}  # a request's answer
MAX_UP_BODY_BYTES = 1 << 20  # no transaction CheckTx admits is larger, nor an ABI's document
ABI_STORE_TIMEOUT = 30.0  # for the node's acknowledgement of an ABI it was handed
NONCES_TIMEOUT = 5.0  # for the node's pending nonces (past it: what the API's process sent)
# What may wait unread for the API's process: past it answers are dropped (logged), and a
# client whose answer was dropped gets the engine client's timeout instead
MAX_BACKLOG_BYTES = 64 << 20


def encode(items: list[tuple[bytes, int, str]]) -> bytes:
    parts = []
    for raw, code, text in items:
        t = text.encode()[:65535]
        parts.append(_HEAD.pack(_ANSWER, len(raw), code, len(t)))
        parts.append(raw)
        parts.append(t)
    return b"".join(parts)


def encode_senders(txs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """(raw, sender) pairs as the API process writes them to the node."""
    return b"".join(_UP.pack(_SENDER, len(raw), sender) + raw for raw, sender in txs)


def encode_abi(address: bytes, document: bytes) -> bytes:
    """An ABI document for the node to store for `address`."""
    return _UP.pack(_ABI, len(document), address) + document


def encode_ask_nonces(addresses: Sequence[bytes]) -> bytes:
    """A request for the pending nonces of `addresses` in the node's mempool."""
    body = b"".join(addresses)
    return _UP.pack(_ASK_NONCES, len(body), bytes(20)) + body


def decode_up(buf: bytearray) -> list[tuple[int, bytes, bytes]]:
    """The whole (kind, address or sender, body) frames at the start of `buf`, taken out of
    it (a partial one stays for the next read). Raises ValueError on a kind or a length the
    API process never sends."""
    out: list[tuple[int, bytes, bytes]] = []
    at = 0
    while len(buf) - at >= _UP.size:
        kind, n, address = _UP.unpack_from(buf, at)
        if kind not in (_SENDER, _ABI, _ASK_NONCES):
            raise ValueError(f"a frame of kind {kind}")
        if n > MAX_UP_BODY_BYTES:
            raise ValueError(f"a frame of {n} bytes")
        end = at + _UP.size + n
        if end > len(buf):
            break
        out.append((kind, address, bytes(buf[at + _UP.size:end])))
        at = end
    del buf[:at]
    return out


def _store_abi(store: Callable[[bytes, bytes], None], address: bytes, document: bytes
               ) -> bytes:
    store(address, document)
    return b""


def _read_nonces(read: Callable[[list[bytes]], list[int]], body: bytes) -> bytes:
    asked = [body[i:i + 20] for i in range(0, len(body) - len(body) % 20, 20)]
    return b"".join(n.to_bytes(8, "big") for n in read(asked))


class CheckTxRelay:
    """The node's side: a unix socket server; `resolve` is the ABCI app's `on_check`;
    `on_senders` hears the senders the API process recovered; on a worker thread, `on_abi`
    stores an ABI it was handed and `pending_nonces` reads the mempool's pending nonces of
    addresses (what either raises is told back as the reason)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, path: Path,
                 on_senders: Callable[[list[tuple[bytes, bytes]]], None] | None = None,
                 on_abi: Callable[[bytes, bytes], None] | None = None,
                 pending_nonces: Callable[[list[bytes]], list[int]] | None = None) -> None:
        self._loop = loop
        self.path = path
        self._on_senders = on_senders
        self._on_abi = on_abi
        self._pending_nonces = pending_nonces
        self._told: LoopBursts[tuple[bytes, int, str]] = LoopBursts(self._send)
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._connected, str(self.path))
        os.chmod(self.path, 0o600)  # the node's user alone: senders told here are trusted

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                         ) -> None:
        self._writers.append(writer)
        buf = bytearray()
        try:
            while chunk := await reader.read(1 << 20):  # until the API process goes
                buf += chunk
                pairs = []
                for kind, address, body in decode_up(buf):
                    if kind == _SENDER:
                        pairs.append((body, address))
                        continue
                    if pairs and self._on_senders is not None:  # in the order they came
                        self._on_senders(pairs)
                    pairs = []
                    writer.write(await self._answer(kind, address, body))
                if pairs and self._on_senders is not None:
                    self._on_senders(pairs)
        except ValueError as exc:
            log.warning("the API's process sent what is no transaction (%s): link closed", exc)
        except Exception:  # noqa: S110 (a broken link ends like a closed one)
            pass
        finally:
            self._writers.remove(writer)
            writer.close()

    async def _answer(self, kind: int, address: bytes, body: bytes) -> bytes:
        """Do what the API's process asked (on a worker thread); the answer's frame."""
        answer = _ANSWER_KIND[kind]
        why = "this node does not do that"
        work: Callable[[], bytes] | None = None
        if kind == _ABI and self._on_abi is not None:
            work = functools.partial(_store_abi, self._on_abi, address, body)
        elif kind == _ASK_NONCES and self._pending_nonces is not None:
            work = functools.partial(_read_nonces, self._pending_nonces, body)
        if work is not None:
            try:
                result = await self._loop.run_in_executor(None, work)
                return _HEAD.pack(answer, len(result), 0, 0) + result
            except Exception as exc:  # noqa: BLE001 (told to the API's process, as its reason)
                log.warning("a request of the API's process failed (kind %d, 0x%s): %s",
                            kind, address.hex(), exc)
                why = str(exc) or type(exc).__name__
        text = why.encode()[:65535]
        return _HEAD.pack(answer, 0, 1, len(text)) + text

    @property
    def listeners(self) -> int:
        """How many API processes are connected."""
        return len(self._writers)

    def private_block(self, group_id: bytes, height: int, root: bytes,
                      had_markers: bool) -> None:
        """A privacy group's height the node's processor executed (its thread): told to
        the API's process, whose submitter attests the roots (`PrivacyNode.on_block`)."""
        body = _PRIVATE.pack(group_id, height, root, had_markers)
        frame = _HEAD.pack(_PRIVATE_BLOCK, len(body), 0, 0) + body
        self._loop.call_soon_threadsafe(self._write, frame, "a private block's height")

    def _write(self, frame: bytes, what: str) -> None:
        """`frame` to every API process connected, but one that reads nothing (its backlog
        past `MAX_BACKLOG_BYTES`): dropped there, with a warning."""
        for w in self._writers:
            if w.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
                log.warning("the API's process reads nothing from its node: %s dropped", what)
                continue
            w.write(frame)

    def resolve(self, raw: bytes, code: int, log_text: str) -> None:
        """Told by CheckTx (any thread): sent with the rest of its burst."""
        if self._writers:
            self._told.tell(self._loop, (raw, code, log_text))

    def _send(self, told: list[tuple[bytes, int, str]]) -> None:
        self._write(encode(told), f"{len(told)} CheckTx answers")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()


class _Sent(Protocol):
    raw: bytes
    sender: bytes


class NodeLink:
    """The API process's way to its node, on the CheckTx answers' connection once
    `follow_checks` has it: `tell` (on the API's loop, before the transactions go to the
    engine) writes the senders it recovered; before the link, and after the node went, it
    writes nothing (the node recovers them). `store_abi` hands the node an ABI to store,
    `pending_nonces` asks its mempool's pending nonces; each waits for the node's answer
    (answered in the order asked, kind by kind)."""

    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None
        self.told = 0
        # per answer kind, the requests not answered yet: (future, what a refusal says)
        self._waiting: dict[int, deque[tuple[asyncio.Future[bytes], str]]] = {
            kind: deque() for kind in _ANSWER_KIND.values()}

    def tell(self, txs: Sequence[_Sent]) -> None:
        writer = self.writer
        if writer is None or writer.is_closing() or not txs:
            return
        if writer.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
            return  # the node reads none: it recovers them itself
        writer.write(encode_senders([(tx.raw, tx.sender) for tx in txs]))
        self.told += len(txs)

    async def _ask(self, frame: bytes, answer: int, timeout: float, refused: str,
                   what: str) -> bytes:
        """Write a request; its answer's result. Raises ConsortiumError naming why not
        (`refused`: the node's refusal's first words; `what`: what an unanswered one
        means)."""
        writer = self.writer
        if writer is None or writer.is_closing():
            raise ConsortiumError(f"the API's process has no link to its node (starting or "
                                  f"stopping): {what}")
        done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[answer].append((done, refused))
        writer.write(frame)
        try:
            async with asyncio.timeout(timeout):
                return await done
        except TimeoutError:
            raise ConsortiumError(f"the node did not answer within {timeout:.0f} s: "
                                  f"{what}") from None

    async def store_abi(self, address: bytes, document: bytes,
                        timeout: float = ABI_STORE_TIMEOUT) -> None:
        """Have the node store `document` as the ABI of `address`; raises ConsortiumError
        naming why it was not stored (or may not have been)."""
        if len(document) > MAX_UP_BODY_BYTES:
            raise ConsortiumError(f"the ABI's document is over {MAX_UP_BODY_BYTES} bytes")
        await self._ask(encode_abi(address, document), _ABI_STORED, timeout,
                        "the node did not store the ABI",
                        "the ABI may be stored or not; read it back with consortium_getAbi")

    async def pending_nonces(self, addresses: Sequence[bytes],
                             timeout: float = NONCES_TIMEOUT) -> list[int]:
        """The next nonce of each address counting what the node's mempool admitted (its
        peers' transactions too); raises ConsortiumError if the node does not say."""
        if 20 * len(addresses) > MAX_UP_BODY_BYTES:
            raise ConsortiumError(f"{len(addresses)} addresses are too many for one request")
        got = await self._ask(encode_ask_nonces(addresses), _NONCES, timeout,
                              "the node did not read its pending nonces", "no pending nonces")
        if len(got) != 8 * len(addresses):
            raise ConsortiumError(f"the node answered {len(got)} bytes for "
                                  f"{len(addresses)} pending nonces")
        return [int.from_bytes(got[i:i + 8], "big") for i in range(0, len(got), 8)]

    def from_thread(self, loop: asyncio.AbstractEventLoop) -> NodeRequests:
        """`store_abi` and `pending_nonces` for a worker thread of the API (where JSON-RPC's
        reads run), the link's loop being `loop`."""
        return NodeRequests(self, loop)

    def answered(self, kind: int, result: bytes, error: str | None) -> None:
        """The node's answer to the oldest request of its kind not yet answered."""
        waiting = self._waiting.get(kind)
        if not waiting:
            return
        done, refused = waiting.popleft()
        if done.done():  # its caller stopped waiting
            return
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(ConsortiumError(f"{refused}: {error}"))

    def closed(self) -> None:
        """The link is gone: whatever waits for an answer learns it."""
        self.writer = None
        for waiting in self._waiting.values():
            while waiting:
                done, _ = waiting.popleft()
                if not done.done():
                    done.set_exception(ConsortiumError(
                        "the link to the node closed before it answered (an ABI handed to "
                        "it may be stored or not: consortium_getAbi tells)"))


class NodeRequests:
    """A `NodeLink`'s requests from a worker thread: each waits there for the node's answer
    (never call them on the link's own loop, whose thread they would wait on)."""

    def __init__(self, link: NodeLink, loop: asyncio.AbstractEventLoop) -> None:
        self.link, self.loop = link, loop

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def store_abi(self, address: bytes, document: bytes) -> None:
        if self._on_loop():
            raise ConsortiumError("an ABI is stored from a worker thread, not the API's loop")
        asyncio.run_coroutine_threadsafe(self.link.store_abi(address, document),
                                         self.loop).result()

    def pending_nonces(self, addresses: Sequence[bytes]) -> list[int] | None:
        """The node's pending nonces, or None when it cannot say now (no link, no answer in
        time, or asked on the API's loop itself)."""
        if self._on_loop():
            return None
        try:
            return asyncio.run_coroutine_threadsafe(self.link.pending_nonces(addresses),
                                                    self.loop).result()
        except ConsortiumError as exc:
            log.warning("the node's pending nonces unknown (%s): counting this API's own",
                        exc.message)
            return None


PrivateBlock = Callable[[bytes, int, bytes, bool], None]


async def follow_checks(path: Path, watch: CheckTxWatch, link: NodeLink | None = None,
                        on_private_block: PrivateBlock | None = None) -> None:
    """The API process's side: read the node's CheckTx answers until it goes (raises
    asyncio.IncompleteReadError then; ConnectionError if it never listened), the privacy
    groups' processed heights (`on_private_block`) and the ABIs' acknowledgements. `link`
    writes on the same connection."""
    for _ in range(200):
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
            break
        except OSError:
            await asyncio.sleep(0.05)
    else:
        raise ConnectionError(f"no CheckTx relay at {path}")
    if link is not None:
        link.writer = writer
    try:
        while True:
            head = await reader.readexactly(_HEAD.size)
            kind, n, code, m = _HEAD.unpack(head)
            body = await reader.readexactly(n + m)
            if kind == _ANSWER:
                watch.resolve(body[:n], code, body[n:].decode(errors="replace"))
            elif kind == _PRIVATE_BLOCK and on_private_block is not None and \
                    n == _PRIVATE.size:
                on_private_block(*_PRIVATE.unpack(body))
            elif kind in (_ABI_STORED, _NONCES) and link is not None:
                link.answered(kind, body[:n],
                              None if code == 0 else body[n:].decode(errors="replace"))
    finally:
        if link is not None:
            link.closed()
