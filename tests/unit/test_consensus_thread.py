"""The ABCI server answers on its own thread while the API's loop is busy, and CheckTx
answers told on that thread reach the API's futures on the API's loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

from test_abci_server import EchoApp

from consortium.abci.consensus_thread import ConsensusThread
from consortium.abci.protocol import Request, Response, frame, split_frames, types_pb2
from consortium.abci.server import AbciServer
from consortium.api.engine_client import Broadcast, CheckTxWatch, _Batch, _Pending
from consortium.errors import NonceTooLow


def _echo(sock_path: Path, message: str) -> tuple[str, float]:
    """One echo over a blocking socket (a thread of its own: CometBFT's stand-in)."""
    start = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(sock_path))
        sock.sendall(frame(Request(echo=types_pb2.RequestEcho(message=message))
                           .SerializeToString()))
        buf = bytearray()
        while True:
            buf += sock.recv(65536)
            frames = list(split_frames(buf))
            if frames:
                resp = Response()
                resp.ParseFromString(frames[0])
                return resp.echo.message, time.monotonic() - start


def test_abci_answers_while_the_api_loop_is_busy(tmp_path: Path) -> None:
    consensus = ConsensusThread(AbciServer(EchoApp(), tmp_path / "abci.sock"))
    consensus.start()
    try:
        answers: list[tuple[str, float]] = []

        def engine() -> None:
            for i in range(5):
                answers.append(_echo(consensus.server.socket_path, f"ping {i}"))

        async def busy_api() -> None:
            caller = threading.Thread(target=engine)
            caller.start()
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline and caller.is_alive():
                sum(range(10_000))  # the API's loop never yields (an expensive request)
            caller.join(10)

        asyncio.run(busy_api())
        assert [a for a, _ in answers] == [f"ping {i}" for i in range(5)]
        # with one shared loop each echo would wait for the whole 1.5 s of busy work
        assert max(t for _, t in answers) < 0.5, answers
    finally:
        consensus.stop()
    assert not consensus.alive
    assert not (tmp_path / "abci.sock").exists()


def test_start_reports_a_server_that_cannot_listen(tmp_path: Path) -> None:
    blocker = tmp_path / "dir-not-socket"
    (blocker / "abci.sock").mkdir(parents=True)  # a directory where the socket should go
    consensus = ConsensusThread(AbciServer(EchoApp(), blocker / "abci.sock"))
    try:
        consensus.start()
    except Exception as exc:
        assert "ABCI server failed to start" in str(exc)
    else:
        raise AssertionError("start() should fail")
    finally:
        consensus.stop()


def test_checktx_answers_cross_threads_to_the_api_loop() -> None:
    async def run() -> tuple[Broadcast, Broadcast, int]:
        loop = asyncio.get_running_loop()
        watch = CheckTxWatch(loop)
        batch = _Batch(2, loop.create_future())
        watch.expect(_Pending(b"tx-ok", batch, 0))
        watch.expect(_Pending(b"tx-bad", batch, 1))

        def consensus_thread() -> None:  # CheckTx answers arrive on another thread
            watch.resolve(b"tx-ok", 0, "")
            watch.resolve(b"from-a-peer", 0, "")
            watch.resolve(b"tx-bad", NonceTooLow.abci_code, "nonce 1 already used")

        worker = threading.Thread(target=consensus_thread)
        worker.start()
        results = await asyncio.wait_for(batch.future, 5)
        worker.join()
        return results[0], results[1], len(watch)

    ok, bad, waiting = asyncio.run(run())
    assert ok.error is None
    assert isinstance(bad.error, NonceTooLow) and "already used" in bad.error.message
    assert waiting == 0
