"""Fuzzing of the node's HTTP surface (issue 17) over a real ledger in-process (the API of
tests/support/jsonrpc_testkit.py, its engine a stub that runs the ledger's CheckTx):

- schemathesis against `/openapi.json`: every REST operation with generated parameters,
  checked for no server error and for answers that match the schema;
- hypothesis over JSON-RPC bodies: methods from the node's method table (and a few that are
  not), params of any JSON shape, single and batched; every body gets a JSON-RPC answer (or
  204 for notifications only), never a 500.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from consortium.api.jsonrpc import method_names
from tests.support.jsonrpc_testkit import Node
from tests.support.localnet import wait_for


@dataclass
class Served:
    """A node's API served by uvicorn on a loopback port, as a node serves it."""

    node: Node
    url: str
    client: httpx.Client


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    n = Node(Path(tmp_path_factory.mktemp("fuzz-api")))
    n.engine.commit_block()  # a block beyond genesis to read
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(n.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 30, "the API server to start", interval=0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield Served(n, f"http://127.0.0.1:{port}", client)
    finally:
        server.should_exit = True
        thread.join(30)
        n.engine.close()
        n.ledger.close()


@pytest.mark.parametrize("examples", [25, pytest.param(300, marks=pytest.mark.slow)])
def test_rest_operations(api: Served, examples: int) -> None:
    """Every operation in /openapi.json with generated parameters (valid and not); failures
    of all operations are gathered, then reported together."""
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance,
                                           content_type_conformance])

        tried += 1
        try:
            check()
        except Exception as exc:  # a check failed: keep going, report them all
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert tried > 10, f"only {tried} operations in /openapi.json"
    assert not failures, f"{len(failures)} of {tried} operations failed:\n" + "\n\n".join(
        failures)


# --- JSON-RPC bodies --------------------------------------------------------------------------

HEX = st.sampled_from(["0x", "0x0", "0x1", "0xff", "0x" + "ab" * 20, "0x" + "cd" * 32,
                       "0x" + "f" * 70, "latest", "pending", "earliest", "safe", "0xzz"])
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20) | HEX,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["to", "from", "data", "input", "gas", "value",
                                       "address", "topics", "fromBlock", "toBlock",
                                       "blockHash", "x"]) | st.text(max_size=8),
                      inner, max_size=5),
    max_leaves=12,
)
METHODS = st.sampled_from(method_names()) | st.sampled_from(
    ["eth_sendTransaction", "eth_sign", "debug_traceTransaction", "", "rpc.discover"])


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    call: dict[str, Any] = {"jsonrpc": "2.0", "method": draw(METHODS)}
    if draw(st.booleans()):
        call["params"] = draw(st.lists(json_values, max_size=4) | json_values)
    if draw(st.integers(0, 9)):  # one in ten a notification
        call["id"] = draw(st.integers(-5, 2**40) | st.text(max_size=8) | st.none())
    return call


def assert_answer(answer: Any) -> None:
    assert isinstance(answer, dict), answer
    assert answer.get("jsonrpc") == "2.0", answer
    assert ("result" in answer) != ("error" in answer), answer
    if "error" in answer:
        err = answer["error"]
        assert isinstance(err.get("code"), int) and isinstance(err.get("message"), str), err
        assert err["message"].strip(), answer
        assert err["code"] != -32603, f"internal error: {answer}"


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=calls() | st.lists(calls(), min_size=1, max_size=6))
def test_json_rpc_bodies(api: Served, body: Any) -> None:
    r = api.client.post("/", json=body)
    assert r.status_code in (200, 204, 429), (r.status_code, r.text, body)
    if r.status_code == 204:
        items = body if isinstance(body, list) else [body]
        assert all("id" not in c for c in items), body
        return
    answer = r.json()
    for item in answer if isinstance(body, list) else [answer]:
        assert_answer(item)
