"""`consortium bench api-access`: what HTTPS and a bearer token on every request cost the
node's throughput (issue 18: goal, under 5 % at batches of 100).

One validator, ERC-20 transfers through JSON-RPC in batches, as `consortium bench`. The
same signed transactions are committed twice per round from the same starting chain (a
copy of the node home taken after the setup transactions): once over plain HTTP with auth
off (a local network's default), once over HTTPS with a submit token on every request and
`[api] auth = "token"` (a node that serves other hosts). Rounds alternate the two, so the
machine's drift over minutes falls on both; the figure is the ratio of their median rates.
Beside it, in process: what the token check alone costs per request (one SHA-256 and a
dict lookup, plus the `stat` that notices a changed token file).
"""

from __future__ import annotations

import shutil
import ssl
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import tomlkit

from consortium.api.auth import TokenCheck, TokenFile
from consortium.bench.load import EthTarget, LoadRun, eth_txs, plan_lanes
from consortium.bench.networks import LedgerNet, bench_member_names
from consortium.bench.report import RunOutcome, default_out, machine, run_summary, write_json
from consortium.bench.runner import QuietUi, _run, commit_setup
from consortium.bench.workloads import make_workload, presign
from consortium.errors import ConfigError
from consortium.network.node_config import NodeConfig
from consortium.network.tls import make_ca, make_cert

PLAIN, SECURED = "http, no auth", "https + token"
GOAL = 0.95


class Ui(Protocol):
    def step(self, text: str) -> None: ...


@dataclass
class AccessConfig:
    txs: int = 20_000
    batch: int = 100
    concurrency: int = 8
    senders: int = 64
    rounds: int = 2
    timeout_commit: str = "500ms"
    out: Path = field(default_factory=default_out)

    def check(self) -> None:
        if self.txs < 1 or self.batch < 1 or self.concurrency < 1 or self.rounds < 1:
            raise ConfigError("--txs, --batch, --concurrency and --rounds must be positive")


def token_check_cost(home: Path, requests: int = 100_000) -> float:
    """Microseconds the API's token check takes per request, in process."""
    secret = TokenFile(home).create("bench-micro", "read")
    check = TokenCheck(home)
    header = f"Bearer {secret}"
    token, _why = check.token_of(header)
    assert token is not None and token.scope == "read"
    started = time.perf_counter()
    for _ in range(requests):
        check.token_of(header)
    return (time.perf_counter() - started) / requests * 1e6


def _secure(net: LedgerNet, tls_dir: Path) -> str:
    """Every node serves HTTPS with the bench CA's certificate and wants a token: the
    secret of a submit token created in each home (the same name, a different secret)."""
    secrets = []
    for node in net.network.nodes:
        home = net.network.node_home(node)
        path = home / "consortium.toml"
        doc = tomlkit.parse(path.read_text())
        api = doc["api"]
        api["auth"] = "token"  # type: ignore[index]
        api["tls_cert"] = str(tls_dir / "node.pem")  # type: ignore[index]
        api["tls_key"] = str(tls_dir / "node.key")  # type: ignore[index]
        path.write_text(tomlkit.dumps(doc))
        secrets.append(TokenFile(home).create("bench", "submit"))
    return secrets[0]


def run_api_access_bench(cfg: AccessConfig, ui: Ui) -> RunOutcome:
    cfg.check()
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workload = make_workload("erc20")
    work = Path(tempfile.mkdtemp(prefix="consortium-bench-access-"))
    runs: dict[str, list[dict[str, Any]]] = {PLAIN: [], SECURED: []}
    try:
        ui.step(f"creating a 1-validator network, {cfg.senders} member accounts")
        net = LedgerNet(work / "net", validators=1, accounts=cfg.senders,
                        timeout_commit=cfg.timeout_commit,
                        roles=workload.genesis_roles(bench_member_names(cfg.senders)))
        accounts = net.accounts()
        chain_id = net.network.eth_chain_id
        setup = workload.prepare(accounts, chain_id)
        txs = presign(workload, accounts, cfg.txs, chain_id,
                      setup.next_nonces(len(accounts)), lambda _n: None)
        ui.step("committing the setup transactions (the ERC-20 contract, balances)")
        net.up()
        try:
            commit_setup(net, setup.txs, QuietUi())
        finally:
            net.down()
        pristine = work / "pristine"
        shutil.copytree(net.network.root, pristine, symlinks=True)
        make_ca(work / "ca", "Bench CA")
        make_cert(work / "ca", "node", ["127.0.0.1"], work / "tls")
        verify = ssl.create_default_context(cafile=str(work / "ca" / "ca.pem"))
        items = eth_txs([(t.raw, t.hash, t.sender) for t in txs])
        micro_us = token_check_cost(net.network.node_home(net.network.nodes[0]))
        for n in range(cfg.rounds):
            for mode in (PLAIN, SECURED) if n % 2 == 0 else (SECURED, PLAIN):
                shutil.rmtree(net.network.root)
                shutil.copytree(pristine, net.network.root, symlinks=True)
                headers: dict[str, str] = {}
                tls: ssl.SSLContext | None = None
                if mode == SECURED:
                    token = _secure(net, work / "tls")
                    headers, tls = {"Authorization": f"Bearer {token}"}, verify
                urls = [NodeConfig.load(net.network.node_home(node)).api_url
                        for node in net.network.nodes]
                ui.step(f"round {n + 1}: {mode}, {cfg.txs:,} transfers at {urls[0]}")
                net.up()
                try:
                    target = EthTarget(net.rpc_urls[0])
                    lanes = plan_lanes(target, items, urls, cfg.concurrency, cfg.batch)
                    result = _run(LoadRun(target, lanes, urls[0], headers=headers,
                                          ssl_context=tls))
                finally:
                    net.down()
                summary = run_summary(result, cfg.txs)
                runs[mode].append(summary)
                ui.step(f"  {summary['tps']:,.0f} tx/s, {summary['committed']:,} committed")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = {mode: statistics.median(r["tps"] for r in rs) for mode, rs in runs.items()}
    ratio = median[SECURED] / median[PLAIN] if median[PLAIN] else 0.0
    report = {
        "schema": "consortium-bench-api-access/1", "started": started,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
        "machine": machine(), "runs": runs,
        "median_tps": {m: round(v, 1) for m, v in median.items()},
        "token_check_us_per_request": round(micro_us, 2),
        "ratio": round(ratio, 3), "cost_percent": round((1 - ratio) * 100, 1),
        "goal": GOAL, "met": ratio >= GOAL,
    }
    path = write_json(report, Path(cfg.out) / f"{started}-api-access.json")
    return RunOutcome(report, path)


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for mode, summaries in report["runs"].items():
        rates = " / ".join(f"{s['tps']:,.0f}" for s in summaries)
        p99 = max(s["latency_ms"]["p99"] for s in summaries)
        rows.append([mode, rates, f"{report['median_tps'][mode]:,.0f}", f"{p99:,.0f}"])
    return rows


TABLE_COLUMNS = ["API", "tx/s per round", "median tx/s", "worst p99 latency ms"]
