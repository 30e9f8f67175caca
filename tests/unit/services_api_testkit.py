"""The credit and registry parties' ledger behind a real API server on a loopback port, with a
stub engine that commits what CheckTx admits every 50 ms; keystores for the CLI."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from eth_account import Account
from jsonrpc_testkit import StubEngine
from services_testkit import PARTIES, services_ledger
from starlette.testclient import TestClient

from consortium.api.app import create_app
from consortium.cli.main import main


class SerialEngine(StubEngine):
    """The stub engine with CometBFT's ordering: CheckTx never runs while a block commits,
    and the transactions left in the mempool are rechecked after it."""

    def __init__(self, ledger: Any) -> None:
        self.lock = threading.Lock()
        super().__init__(ledger)

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return super().answer(req)

    def commit_block(self) -> None:
        with self.lock:
            super().commit_block()
            for raw in self.mempool:
                self.ledger.check_tx(raw, recheck=True)


class LiveNode:
    """The services' ledger, its API on a loopback port, and blocks made every 50 ms."""

    def __init__(self, path: Path) -> None:
        self.ledger = services_ledger(path / "ledger")
        self.engine = SerialEngine(self.ledger)
        self.app = create_app(self.ledger, self.engine.url, node_name="services-node")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        )
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self.server.run, daemon=True),
            threading.Thread(target=self._blocks, daemon=True),
        ]
        for t in self.threads:
            t.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "API server did not start"
            time.sleep(0.02)
        self.keys = path / "keys"
        self.keys.mkdir()
        self.password_file = path / "empty-password"
        self.password_file.write_text("")
        for name, (acct, _, _) in PARTIES.items():
            keystore = Account.encrypt(acct.key, "", kdf="pbkdf2", iterations=2)
            (self.keys / f"{name}.json").write_text(json.dumps(keystore))

    def _blocks(self) -> None:
        while not self.stop.is_set():
            if self.engine.mempool:
                self.engine.commit_block()
            time.sleep(0.05)

    def signed(self, name: str) -> list[str]:
        """The CLI options that sign as party `name`."""
        return ["--from", str(self.keys / f"{name}.json"), "--password-file",
                str(self.password_file)]

    def rpc(self, method: str, *params: Any) -> dict[str, Any]:
        answer = TestClient(self.app).post(
            "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    def cli(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--rpc", self.url])
        out = capsys.readouterr()
        return code, out.out, out.err

    def close(self) -> None:
        self.stop.set()
        self.server.should_exit = True
        for t in self.threads:
            t.join(timeout=10)
        self.engine.close()
        self.ledger.close()
