"""The JSON-RPC methods against a real Ledger: envelopes and errors, chain facts, state,
blocks, transactions, eth_call / eth_estimateGas, logs and polling filters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from tests.support.jsonrpc_testkit import Node, node
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    CAROL,
    CHAIN_ID,
    calldata,
    contract_address,
    run_block,
    sign,
    token_deploy_data,
)

TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()


def h(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


def topic_of(address: str) -> str:
    return "0x" + "00" * 12 + address.lower()[2:]


@pytest.fixture
def n(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as api:
        yield api


@pytest.fixture
def token(n: Node) -> str:
    """A token deployed by ALICE at block 1 (supply 1000), then 10 to BOB at block 2."""
    run_block(n.ledger, [sign(ALICE, nonce=0, data=token_deploy_data(1000), gas=2_000_000)])
    address = contract_address(ALICE.address.lower(), 0)
    data = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 10])
    run_block(n.ledger, [sign(ALICE, nonce=1, to=address, data=data, gas=200_000)])
    return address


def balance_of_call(token: str, who: str) -> dict[str, str]:
    data = calldata("balanceOf(address)", ["address"], [who])
    return {"to": token, "data": "0x" + data.hex()}


# --- envelopes ------------------------------------------------------------------------------


def test_parse_and_request_errors(n: Node) -> None:
    bad = n.client.post("/", content=b'{"jsonrpc": "2.0", "method": ')
    assert bad.status_code == 200
    assert bad.json() == {"jsonrpc": "2.0", "id": None,
                          "error": {"code": -32700, "message": bad.json()["error"]["message"]}}
    assert "not valid JSON" in bad.json()["error"]["message"]
    assert n.client.post("/", content=b"\xff\xfe").json()["error"]["code"] == -32700
    assert n.client.post("/", json=[]).json()["error"]["code"] == -32600
    assert n.client.post("/", json=42).json()["error"]["code"] == -32600
    no_method = n.client.post("/", json={"jsonrpc": "2.0", "id": 7}).json()
    assert no_method["id"] == 7 and no_method["error"]["code"] == -32600
    bad_id = n.client.post("/", json={"jsonrpc": "2.0", "id": {}, "method": "eth_chainId"})
    assert bad_id.json()["error"]["code"] == -32600
    wrong_version = n.client.post("/", json={"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"})
    assert wrong_version.json()["error"]["code"] == -32600


def test_unknown_method_is_named(n: Node) -> None:
    err = n.rpc_error("eth_doesNotExist")
    assert err["code"] == -32601 and "eth_doesNotExist" in err["message"]
    keyless = n.rpc_error("eth_sendTransaction", {})
    assert keyless["code"] == -32601 and "eth_sendRawTransaction" in keyless["message"]


def test_invalid_params_say_which_and_why(n: Node) -> None:
    err = n.rpc_error("eth_getBalance", "0x1234", "latest")
    assert err == {"code": -32602, "message": "params[0]: address must be 20 bytes hex, got 2"}
    err = n.rpc_error("eth_getBalance", ALICE.address, "newest")
    assert err["code"] == -32602 and err["message"].startswith("params[1]:")
    assert "missing" in n.rpc_error("eth_getBalance")["message"]
    assert "too many" in n.rpc_error("eth_chainId", 1)["message"]
    by_name = n.client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance",
                                       "params": {"address": ALICE.address}}).json()
    assert by_name["error"]["code"] == -32602 and "array" in by_name["error"]["message"]


def test_batches_keep_order_and_drop_notifications(n: Node) -> None:
    payload = [
        {"jsonrpc": "2.0", "id": "a", "method": "eth_chainId"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # notification: no answer
        "junk",
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": [BOB.address]},
        {"jsonrpc": "2.0", "id": 4, "method": "nope"},
        {"jsonrpc": "2.0", "id": None, "method": "eth_blockNumber"},
    ]
    out = n.client.post("/", json=payload).json()
    assert [a["id"] for a in out] == ["a", None, 3, 4, None]
    assert out[0]["result"] == hex(CHAIN_ID)
    assert out[1]["error"]["code"] == -32600
    assert out[2]["result"] == hex(10**20)
    assert out[3]["error"]["code"] == -32601
    assert out[4]["result"] == "0x0"
    only_notes = n.client.post("/", json=[{"jsonrpc": "2.0", "method": "eth_chainId"}])
    assert only_notes.status_code == 204 and only_notes.content == b""


def test_batch_cap(n: Node) -> None:
    calls = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(1001)]
    err = n.client.post("/", json=calls).json()
    assert err["error"]["code"] == -32600 and "limit of 1000" in err["error"]["message"]
    ok = n.client.post("/", json=calls[:1000]).json()
    assert len(ok) == 1000 and all(a["result"] == hex(CHAIN_ID) for a in ok)


def test_internal_errors_are_logged_not_leaked(n: Node, caplog, monkeypatch) -> None:
    def broken(*_args: object, **_kw: object) -> int:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(n.ledger, "get_balance", broken)
    with caplog.at_level("ERROR", logger="consortium.api.jsonrpc"):
        err = n.rpc_error("eth_getBalance", ALICE.address)
    assert err["code"] == -32603 and "secret" not in str(err)
    assert "eth_getBalance failed" in caplog.text and "secret detail" in caplog.text
    assert n.rpc("eth_chainId") == hex(CHAIN_ID)  # still serving


# --- chain facts -----------------------------------------------------------------------------


def test_chain_facts(n: Node) -> None:
    assert n.rpc("web3_clientVersion").startswith("consortium/")
    assert n.rpc("web3_sha3", "0x68656c6c6f") == h(b"hello")
    assert n.rpc("net_version") == str(CHAIN_ID)
    assert n.rpc("net_listening") is True
    assert n.rpc("net_peerCount") == "0x3"
    assert n.rpc("eth_chainId") == hex(CHAIN_ID)
    assert n.rpc("eth_syncing") is False
    assert n.rpc("eth_accounts") == []
    assert n.rpc("eth_gasPrice") == "0x0"
    assert n.rpc("eth_maxPriorityFeePerGas") == "0x0"
    assert n.rpc("eth_blockNumber") == "0x0"
    run_block(n.ledger, [])
    assert n.rpc("eth_blockNumber") == "0x1"


def test_syncing_reports_engine_catch_up(n: Node) -> None:
    n.engine.catching_up = True
    n.app.state.engine.status_ttl = 0
    assert n.rpc("eth_syncing") == {"startingBlock": "0x1", "currentBlock": "0x0",
                                    "highestBlock": "0x32"}


def test_fee_history_shape(n: Node) -> None:
    for _ in range(5):
        run_block(n.ledger, [])
    fh = n.rpc("eth_feeHistory", "0x3", "latest", [25, 75])
    assert fh["oldestBlock"] == "0x3"
    assert fh["baseFeePerGas"] == ["0x0"] * 4
    assert fh["gasUsedRatio"] == [0.0] * 3
    assert fh["reward"] == [["0x0", "0x0"]] * 3
    assert "reward" not in n.rpc("eth_feeHistory", "0x2", "0x4")
    wide = n.rpc("eth_feeHistory", "0x64", "latest", [])
    assert wide["oldestBlock"] == "0x0" and len(wide["gasUsedRatio"]) == 6
    assert n.rpc_error("eth_feeHistory", "0x2", "latest", [50, 10])["code"] == -32602


# --- state -----------------------------------------------------------------------------------


def test_balances_nonces_at_heights(n: Node) -> None:
    run_block(n.ledger, [sign(ALICE, nonce=0, to=CAROL.address, value=5, gas=21_000)])
    block1 = n.rpc("eth_getBlockByNumber", "0x1", False)
    assert n.rpc("eth_getBalance", CAROL.address) == "0x5"
    assert n.rpc("eth_getBalance", CAROL.address, "0x0") == "0x0"
    assert n.rpc("eth_getBalance", CAROL.address, "earliest") == "0x0"
    assert n.rpc("eth_getBalance", CAROL.address, {"blockNumber": "0x0"}) == "0x0"
    assert n.rpc("eth_getBalance", CAROL.address, {"blockHash": block1["hash"]}) == "0x5"
    assert n.rpc("eth_getBalance", CAROL.address, "finalized") == "0x5"
    missing = n.rpc_error("eth_getBalance", CAROL.address, "0x9")
    assert missing["code"] == -32000 and "not found" in missing["message"]
    unknown = n.rpc_error("eth_getBalance", CAROL.address, {"blockHash": "0x" + "77" * 32})
    assert "not found" in unknown["message"]
    assert n.rpc("eth_getTransactionCount", ALICE.address) == "0x1"
    assert n.rpc("eth_getTransactionCount", ALICE.address, "0x0") == "0x0"
    n.ledger.check_tx(sign(ALICE, nonce=1, to=BOB.address, gas=21_000))
    assert n.rpc("eth_getTransactionCount", ALICE.address, "pending") == "0x2"
    assert n.rpc("eth_getTransactionCount", ALICE.address, "latest") == "0x1"


def test_code_and_storage(n: Node, token: str) -> None:
    code = n.rpc("eth_getCode", token)
    assert len(code) > 2 and n.rpc("eth_getCode", token, "0x0") == "0x"
    supply = n.rpc("eth_getStorageAt", token, "0x1", "latest")
    assert supply == "0x" + (1000).to_bytes(32, "big").hex()
    assert n.rpc("eth_getStorageAt", token, "0x" + "00" * 31 + "01") == supply
    assert n.rpc("eth_getStorageAt", token, "0x1", "0x0") == "0x" + "00" * 32


def test_call_and_revert(n: Node, token: str) -> None:
    out = n.rpc("eth_call", balance_of_call(token, BOB.address), "latest")
    assert abi_decode(["uint256"], bytes.fromhex(out[2:])) == (10,)
    before = n.rpc("eth_call", balance_of_call(token, BOB.address), "0x1")
    assert abi_decode(["uint256"], bytes.fromhex(before[2:])) == (0,)
    too_much = calldata("transfer(address,uint256)", ["address", "uint256"], [ALICE.address, 99])
    tx = {"from": BOB.address, "to": token, "data": "0x" + too_much.hex()}
    err = n.rpc_error("eth_call", tx, "latest")
    reason = bytes.fromhex("08c379a0") + abi_encode(["string"], ["insufficient balance"])
    assert err == {"code": 3, "message": "execution reverted: insufficient balance",
                   "data": "0x" + reason.hex()}
    est = n.rpc_error("eth_estimateGas", tx)
    assert est["code"] == 3 and est["data"] == "0x" + reason.hex()
    assert "insufficient balance" in est["message"]
    assert n.rpc_error("eth_call", {"to": token, "data": "0x1"})["code"] == -32602
    assert n.rpc_error("eth_call", tx, "latest", {token: {}})["code"] == -32602


def test_estimate_gas(n: Node, token: str) -> None:
    assert n.rpc("eth_estimateGas", {"from": ALICE.address, "to": BOB.address,
                                     "value": "0x1"}) == hex(21_000)
    data = calldata("transfer(address,uint256)", ["address", "uint256"], [CAROL.address, 1])
    gas = int(n.rpc("eth_estimateGas", {"from": ALICE.address, "to": token,
                                        "input": "0x" + data.hex()}, "latest"), 16)
    assert 21_000 < gas < 200_000


# --- blocks and transactions ---------------------------------------------------------------------


def test_blocks(n: Node, token: str) -> None:
    latest = n.rpc("eth_getBlockByNumber", "latest", False)
    assert latest["number"] == "0x2" and latest["baseFeePerGas"] == "0x0"
    for tag in ("safe", "finalized"):
        assert n.rpc("eth_getBlockByNumber", tag, False)["hash"] == latest["hash"]
    pending = n.rpc("eth_getBlockByNumber", "pending", False)  # the next block: nothing waits
    assert pending["number"] == "0x3" and pending["parentHash"] == latest["hash"]
    assert pending["hash"] is None and pending["transactions"] == []
    assert n.rpc("eth_getBlockByNumber", "earliest", False)["number"] == "0x0"
    assert n.rpc("eth_getBlockByNumber", "0x63", False) is None
    by_hash = n.rpc("eth_getBlockByHash", latest["hash"], True)
    assert by_hash["number"] == "0x2"
    (tx,) = by_hash["transactions"]
    assert isinstance(tx, dict) and tx["to"] == token
    assert latest["transactions"] == [tx["hash"]]
    assert n.rpc("eth_getBlockByHash", "0x" + "99" * 32, False) is None
    assert n.rpc("eth_getBlockTransactionCountByNumber", "0x2") == "0x1"
    assert n.rpc("eth_getBlockTransactionCountByHash", latest["hash"]) == "0x1"
    assert n.rpc("eth_getBlockTransactionCountByNumber", "0x63") is None
    assert n.rpc("eth_getTransactionByBlockNumberAndIndex", "0x2", "0x0")["hash"] == tx["hash"]
    assert n.rpc("eth_getTransactionByBlockHashAndIndex", latest["hash"], "0x0") == tx
    assert n.rpc("eth_getTransactionByBlockNumberAndIndex", "0x2", "0x1") is None
    assert n.rpc("eth_getUncleCountByBlockNumber", "latest") == "0x0"
    assert n.rpc("eth_getUncleCountByBlockHash", latest["hash"]) == "0x0"
    assert n.rpc("eth_getUncleByBlockNumberAndIndex", "latest", "0x0") is None
    receipts = n.rpc("eth_getBlockReceipts", "latest")
    assert [r["transactionHash"] for r in receipts] == [tx["hash"]]


def test_transactions_and_receipts(n: Node, token: str) -> None:
    raw = sign(ALICE, nonce=2, to=BOB.address, value=7, gas=21_000)
    run_block(n.ledger, [raw])
    tx = n.rpc("eth_getTransactionByHash", h(raw))
    assert tx["hash"] == h(raw) and tx["blockNumber"] == "0x3" and tx["value"] == "0x7"
    receipt = n.rpc("eth_getTransactionReceipt", h(raw))
    assert receipt["status"] == "0x1" and receipt["gasUsed"] == hex(21_000)
    deploy = n.rpc("eth_getTransactionByBlockNumberAndIndex", "0x1", "0x0")
    assert n.rpc("eth_getTransactionReceipt", deploy["hash"])["contractAddress"] == token
    assert n.rpc("eth_getTransactionByHash", "0x" + "12" * 32) is None
    assert n.rpc("eth_getTransactionReceipt", "0x" + "12" * 32) is None
    assert n.rpc_error("eth_getTransactionReceipt", "0x12")["code"] == -32602


# --- logs and filters --------------------------------------------------------------------------


def test_get_logs(n: Node, token: str) -> None:
    all_logs = n.rpc("eth_getLogs", {"fromBlock": "earliest", "toBlock": "latest"})
    assert [(lg["blockNumber"], lg["address"]) for lg in all_logs] == [("0x1", token),
                                                                       ("0x2", token)]
    first = all_logs[1]
    assert first["topics"] == [TRANSFER_TOPIC, topic_of(ALICE.address), topic_of(BOB.address)]
    assert abi_decode(["uint256"], bytes.fromhex(first["data"][2:])) == (10,)
    assert first["removed"] is False and first["logIndex"] == "0x0"
    to_bob = n.rpc("eth_getLogs", {"fromBlock": "0x0", "address": [token],
                                   "topics": [TRANSFER_TOPIC, None, topic_of(BOB.address)]})
    assert to_bob == [first]
    assert n.rpc("eth_getLogs", {"address": "0x" + "00" * 20, "fromBlock": "0x0"}) == []
    latest_only = n.rpc("eth_getLogs", {"address": token})
    assert latest_only == [first]
    by_hash = n.rpc("eth_getLogs", {"blockHash": first["blockHash"]})
    assert by_hash == [first]
    assert n.rpc("eth_getLogs", {"fromBlock": "0x50", "toBlock": "0x60"}) == []
    assert n.rpc_error("eth_getLogs", {"fromBlock": "0x2", "toBlock": "0x1"})["code"] == -32602
    assert n.rpc_error("eth_getLogs", {"blockHash": first["blockHash"],
                                       "fromBlock": "0x1"})["code"] == -32602
    assert n.rpc_error("eth_getLogs", {"blockHash": "0x" + "55" * 32})["code"] == -32000
    assert n.rpc_error("eth_getLogs", {"topics": ["0x12"]})["code"] == -32602
    assert "unknown filter field" in n.rpc_error("eth_getLogs", {"adress": token})["message"]


def test_get_logs_range_cap(n: Node, monkeypatch) -> None:
    import consortium.api.jsonrpc as jsonrpc

    for _ in range(3):
        run_block(n.ledger, [])
    # a range reaching past the head is clamped to it before the cap applies
    assert n.rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(200_000)}) == []
    monkeypatch.setattr(jsonrpc, "MAX_LOG_BLOCK_RANGE", 2)
    err = n.rpc_error("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"})
    assert err["code"] == -32005 and "limit of 2" in err["message"]


def test_log_filter_changes(n: Node, token: str) -> None:
    fid = n.rpc("eth_newFilter", {"address": token})
    other = n.rpc("eth_newFilter", {"address": "0x" + "00" * 20})
    assert n.rpc("eth_getFilterChanges", fid) == []
    data = calldata("transfer(address,uint256)", ["address", "uint256"], [CAROL.address, 3])
    raw = sign(ALICE, nonce=2, to=token, data=data, gas=200_000)
    run_block(n.ledger, [raw])
    run_block(n.ledger, [])
    changes = n.rpc("eth_getFilterChanges", fid)
    assert [c["transactionHash"] for c in changes] == [h(raw)]
    assert n.rpc("eth_getFilterChanges", fid) == []
    assert n.rpc("eth_getFilterChanges", other) == []
    # eth_getFilterLogs: the whole range given at creation (default latest..latest)
    ranged = n.rpc("eth_newFilter", {"fromBlock": "0x1", "address": token,
                                     "topics": [TRANSFER_TOPIC]})
    assert len(n.rpc("eth_getFilterLogs", ranged)) == 3
    assert n.rpc("eth_uninstallFilter", fid) is True
    assert n.rpc("eth_uninstallFilter", fid) is False
    gone = n.rpc_error("eth_getFilterChanges", fid)
    assert gone["code"] == -32000 and "not found" in gone["message"]


def test_block_and_pending_filters(n: Node) -> None:
    bf = n.rpc("eth_newBlockFilter")
    pf = n.rpc("eth_newPendingTransactionFilter")
    assert n.rpc("eth_getFilterChanges", bf) == []
    run_block(n.ledger, [])
    run_block(n.ledger, [])
    hashes = n.rpc("eth_getFilterChanges", bf)
    assert hashes == [n.rpc("eth_getBlockByNumber", hex(i), False)["hash"] for i in (1, 2)]
    assert n.rpc("eth_getFilterChanges", bf) == []
    assert n.rpc("eth_getFilterChanges", pf) == []
    assert n.rpc_error("eth_getFilterLogs", bf)["code"] == -32602
    assert n.rpc_error("eth_getFilterChanges", "0x" + "ab" * 16)["code"] == -32000


def test_subscribe_needs_websocket(n: Node) -> None:
    err = n.rpc_error("eth_subscribe", "newHeads")
    assert err["code"] == -32601 and "WebSocket" in err["message"]


@pytest.mark.parametrize("body", [
    b"[" * 100_000,  # would overflow the C stack: py_ecc sets the recursion limit to 100,000
    b'[{"a": "' + b"[" * 5000 + b'"}]',  # brackets inside strings are not nesting
    b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"',
    b"",
    b"NaN",
    b'"just a string"',
    b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [1e400, null]}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": [[], {}]}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": ["0x", "0x", "0x"]}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{"topics": {}}]}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "eth_feeHistory", "params": ["0x1", "0x0", 5]}',
])
def test_garbage_never_crashes(n: Node, body: bytes) -> None:
    answer = n.client.post("/", content=body)
    assert answer.status_code == 200
    out = answer.json()
    out = out[0] if isinstance(out, list) else out
    assert out["error"]["code"] in (-32700, -32600, -32602)
    assert n.rpc("eth_chainId") == hex(CHAIN_ID)


def test_oversized_body_is_refused(n: Node, monkeypatch) -> None:
    import dataclasses

    clients = n.client.app.state.clients
    monkeypatch.setattr(clients, "limits", dataclasses.replace(clients.limits, max_body_bytes=1000))
    big = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(100)]
    answer = n.client.post("/", json=big)
    assert answer.status_code == 413 and "over 1000 bytes" in answer.json()["error"]["message"]

    def chunks():
        yield b"[" + b" " * 900
        yield b" " * 900 + b"]"

    streamed = n.client.post("/", content=chunks())
    assert streamed.status_code == 413
