"""The ABCI socket server answers every frame, and turns an application error into a
ResponseException instead of hanging the engine."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from consortium.abci.protocol import Request, Response, types_pb2
from consortium.abci.server import AbciServer
from tests.support.abci_testkit import exchange, serve_once


class EchoApp:
    """A minimal application: echo works, info fails on purpose."""

    def __getattr__(self, name: str):
        def handler(req):
            if name == "info":
                raise RuntimeError("disk on fire")
            if name == "echo":
                return types_pb2.ResponseEcho(message=req.message)
            return getattr(types_pb2, "Response" + name.title().replace("_", ""))()

        return handler


def test_server_answers_and_reports_exceptions(tmp_path: Path):
    echo, info, flush = serve_once(EchoApp(), tmp_path / "abci.sock", [
        Request(echo=types_pb2.RequestEcho(message="hello")),
        Request(info=types_pb2.RequestInfo()),
        Request(flush=types_pb2.RequestFlush()),
    ])
    assert echo.echo.message == "hello"
    assert info.WhichOneof("value") == "exception"
    assert "info failed: RuntimeError: disk on fire" in info.exception.error
    assert flush.WhichOneof("value") == "flush"


class BlockWaitsForCheckApp(EchoApp):
    """FinalizeBlock returns only once a CheckTx was answered meanwhile."""

    concurrent_calls = ("finalize_block",)

    def __init__(self) -> None:
        self.checked = threading.Event()

    def finalize_block(self, req):
        if not self.checked.wait(5):
            raise RuntimeError("no CheckTx was answered while the block executed")
        return types_pb2.ResponseFinalizeBlock(app_hash=b"\x01" * 32)

    def check_tx(self, req):
        self.checked.set()
        return types_pb2.ResponseCheckTx(code=0, gas_wanted=len(req.tx))


def test_checktx_is_answered_while_a_concurrent_finalize_block_runs(tmp_path: Path):
    """A call the application lists in `concurrent_calls` runs on a worker thread: the
    mempool connection's CheckTx is answered meanwhile, and the block's answer follows."""

    async def run() -> tuple[list[Response], list[Response]]:
        server = AbciServer(BlockWaitsForCheckApp(), tmp_path / "abci.sock")
        await server.start()
        try:
            block = asyncio.create_task(exchange(server.socket_path, [
                Request(finalize_block=types_pb2.RequestFinalizeBlock(height=2)),
                Request(flush=types_pb2.RequestFlush())]))
            await asyncio.sleep(0.05)  # the block's request is in first
            checks = await exchange(server.socket_path, [
                Request(check_tx=types_pb2.RequestCheckTx(tx=b"abc")),
                Request(flush=types_pb2.RequestFlush())])
            return await block, checks
        finally:
            await server.stop()

    (finalized, flushed), (checked, _) = asyncio.run(run())
    assert checked.check_tx.gas_wanted == 3
    assert finalized.WhichOneof("value") == "finalize_block"
    assert finalized.finalize_block.app_hash == b"\x01" * 32
    assert flushed.WhichOneof("value") == "flush"


class BatchApp(EchoApp):
    """Records the batches it is handed and what each CheckTx found batched before it."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.seen: list[int] = []

    def check_tx_batch(self, txs: list[bytes]) -> None:
        self.batches.append(list(txs))

    def check_tx(self, req):
        self.seen.append(len(self.batches))
        return types_pb2.ResponseCheckTx()


def test_check_tx_requests_of_one_read_reach_the_app_as_a_batch_first(tmp_path: Path):
    app = BatchApp()

    def check(tx: bytes, kind: int = types_pb2.NEW) -> Request:
        return Request(check_tx=types_pb2.RequestCheckTx(tx=tx, type=kind))

    sock = tmp_path / "abci.sock"
    answers = serve_once(app, sock, [
        check(b"a"), Request(echo=types_pb2.RequestEcho(message="x")), check(b"b"),
        check(b"c", types_pb2.RECHECK), check(b"d")])
    assert [a.WhichOneof("value") for a in answers] == \
        ["check_tx", "echo", "check_tx", "check_tx", "check_tx"]
    assert app.batches == [[b"a", b"b", b"d"]]  # new transactions only, rechecks not
    assert app.seen == [1, 1, 1, 1]  # every CheckTx answered after the batch
    # one CheckTx alone: no batch
    serve_once(app, sock, [check(b"e")])
    assert len(app.batches) == 1 and app.seen[-1] == 1


def test_a_failing_batch_step_still_answers_every_check_tx(tmp_path: Path):
    class Failing(BatchApp):
        def check_tx_batch(self, txs: list[bytes]) -> None:
            raise RuntimeError("out of memory")

    app = Failing()
    answers = serve_once(app, tmp_path / "abci.sock", [
        Request(check_tx=types_pb2.RequestCheckTx(tx=tx)) for tx in (b"a", b"b")])
    assert [a.WhichOneof("value") for a in answers] == ["check_tx", "check_tx"]
    assert app.seen == [0, 0]
