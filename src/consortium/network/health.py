"""What `consortium status` shows of each node's health, beside `supervisor.node_status`:
how far behind the highest node it is, the age of its newest block, its mempool, its recent
transactions per second, CheckTx refusals, the size of its LMDB file and its newest
snapshot.

Read from the node's engine (CometBFT RPC: status, mempool, the newest block headers) and
from the node's own `/metrics` at the API its home's settings name (`api_url_of`: https with
TLS, its listen address), with `CONSORTIUM_API_TOKEN` as bearer token when set and the
certificate checked against `CONSORTIUM_API_CA` when set (else the system's CAs); the
figures stay empty when the API refuses or does not answer.
"""

from __future__ import annotations

import os
import re
import ssl
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from consortium.api.metrics_probe import parse_block_time
from consortium.errors import ConfigError
from consortium.network.layout import JsonFields, Network, NodeEntry
from consortium.network.node_config import read_toml
from consortium.network.supervisor import NodeStatus, each_node, network_status

# What a client presents to an API with auth or a private CA (the SDK's ApiCredentials
# reads the same; not imported from it: the SDK package would load web3 into `status`)
TOKEN_ENV, CA_ENV = "CONSORTIUM_API_TOKEN", "CONSORTIUM_API_CA"
CERT_ENV, KEY_ENV = "CONSORTIUM_API_CERT", "CONSORTIUM_API_KEY"  # as the SDK reads them
RATE_BLOCKS = 20  # transactions per second over at most this many newest blocks
TIMEOUT = 2.0
# No new block for longer than STALL_BLOCKS block intervals (consensus.timeout_commit, plus
# create_empty_blocks_interval when empty blocks are off), and at least STALL_MIN_S: the
# chain may be halted (`chain_health`)
STALL_MIN_S = 10.0
STALL_BLOCKS = 10
ANSWERING = ("up", "catching up")  # the states of a node that answers


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


@dataclass(frozen=True)
class Credentials:
    """The bearer token /metrics is asked with, and what checks the node's certificate:
    the CA of `CONSORTIUM_API_CA`, else the system's CAs (True)."""

    token: str | None = None
    verify: ssl.SSLContext | bool = True

    @classmethod
    def from_env(cls) -> Credentials:
        """`CONSORTIUM_API_TOKEN` and `CONSORTIUM_API_CA`, and for a node that asks for a
        client certificate (`auth = "mtls"`) `CONSORTIUM_API_CERT` / `CONSORTIUM_API_KEY`; a
        file that does not exist or does not load is refused, rather than every node's
        figures left empty unexplained."""
        token = (os.environ.get(TOKEN_ENV) or "").strip() or None
        ca_file = os.environ.get(CA_ENV) or None
        cert, key = os.environ.get(CERT_ENV) or None, os.environ.get(KEY_ENV) or None
        if ca_file is None and cert is None:
            return cls(token)
        if ca_file is not None and not os.path.isfile(ca_file):
            raise ConfigError(f"{CA_ENV}: the CA certificate {ca_file} does not exist")
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"{CA_ENV}: {ca_file} is not a PEM CA certificate ({exc})") \
                from None
        if cert is not None:
            try:
                context.load_cert_chain(cert, key)
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(f"{CERT_ENV} {cert} and {KEY_ENV} {key or '(in it)'} do not "
                                  f"load as a client certificate and its key ({exc})") from None
        return cls(token, context)


def metrics_health(api_url: str, health: NodeHealth,
                   credentials: Credentials | None = None) -> None:
    """Fill `health` from the node's /metrics: refusals, LMDB size, newest snapshot.
    `credentials`: the token and CA to present (default: from the environment)."""
    credentials = credentials or Credentials.from_env()
    headers = {"Authorization": f"Bearer {credentials.token}"} if credentials.token else {}
    try:
        answer = httpx.get(f"{api_url}/metrics", headers=headers, verify=credentials.verify,
                           timeout=TIMEOUT)
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


def node_health(node: NodeEntry, status: NodeStatus, top: int | None,
                credentials: Credentials | None = None) -> NodeHealth:
    """`status.api_url` is where the node's API is (`supervisor.api_url_of`), not the
    layout's loopback http URL: a node serving TLS, or listening on another address, answers
    only there."""
    if status.height is None:
        return NodeHealth()
    health = engine_health(node.rpc_url, status.height)
    health.behind = None if top is None else top - status.height
    if status.answers is None or status.answers["api"]:  # not again an API that did not
        metrics_health(status.api_url or node.api_url, health, credentials)
    return health


def network_health(network: Network) -> list[tuple[NodeStatus, NodeHealth]]:
    """Every node's status and health, `behind` measured against the highest of them.
    A `CONSORTIUM_API_CA` that names no file is refused (ConfigError) before any request."""
    credentials = Credentials.from_env()
    statuses = network_status(network)
    heights = [s.height for s in statuses if s.height is not None]
    top = max(heights) if heights else None
    pairs = list(zip(network.nodes, statuses, strict=True))
    healths = each_node(pairs, lambda p: node_health(p[0], p[1], top, credentials))
    return list(zip(statuses, healths, strict=True))


def health_json(status: NodeStatus, health: NodeHealth) -> dict[str, Any]:
    return {**status.to_json(), "state": status.state, **asdict(health)}


@dataclass
class ChainHealth(JsonFields):
    """Whether the chain still makes blocks, as the nodes of a folder see it."""

    newest_block_age_s: float | None = None  # the newest block of the nodes that answer
    stalled_after_s: float | None = None  # None: no empty blocks, no age says it halted
    validators: int | None = None  # the validator set (its newest node's /validators)
    voting_power: int | None = None
    validators_answering: int = 0  # validators of this folder that answer
    voting_power_answering: int = 0
    warning: str | None = None  # "no new block for N s: the chain may be halted (…)"


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_seconds(value: object) -> float | None:
    """A Go duration ("500ms", "1m30s", "0") in seconds, None if it is none."""
    if value == "0":
        return 0.0
    if not isinstance(value, str):
        return None
    parts = _GO_DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _SECONDS[u] for n, u in parts)


def stall_after(home: Path) -> float | None:
    """After how long without a new block a chain may be halted, from the node's
    config.toml: STALL_BLOCKS block intervals (timeout_commit, plus
    create_empty_blocks_interval with empty blocks off), at least STALL_MIN_S; None when
    the chain makes no empty blocks at all (an idle chain makes none)."""
    try:
        consensus = read_toml(home / "config" / "config.toml", "").get("consensus", {})
    except ConfigError:
        consensus = {}
    interval = go_seconds(consensus.get("timeout_commit", "1s"))
    interval = 1.0 if interval is None else interval
    if consensus.get("create_empty_blocks", True) is False:
        empty = go_seconds(consensus.get("create_empty_blocks_interval", "0s")) or 0.0
        if empty <= 0:
            return None
        interval += empty
    return max(STALL_MIN_S, STALL_BLOCKS * interval)


def validator_set(rpc_url: str) -> tuple[int, int] | None:
    """(validators, their voting power) of the engine's newest validator set."""
    count = power = 0
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            for page in range(1, 101):
                result = client.get(f"{rpc_url}/validators",
                                    params={"page": page, "per_page": 100}).json()["result"]
                count += len(result["validators"])
                power += sum(int(v["voting_power"]) for v in result["validators"])
                if count >= int(result["total"]) or not result["validators"]:
                    break
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return count, power


def chain_health(network: Network,
                 rows: list[tuple[NodeStatus, NodeHealth]]) -> ChainHealth:
    """Whether the chain still makes blocks: the newest block's age among the nodes that
    answer; older than `stall_after`, a warning with the validators that answer and their
    voting power (of the set their newest node's engine reports)."""
    chain = ChainHealth()
    live = [(node, r, h) for node, (r, h) in zip(network.nodes, rows, strict=True)
            if r.state in ANSWERING]
    ages = [h.last_block_age_s for _, _, h in live if h.last_block_age_s is not None]
    if not ages:
        return chain
    voters = [r for _, r, _ in live if (r.voting_power or 0) > 0]
    chain.validators_answering = len(voters)
    chain.voting_power_answering = sum(r.voting_power or 0 for r in voters)
    chain.newest_block_age_s = min(ages)
    newest = max(live, key=lambda n: n[1].height or 0)[0]
    chain.stalled_after_s = stall_after(network.node_home(newest))
    found = validator_set(newest.rpc_url)
    if found is not None:
        chain.validators, chain.voting_power = found
    if chain.stalled_after_s is None or chain.newest_block_age_s <= chain.stalled_after_s:
        return chain
    chain.warning = (f"no new block for {chain.newest_block_age_s:.0f} s: the chain may be "
                     f"halted ({_answering(network, chain)})")
    return chain


def _answering(network: Network, chain: ChainHealth) -> str:
    """Who answers: "validators answering: 2 of 4, 20 of 40 voting power; blocks need more
    than 2/3 of it" ("answering here" when the set has validators outside the folder)."""
    k, p = chain.validators_answering, chain.voting_power_answering
    if chain.validators is None or chain.voting_power is None:
        return f"validators answering: {k}, {p} voting power"
    here = "" if sum(n.validator for n in network.nodes) >= chain.validators else " here"
    said = (f"validators answering{here}: {k} of {chain.validators}, {p} of "
            f"{chain.voting_power} voting power")
    if 3 * p <= 2 * chain.voting_power:
        return f"{said}; blocks need more than 2/3 of it"
    return f"{said}, enough for blocks: their logs say why none comes (`consortium logs`)"
