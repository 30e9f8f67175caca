"""Issue 4: Ethereum clients against a 4-node network, each step through a different node."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from web3.exceptions import ContractLogicError, Web3RPCError

from tests.support.evmutil import CONTRACTS as CONTRACTS_DIR
from tests.support.evmutil import EXAMPLES, compiled, deploy, dev_accounts, receipt, send, web3_for
from tests.support.localnet import running_net, wait_for

SM3_ABC = bytes.fromhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with running_net(tmp_path_factory.mktemp("evm") / "net", validators=4) as network:
        yield network


def test_web3_token_flow(net):
    accts = dev_accounts(net)
    a, b = accts["Bank A"], accts["Bank B"]
    w0, w1, w2, w3 = (web3_for(net, f"node{i}") for i in range(4))
    assert w0.eth.chain_id == w3.eth.chain_id == 20251
    assert w2.net.version == "20251"

    token_addr = deploy(w0, a, compiled("Token.vy"), "Consortium Coin", "CC", 10**24)
    token1 = w1.eth.contract(address=token_addr, abi=compiled("Token.vy").abi)
    wait_for(lambda: w1.eth.get_code(token_addr) != b"", 30, "code on node1")
    assert token1.functions.symbol().call() == "CC"

    log_filter = w3.eth.filter({"address": token_addr})
    before = w1.eth.block_number
    data = token1.encode_abi("transfer", args=[b.address, 1234])
    rcpt = receipt(w2, send(w1, a, {"to": token_addr, "data": data}))
    assert rcpt["status"] == 1 and len(rcpt["logs"]) == 1

    token2 = w2.eth.contract(address=token_addr, abi=compiled("Token.vy").abi)
    wait_for(lambda: token2.functions.balanceOf(b.address).call() == 1234, 30, "balance on node2")
    # Reads at an older block still see the old state.
    assert token2.functions.balanceOf(b.address).call(block_identifier=before) == 0

    # Logs from the index, decoded by web3 on yet another node.
    token3 = w3.eth.contract(address=token_addr, abi=compiled("Token.vy").abi)
    wait_for(lambda: w3.eth.block_number >= rcpt["blockNumber"], 30, "node3 height")
    events = token3.events.Transfer().get_logs(
        from_block=0, argument_filters={"receiver": b.address}
    )
    assert [(e["args"]["sender"], e["args"]["value"]) for e in events] == [(a.address, 1234)]
    changes = wait_for(
        lambda: w3.eth.get_filter_changes(log_filter.filter_id), 30, "filter changes"
    )
    assert changes[0]["transactionHash"] == rcpt["transactionHash"]

    # A revert: eth_call gives the reason; the mined transaction has status 0.
    too_much = token1.functions.transfer(a.address, 10**30)
    with pytest.raises(ContractLogicError, match="insufficient balance"):
        too_much.call({"from": b.address})
    bad = receipt(
        w0,
        send(
            w0,
            b,
            {
                "to": token_addr,
                "data": token1.encode_abi("transfer", args=[a.address, 10**30]),
                "gas": 200_000,
            },
        ),
    )
    assert bad["status"] == 0

    # Plain value transfer and a balance at an older block.
    start_bal = w0.eth.get_balance(b.address)
    h0 = w0.eth.block_number
    r = receipt(w1, send(w1, a, {"to": b.address, "value": 5 * 10**18, "gas": 21000}))
    assert r["status"] == 1 and r["gasUsed"] == 21000
    wait_for(lambda: w3.eth.get_balance(b.address) == start_bal + 5 * 10**18, 30, "balance")
    assert w3.eth.get_balance(b.address, block_identifier=h0) == start_bal


def test_solidity_contract_uses_native_crypto(net):
    accts = dev_accounts(net)
    c = accts["Bank C"]
    w1, w2 = web3_for(net, "node1"), web3_for(net, "node2")
    notary_addr = deploy(w1, c, compiled("Notary.sol"))
    notary = w2.eth.contract(address=notary_addr, abi=compiled("Notary.sol").abi)
    wait_for(lambda: w2.eth.get_code(notary_addr) != b"", 30, "code on node2")
    assert notary.functions.sm3Of(b"abc").call() == SM3_ABC
    data = notary.encode_abi("notarize", args=[b"abc", "invoice 42"])
    rcpt = receipt(w2, send(w2, c, {"to": notary_addr, "data": data}))
    assert rcpt["status"] == 1
    (event,) = notary.events.Notarized().process_receipt(rcpt)
    assert event["args"]["digest"] == SM3_ABC and event["args"]["label"] == "invoice 42"
    with pytest.raises(ContractLogicError, match="already notarized"):
        notary.functions.notarize(b"abc", "again").call({"from": c.address})
    # The Crypto native contract directly, from web3.
    crypto_abi = [
        {
            "type": "function",
            "name": "sm3",
            "stateMutability": "view",
            "inputs": [{"name": "data", "type": "bytes"}],
            "outputs": [{"name": "", "type": "bytes32"}],
        }
    ]
    crypto = w1.eth.contract(address="0x" + "00" * 18 + "1003", abi=crypto_abi)
    assert crypto.functions.sm3(b"abc").call() == SM3_ABC


def _raw_error(w3, raw: bytes) -> str:
    with pytest.raises(Web3RPCError) as info:
        w3.eth.send_raw_transaction(raw)
    return str(info.value)


def test_bad_transactions_are_refused_and_chain_goes_on(net):
    accts = dev_accounts(net)
    d = accts["Bank D"]
    w = web3_for(net, "node3")
    nonce = w.eth.get_transaction_count(d.address, "pending")
    base = {
        "to": d.address,
        "value": 1,
        "gas": 21000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        "nonce": nonce,
    }

    other_chain = d.sign_transaction({**base, "chainId": 1}).raw_transaction
    assert "chain id" in _raw_error(w, other_chain).lower()

    stranger = Account.create()
    outsider = stranger.sign_transaction({**base, "chainId": 20251, "nonce": 0}).raw_transaction
    assert "not" in _raw_error(w, outsider).lower()

    good = d.sign_transaction({**base, "chainId": 20251}).raw_transaction
    rcpt = receipt(w, w.eth.send_raw_transaction(good))
    assert rcpt["status"] == 1
    # Resending the very same transaction is idempotent (its hash) or refused; never re-run.
    try:
        assert w.eth.send_raw_transaction(good) == rcpt["transactionHash"]
    except Web3RPCError as exc:
        assert "nonce" in str(exc).lower() or "known" in str(exc).lower()
    replay = d.sign_transaction({**base, "chainId": 20251, "value": 2}).raw_transaction
    assert "nonce" in _raw_error(w, replay).lower()

    tampered = bytearray(
        d.sign_transaction({**base, "chainId": 20251, "nonce": nonce + 1}).raw_transaction
    )
    tampered[-5] ^= 0xFF  # inside s
    msg = _raw_error(w, bytes(tampered)).lower()
    assert "signature" in msg or "not" in msg

    huge = d.sign_transaction(
        {**base, "chainId": 20251, "nonce": nonce + 1, "gas": 30_000_000, "data": b"\x01" * 200_000}
    ).raw_transaction
    assert "the limit is" in _raw_error(w, huge).lower()

    garbage = _raw_error(w, b"\x02" + os.urandom(99)).lower()
    assert "decod" in garbage or "malformed" in garbage, garbage
    height = w.eth.block_number
    wait_for(lambda: w.eth.block_number > height + 2, 30, "chain to keep committing")
    ok = receipt(w, send(w, d, {"to": d.address, "value": 3, "gas": 21000}))
    assert ok["status"] == 1


def test_ethers_js_flow(net, tmp_path):
    import json
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node")
    root = Path(__file__).resolve().parents[2]
    if node is None or not (root / "node_modules" / "ethers").is_dir():
        pytest.fail("Node.js and the project's node_modules (scripts/install.sh) are required")
    token = compiled("Token.vy")
    artifact = tmp_path / "token.json"
    artifact.write_text(json.dumps({"abi": token.abi, "bytecode": "0x" + token.bytecode.hex()}))
    accts = dev_accounts(net)
    env = {
        **os.environ,
        "RPC0": net.node("node0").api_url,
        "RPC1": net.node("node1").api_url,
        "RPC2": net.node("node2").api_url,
        "KEY_A": accts["Bank A"].key.hex(),
        "ADDRESS_B": accts["Bank B"].address,
        "TOKEN": str(artifact),
    }
    proc = subprocess.run(
        [node, str(root / "tests" / "js" / "ethers_flow.mjs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["chainId"] == 20251
    assert out["status"] == 1
    assert out["event"]["value"] == "777" and out["event"]["to"] == accts["Bank B"].address
    assert out["logs"] == [{"from": accts["Bank A"].address, "value": "777"}]
    assert out["balanceNow"] == "777" and out["balanceBefore"] == "0"
    assert out["revert"] and "insufficient balance" in out["revert"]


def _cli(*args: str) -> dict:
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "consortium.cli.main", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cli_accounts_and_contracts(net):
    d = str(net.root)
    new = _cli("account", "new", "--name", "ops", "--dir", d)
    listed = _cli("account", "list", "--dir", d)
    by_addr = {row["address"]: row for row in listed}
    assert new["address"].lower() in by_addr
    assert by_addr[dev_accounts(net)["Bank A"].address.lower()]["member"] == "Bank A"
    assert by_addr[dev_accounts(net)["Bank A"].address.lower()]["balance"] > 0

    token = str(EXAMPLES / "Token.vy")
    deployed = _cli(
        "contract", "deploy", token, "CLI Coin", "CLI", "1000", "--from", "Bank A", "--dir", d
    )
    address = deployed["address"]
    bank_b = dev_accounts(net)["Bank B"].address
    sent = _cli(
        "contract",
        "send",
        address,
        "transfer",
        bank_b,
        "250",
        "--from",
        "Bank A",
        "--rpc",
        net.node("node2").api_url,
        "--dir",
        d,
    )
    assert sent["status"] == 1 and sent["logs"] == 1
    assert _cli("contract", "call", address, "balanceOf", bank_b, "--dir", d)["result"] == 250
    solidity = _cli(
        "contract", "deploy", str(CONTRACTS_DIR / "Notary.sol"), "--from", "Bank C", "--dir", d
    )
    digest = _cli("contract", "call", solidity["address"], "sm3Of", "0x616263", "--dir", d)
    assert digest["result"] is not None


def test_websocket_subscriptions(net):
    import asyncio
    import json

    import websockets

    accts = dev_accounts(net)
    a = accts["Bank A"]
    w1 = web3_for(net, "node1")
    token_addr = deploy(w1, a, compiled("Token.vy"), "WS Coin", "WS", 10**6)
    token = w1.eth.contract(address=token_addr, abi=compiled("Token.vy").abi)
    ws_url = net.node("node3").api_url.replace("http://", "ws://")

    async def run() -> tuple[dict, dict]:
        async with websockets.connect(ws_url) as ws:
            await ws.send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
                )
            )
            heads_id = json.loads(await ws.recv())["result"]
            await ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 2,
                        "method": "eth_subscribe",
                        "params": ["logs", {"address": token_addr}],
                    }
                )
            )
            logs_id = json.loads(await ws.recv())["result"]
            send(
                w1, a, {"to": token_addr, "data": token.encode_abi("transfer", args=[a.address, 9])}
            )
            head = log = None
            while head is None or log is None:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                sub = msg["params"]["subscription"]
                if sub == heads_id and head is None:
                    head = msg["params"]["result"]
                elif sub == logs_id:
                    log = msg["params"]["result"]
            return head, log

    head, log = asyncio.run(run())
    assert int(head["number"], 16) > 0 and head["baseFeePerGas"] == "0x0"
    assert log["address"].lower() == token_addr.lower()
    assert int(log["data"], 16) == 9
