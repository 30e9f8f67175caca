"""Issue 21, "metrics move as expected under a small load", on a real 1-validator network:
/metrics is read and parsed with the Prometheus text parser before and after a few
transfers, one transaction CheckTx refuses, and some JSON-RPC calls; CometBFT's own
Prometheus endpoint answers on the port the generated config gave it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
from eth_account import Account
from prometheus_client.parser import text_string_to_metric_families

from consortium.network.init import port_free
from tests.support.evmutil import dev_accounts, transfer_hex
from tests.support.localnet import wait_for

TRANSFERS = 5
BLOCK_NUMBER_CALLS = 3

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(url: str) -> Samples:
    answer = httpx.get(f"{url}/metrics", timeout=30)
    assert answer.status_code == 200, answer.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def _get(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def _rpc(url: str, method: str, *params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                   "params": list(params)}, timeout=30).json()
    return answer


def test_metrics_move_under_a_small_load(localnet):
    net = localnet(validators=1, start=False)
    node = net.node("node0")
    metrics_port = next(p for p in range(node.api_port + 1000, node.api_port + 1100)
                        if port_free(p))
    config = net.network.node_home(node) / "consortium.toml"
    config.write_text(config.read_text() + f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n')
    net.up()
    net.wait_height(2)
    url = node.api_url
    accts = dev_accounts(net)
    sender, to = accts["Bank A"], accts["Bank A"].address
    wait_for(lambda: _get(_scrape(url), "consortium_engine_up") == 1, 60,
             "the node's probe of its engine")
    before = _scrape(url)

    nonce = int(_rpc(url, "eth_getTransactionCount", sender.address, "pending")["result"], 16)
    hashes = []
    for i in range(TRANSFERS):
        answer = _rpc(url, "eth_sendRawTransaction", transfer_hex(sender, to, nonce + i))
        assert "result" in answer, answer
        hashes.append(answer["result"])
    outsider = Account.create()  # not a member's account: CheckTx refuses it
    refused = _rpc(url, "eth_sendRawTransaction", transfer_hex(outsider, to, 0))
    assert "error" in refused, refused
    for _ in range(BLOCK_NUMBER_CALLS):
        assert "result" in _rpc(url, "eth_blockNumber")
    wait_for(lambda: all(_rpc(url, "eth_getTransactionReceipt", h).get("result")
                         for h in hashes), 120, f"receipts of the {TRANSFERS} transfers")
    after = wait_for(lambda: (lambda s: s if _get(s, "consortium_transactions_total")
                              - _get(before, "consortium_transactions_total") >= TRANSFERS
                              else None)(_scrape(url)), 60, "the transfers in the counters")

    def moved(name: str, **labels: str) -> float:
        return _get(after, name, **labels) - _get(before, name, **labels)

    assert _get(after, "consortium_height") > _get(before, "consortium_height")
    assert moved("consortium_transactions_total") == TRANSFERS
    assert moved("consortium_checktx_accepted_total") == TRANSFERS
    assert moved("consortium_checktx_refused_total", reason="not_permitted") == 1
    assert moved("consortium_rpc_calls_total", method="eth_blockNumber",
                 status="ok") == BLOCK_NUMBER_CALLS
    assert moved("consortium_rpc_seconds_count", method="eth_blockNumber") == BLOCK_NUMBER_CALLS
    assert moved("consortium_rpc_calls_total", method="eth_sendRawTransaction",
                 status="ok") == TRANSFERS
    assert moved("consortium_rpc_calls_total", method="eth_sendRawTransaction",
                 status="error") == 1
    assert moved("consortium_block_execution_seconds_count") >= 1
    assert moved("consortium_block_commit_seconds_count") >= 1
    assert moved("consortium_block_transactions_sum") == TRANSFERS
    assert moved("consortium_http_requests_total", route="GET /metrics", status="200") >= 1
    assert _get(after, "consortium_engine_up") == 1
    assert _get(after, "consortium_peers") == 0  # one validator: no peers
    assert _get(after, "consortium_catching_up") == 0
    assert _get(after, "consortium_lmdb_size_bytes") > 0
    assert ("consortium_mempool_transactions", ()) in after
    assert _get(after, "consortium_last_block_timestamp_seconds") > 1.7e9

    # [metrics] listen: the same registry on a port of its own
    own_port = _scrape(f"http://127.0.0.1:{metrics_port}")
    assert _get(own_port, "consortium_checktx_refused_total", reason="not_permitted") == _get(
        after, "consortium_checktx_refused_total", reason="not_permitted")

    # `consortium status` shows the key figures
    proc = subprocess.run([sys.executable, "-m", "consortium.cli.main", "status", "--dir",
                           str(net.root), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (shown,) = json.loads(proc.stdout)["nodes"]
    assert shown["height"] >= _get(after, "consortium_height")
    assert shown["behind"] == 0 and shown["peers"] == 0
    assert shown["refused"] == sum(v for (name, _), v in after.items()
                                   if name == "consortium_checktx_refused_total")
    assert shown["lmdb_bytes"] > 0 and shown["snapshot_height"] == 0
    assert shown["mempool"] == 0 and shown["last_block_age_s"] < 60
    assert shown["tx_per_s"] is not None  # (0 once 20 empty blocks follow the transfers)

    # CometBFT's own metrics, on the port network.json records for it
    assert node.prometheus_port
    engine = httpx.get(f"http://127.0.0.1:{node.prometheus_port}/metrics", timeout=30).text
    heights = [s.value for family in text_string_to_metric_families(engine)
               for s in family.samples if s.name == "cometbft_consensus_height"]
    assert heights and heights[0] >= 2
