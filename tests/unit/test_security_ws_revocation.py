"""A WebSocket's token is checked again per message and while it is open (security finding
1): once the token is revoked or expired, the next call on the socket gets -40100 and the
socket is closed (1008, the reason), and its subscriptions stop within a bounded time (at
the next block's push, or within about a second when idle). Against a real uvicorn server
over a real ledger (test_api_auth's `serving`), tokens revoked with the CLI while it runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from consortium.api.auth import FORBIDDEN, UNAUTHORIZED, TokenFile
from consortium.cli.main import main as cli
from tests.support.ledger_testkit import run_block
from tests.unit.test_api_auth import node_home, raw_tx, serving

pytestmark = pytest.mark.timeout(120)


def ws_of(url: str, token: str) -> ClientConnection:
    return connect(url.replace("http", "ws"), additional_headers={
        "Authorization": f"Bearer {token}"}, open_timeout=10)


def rpc(ws: ClientConnection, rid: int, method: str, *params: Any) -> dict[str, Any]:
    ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}))
    answer: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return answer


def closed_after(ws: ClientConnection, timeout: float = 10) -> tuple[list[dict[str, Any]], Any]:
    """Every message until the server closes the socket, and the close frame it sent."""
    messages = []
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012 (read until it closes)
        while True:
            messages.append(json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1))))
    return messages, closed.value.rcvd


def test_a_revoked_submit_token_sends_nothing_more_on_its_open_socket(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    tokens = TokenFile(home)
    secret = tokens.create("wallet", "submit")
    reader = tokens.create("app", "read")
    tokens.create("other", "read")
    with serving(tmp_path, home=home) as s, ws_of(s.url, secret) as ws:
        assert rpc(ws, 1, "eth_chainId")["result"]
        # another token's revocation, and time, change nothing for this socket
        assert cli(["api-token", "revoke", "other", "--home", str(home)]) == 0
        time.sleep(1.5)  # past a periodic check
        assert rpc(ws, 1, "eth_chainId")["result"]
        with ws_of(s.url, reader) as read_ws:  # the scope is still checked per message
            refused = rpc(read_ws, 5, "eth_sendRawTransaction", raw_tx())
            assert refused["id"] == 5 and refused["error"]["code"] == FORBIDDEN
            assert rpc(read_ws, 6, "eth_chainId")["result"]  # and the socket stays open

        assert cli(["api-token", "revoke", "wallet", "--home", str(home)]) == 0
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction",
                            "params": [raw_tx()]}))
        messages, frame = closed_after(ws)
        assert [m["id"] for m in messages] == [2]
        assert messages[0]["error"]["code"] == UNAUTHORIZED
        assert "token 'wallet' is revoked" in messages[0]["error"]["message"]
        assert frame is not None and frame.code == 1008 and "revoked" in frame.reason
        assert not s.engine.posts  # the transaction never reached the engine
        assert not s.app.state.hub.connections


def test_a_revoked_read_token_ends_its_subscriptions_at_the_next_block(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    secret = TokenFile(home).create("dashboard", "read")
    with serving(tmp_path, home=home) as s, ws_of(s.url, secret) as ws:
        sub = rpc(ws, 1, "eth_subscribe", "newHeads")["result"]
        run_block(s.ledger, [])
        note = json.loads(ws.recv(timeout=10))
        assert note["params"]["subscription"] == sub
        assert cli(["api-token", "revoke", "dashboard", "--home", str(home)]) == 0
        for _ in range(3):
            run_block(s.ledger, [])
        messages, frame = closed_after(ws)
        # no head of a block made after the revocation: the last message is the error
        assert [m.get("method") for m in messages] == [None]
        assert messages[0]["id"] is None and messages[0]["error"]["code"] == UNAUTHORIZED
        assert "revoked" in messages[0]["error"]["message"]
        assert frame is not None and frame.code == 1008
        assert s.app.state.hub.subscription_count == 0
        assert not s.app.state.hub.connections


def test_an_idle_socket_is_closed_soon_after_its_token_expires(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    tokens = TokenFile(home)
    secret = tokens.create("late", "read", expires_days=1)
    with serving(tmp_path, home=home) as s, ws_of(s.url, secret) as ws:
        rpc(ws, 1, "eth_subscribe", "newHeads")
        doc = json.loads(tokens.path.read_text())
        doc["tokens"][-1]["expires"] = "2020-01-01T00:00:00Z"
        tokens.path.write_text(json.dumps(doc))
        started = time.monotonic()
        messages, frame = closed_after(ws, timeout=10)  # no block, no message from the client
        assert time.monotonic() - started < 5
        assert len(messages) == 1 and "token 'late' is expired" in \
            messages[0]["error"]["message"]
        assert frame is not None and frame.code == 1008 and "expired" in frame.reason
