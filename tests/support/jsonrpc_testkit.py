"""Shared helpers for the API's unit tests: a node API over a real Ledger in tmp_path, and
a stub CometBFT RPC (a real HTTP server) whose broadcast_tx_sync/async run the ledger's
CheckTx (async mode: the answer reaches the API through its CheckTxWatch, as in a node)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from consortium.api.app import create_app
from consortium.api.engine_client import CheckTxWatch
from consortium.ledger.ledger import Ledger
from tests.support.ledger_testkit import new_ledger, run_block


class StubEngine:
    """A CometBFT RPC stand-in: broadcast_tx_sync -> ledger.check_tx, answered as CometBFT
    v0.38 does (a batch of one is answered with a single object; a resubmitted tx is
    refused with "tx already exists in cache"), plus status and net_info."""

    def __init__(self, ledger: Ledger, watch: CheckTxWatch | None = None) -> None:
        self.ledger = ledger
        self.watch = watch
        self.loop: asyncio.AbstractEventLoop | None = None  # the API's, in async mode
        self.silent = False  # async mode: accept but never tell the CheckTx answer
        self.posts: list[Any] = []
        self.mempool: list[bytes] = []
        self.seen: set[bytes] = set()
        self.catching_up = False
        self.peers = 3
        self.max_batch = 1000  # CometBFT's rpc.max_request_batch_size in the node config
        # CometBFT's mempool lock: CheckTx never runs while a block is taken and committed
        self.lock = threading.RLock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.posts.append(body)
                requests = body if isinstance(body, list) else [body]
                if len(requests) > stub.max_batch:
                    answers = [{"jsonrpc": "2.0", "id": None, "error": {
                        "code": -32600, "message": "Invalid Request",
                        "data": f"batch request exceeds maximum ({stub.max_batch}) allowed "
                                "number of requests"}}]
                else:
                    answers = [stub.answer(r) for r in requests]
                out = json.dumps(answers[0] if len(answers) == 1 else answers).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        rid = req.get("id")
        if req["method"] == "status":
            return {"jsonrpc": "2.0", "id": rid, "result": {"sync_info": {
                "catching_up": self.catching_up, "latest_block_height": "50",
                "earliest_block_height": "1"}}}
        if req["method"] == "net_info":
            return {"jsonrpc": "2.0", "id": rid,
                    "result": {"listening": True, "n_peers": str(self.peers), "peers": []}}
        if req["method"] not in ("broadcast_tx_sync", "broadcast_tx_async"):
            return {"jsonrpc": "2.0", "id": rid,
                    "error": {"code": -32601, "message": "Method not found"}}
        raw = base64.b64decode(req["params"]["tx"])
        if raw in self.seen:
            return {"jsonrpc": "2.0", "id": rid, "error": {
                "code": -32603, "message": "Internal error", "data": "tx already exists in cache"}}
        with self.lock:
            outcome = self.ledger.check_tx(raw)
            if outcome.code == 0:
                self.seen.add(raw)
                self.mempool.append(raw)
        if req["method"] == "broadcast_tx_async":
            assert self.watch is not None and self.loop is not None
            if not self.silent:
                self.loop.call_soon_threadsafe(self.watch.resolve, raw, outcome.code, outcome.log)
            return {"jsonrpc": "2.0", "id": rid, "result": {
                "code": 0, "data": "", "log": "", "codespace": "",
                "hash": hashlib.sha256(raw).hexdigest().upper()}}
        return {"jsonrpc": "2.0", "id": rid, "result": {
            "code": outcome.code, "data": "", "log": outcome.log, "codespace": "",
            "hash": hashlib.sha256(raw).hexdigest().upper()}}

    def commit_block(self) -> None:
        """Put the mempool in a block (as consensus would) and commit it."""
        with self.lock:
            txs, self.mempool = self.mempool, []
            run_block(self.ledger, txs)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Node:
    """A ledger, its stub engine and a TestClient on the node's API."""

    def __init__(self, path: Path, *, async_checks: bool = False) -> None:
        self.ledger = new_ledger(path)
        watch = CheckTxWatch() if async_checks else None
        self.engine = StubEngine(self.ledger, watch)
        self.app = create_app(self.ledger, self.engine.url, node_name="test-node", checks=watch)
        self.client = TestClient(self.app)
        self._ids = 0

    def rpc_raw(self, method: str, *params: Any) -> dict[str, Any]:
        self._ids += 1
        answer = self.client.post("/", json={"jsonrpc": "2.0", "id": self._ids,
                                             "method": method, "params": list(params)})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert body["id"] == self._ids
        return body

    def rpc(self, method: str, *params: Any) -> Any:
        body = self.rpc_raw(method, *params)
        assert "error" not in body, body
        return body["result"]

    def rpc_error(self, method: str, *params: Any) -> dict[str, Any]:
        body = self.rpc_raw(method, *params)
        assert "error" in body, body
        err: dict[str, Any] = body["error"]
        return err

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                   for i, (m, p) in enumerate(calls)]
        answer = self.client.post("/", json=payload)
        assert answer.status_code == 200, answer.text
        out: list[dict[str, Any]] = answer.json()
        return out


@contextmanager
def node(path: Path, *, async_checks: bool = False) -> Iterator[Node]:
    n = Node(path, async_checks=async_checks)
    try:
        with n.client:
            if async_checks:  # the loop the API runs on, for the stub to answer into
                n.engine.loop = n.client.portal.call(asyncio.get_running_loop)
            yield n
    finally:
        n.engine.close()
        n.ledger.close()
