"""A service's ledger behind a real API server on a loopback port, with a stub engine that
commits what CheckTx admits every 50 ms, and keystores for the CLI.

`LiveNode(path)` serves the credit and registry parties' ledger; the invoices, securities
and governance API tests give their own ledger, parties and engine."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from eth_account import Account
from starlette.testclient import TestClient

from consortium.api.app import create_app
from consortium.cli.main import main
from tests.support.jsonrpc_testkit import StubEngine
from tests.support.services_testkit import PARTIES, services_ledger


class SerialEngine(StubEngine):
    """The stub engine with CometBFT's recheck: the transactions left in the mempool are
    rechecked after a block commits (the ledger rebuilds its pending nonces from that)."""

    def commit_block(self) -> None:
        with self.lock:
            super().commit_block()
            for raw in self.mempool:
                self.ledger.check_tx(raw, recheck=True)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`consortium ARGV`: its exit code, stdout and stderr."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


class LiveNode:
    """A ledger, its API on a loopback port, and blocks made every 50 ms (only when the
    mempool holds something, unless `empty_blocks`); a keystore `<name>.json` for each party,
    all with the empty password in `password_file`."""

    def __init__(
        self,
        path: Path,
        *,
        ledger: Callable[[Path], Any] = services_ledger,
        parties: Mapping[str, Any] | None = None,
        node_name: str = "services-node",
        engine: Callable[[Any], StubEngine] = SerialEngine,
        empty_blocks: bool = False,
    ) -> None:
        if parties is None:
            parties = {name: acct for name, (acct, _, _) in PARTIES.items()}
        self.empty_blocks = empty_blocks
        self.ledger = ledger(path / "ledger")
        self.engine = engine(self.ledger)
        self.app = create_app(self.ledger, self.engine.url, node_name=node_name)
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
        for name, acct in parties.items():
            keystore = Account.encrypt(acct.key, "", kdf="pbkdf2", iterations=2)
            (self.keys / f"{name}.json").write_text(json.dumps(keystore))

    def _blocks(self) -> None:
        while not self.stop.is_set():
            if self.empty_blocks or self.engine.mempool:
                self.engine.commit_block()
            time.sleep(0.05)

    def keystore(self, name: str) -> str:
        """The keystore file of party `name`."""
        return str(self.keys / f"{name}.json")

    def signed(self, name: str) -> list[str]:
        """The CLI options that sign as party `name`."""
        return ["--from", self.keystore(name), "--password-file", str(self.password_file)]

    def rpc(self, method: str, *params: Any) -> dict[str, Any]:
        answer = TestClient(self.app).post(
            "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    def cli(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        """`consortium ARGV --rpc` this node."""
        return run_cli(capsys, *argv, "--rpc", self.url)

    def close(self) -> None:
        self.stop.set()
        self.server.should_exit = True
        for t in self.threads:
            t.join(timeout=10)
        self.engine.close()
        self.ledger.close()
