"""The REST routes, /health and the OpenAPI description next to the JSON-RPC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from tests.support.jsonrpc_testkit import Node, node
from tests.support.ledger_testkit import ALICE, BOB, CHAIN_ID, contract_address, run_block, sign
from tests.support.ledger_testkit import token_deploy_data as deploy_data


@pytest.fixture
def n(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as api:
        yield api


def test_health_and_status(n: Node) -> None:
    run_block(n.ledger, [])
    height, app_hash = n.ledger.info()
    assert n.client.get("/health").json() == {"ok": True, "node": "test-node", "height": height,
                                              "app_hash": app_hash.hex()}
    status = n.client.get("/api/v1/status").json()
    assert status["node"] == "test-node" and status["chain_id"] == CHAIN_ID
    assert status["height"] == 1 and status["app_hash"] == app_hash.hex()
    assert status["latest_block_hash"] == n.rpc("eth_getBlockByNumber", "latest", False)["hash"]


def test_blocks_txs_accounts(n: Node) -> None:
    raw = sign(ALICE, nonce=0, data=deploy_data(5), gas=2_000_000)
    run_block(n.ledger, [raw])
    tx_hash = "0x" + keccak(raw).hex()
    block = n.client.get("/api/v1/blocks/1").json()
    assert block["number"] == "0x1" and block["transactions"] == [tx_hash]
    assert n.client.get("/api/v1/blocks/latest").json() == block
    assert n.client.get(f"/api/v1/blocks/{block['hash']}").json() == block
    full = n.client.get("/api/v1/blocks/1?full=true").json()
    assert full["transactions"][0]["hash"] == tx_hash
    assert n.client.get("/api/v1/blocks/99").status_code == 404
    for ident in ("one", "²"):  # a digit to str.isdigit, not to int()
        bad = n.client.get(f"/api/v1/blocks/{ident}")
        assert bad.status_code == 400 and "decimal height" in bad.json()["error"]

    tx = n.client.get(f"/api/v1/tx/{tx_hash}").json()
    assert tx["transaction"]["hash"] == tx_hash and tx["receipt"]["status"] == "0x1"
    assert n.client.get("/api/v1/tx/0x" + "00" * 32).status_code == 404
    assert n.client.get("/api/v1/tx/0x12").status_code == 400

    token = contract_address(ALICE.address.lower(), 0)
    account = n.client.get(f"/api/v1/accounts/{token}").json()
    assert account["nonce"] == 1 and account["code_size"] > 0 and account["balance"] == "0"
    bob = n.client.get(f"/api/v1/accounts/{BOB.address}").json()
    assert bob == {"address": BOB.address.lower(), "balance": str(10**20), "nonce": 0,
                   "pending_nonce": 0, "code_size": 0, "height": 1}
    assert n.client.get("/api/v1/accounts/0x12").status_code == 400


def test_openapi_describes_the_routes(n: Node) -> None:
    doc = n.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/", "/health", "/api/v1/status", "/api/v1/blocks/{ident}", "/api/v1/tx/{hash}",
            "/api/v1/accounts/{address}"} <= set(doc["paths"])


def test_cors_is_same_origin_unless_configured(n: Node) -> None:
    # [api] cors_origins allows browser origins (tests/unit/test_api_auth.py); none by default
    answer = n.client.options("/", headers={"Origin": "http://localhost:3000",
                                            "Access-Control-Request-Method": "POST"})
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers
