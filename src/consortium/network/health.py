"""What `consortium status` shows of each node's health, beside `supervisor.node_status`:
how far behind the highest node it is, the age of its newest block, its mempool, its recent
transactions per second, CheckTx refusals, the size of its LMDB file and its newest
snapshot.

Read from the node's engine (CometBFT RPC: status, mempool, the newest block headers) and
from the node's own `/metrics` (with `CONSORTIUM_API_TOKEN` as bearer token when set; the
figures stay empty when the API refuses or does not answer).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from consortium.api.metrics_probe import parse_block_time
from consortium.network.layout import Network, NodeEntry
from consortium.network.supervisor import NodeStatus, network_status

RATE_BLOCKS = 20  # transactions per second over at most this many newest blocks
TIMEOUT = 2.0


@dataclass
class NodeHealth:
    """The health figures of one node (None: not known, e.g. the node is down)."""

    behind: int | None = None  # blocks below the highest node of the network
    last_block_age_s: float | None = None
    mempool: int | None = None
    tx_per_s: float | None = None  # over the newest RATE_BLOCKS blocks
    refused: int | None = None  # CheckTx refusals since the node started
    lmdb_bytes: int | None = None
    snapshot_height: int | None = None


def engine_health(rpc_url: str, height: int, now: float | None = None) -> NodeHealth:
    """The figures the engine knows: block age, mempool, recent transactions per second."""
    health = NodeHealth()
    now = time.time() if now is None else now
    low = max(1, height - RATE_BLOCKS + 1)
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            pool = client.get(f"{rpc_url}/num_unconfirmed_txs").json()["result"]
            metas = client.get(f"{rpc_url}/blockchain",
                               params={"minHeight": low, "maxHeight": height}
                               ).json()["result"]["block_metas"]
            health.mempool = int(pool["total"])
            blocks = sorted((int(m["header"]["height"]), parse_block_time(m["header"]["time"]),
                             int(m["num_txs"])) for m in metas)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return health
    if blocks:
        health.last_block_age_s = round(max(0.0, now - blocks[-1][1]), 1)
    if len(blocks) >= 2 and blocks[-1][1] > blocks[0][1]:
        txs = sum(count for _, _, count in blocks[1:])  # the first block opens the window
        health.tx_per_s = round(txs / (blocks[-1][1] - blocks[0][1]), 1)
    return health


def metrics_health(api_url: str, health: NodeHealth) -> None:
    """Fill `health` from the node's /metrics: refusals, LMDB size, newest snapshot."""
    token = os.environ.get("CONSORTIUM_API_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.get(f"{api_url}/metrics", headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError:
        return
    if answer.status_code != 200:
        return
    try:
        samples = [s for family in text_string_to_metric_families(answer.text)
                   for s in family.samples]
    except ValueError:  # not the node's metrics (a proxy's page?): leave them unknown
        return
    refused = 0.0
    for sample in samples:
        if sample.name == "consortium_checktx_refused_total":
            refused += sample.value
        elif sample.name == "consortium_lmdb_size_bytes":
            health.lmdb_bytes = int(sample.value)
        elif sample.name == "consortium_snapshot_height":
            health.snapshot_height = int(sample.value)
    health.refused = int(refused)


def node_health(node: NodeEntry, status: NodeStatus, top: int | None) -> NodeHealth:
    if status.height is None:
        return NodeHealth()
    health = engine_health(node.rpc_url, status.height)
    health.behind = None if top is None else top - status.height
    metrics_health(node.api_url, health)
    return health


def network_health(network: Network) -> list[tuple[NodeStatus, NodeHealth]]:
    """Every node's status and health, `behind` measured against the highest of them."""
    statuses = network_status(network)
    heights = [s.height for s in statuses if s.height is not None]
    top = max(heights) if heights else None
    return [(status, node_health(node, status, top))
            for node, status in zip(network.nodes, statuses, strict=True)]


def health_json(status: NodeStatus, health: NodeHealth) -> dict[str, Any]:
    return {**status.to_json(), **asdict(health)}
