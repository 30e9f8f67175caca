"""Where a node's API runs: in the node's process (`[api] process = "node"`, the default) or
in a process of its own (`"own"`), whose interpreter lock is not the one blocks execute
under — the API's HTTP, JSON-RPC and admission then use the machine's other core instead of
waiting for FinalizeBlock and making it wait.

The API's own process reads the node's ledger through a `LedgerView` (LMDB serves both
processes; the node alone writes), hears CheckTx answers over the node's check socket
(`api.check_relay`), tells it there the sender of each transaction it sends (the node's
CheckTx then need not recover it) and owns the journal of accepted transactions. The node
starts it (`python -m consortium.network.api_process HOME ENGINE_RPC`) with the engine and
stops it first; it gets SIGTERM if the node dies. Its /metrics adds the node's families,
read from the node's metrics socket at each scrape (`api.metrics_relay`); its priv_
methods read the privacy groups' stores the node's processor writes (read-only), and
attest the heights the node tells it over the check socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn

    from consortium.api.check_relay import NodeLink
    from consortium.api.engine_client import CheckTxWatch
    from consortium.network.node_config import NodeConfig

log = logging.getLogger("consortium.api_process")


def node_api(cfg: NodeConfig, ledger: Any, engine_rpc: str, checks: CheckTxWatch, *,
             metrics: Any = None, privacy: Any = None,
             link: NodeLink | None = None) -> uvicorn.Server:
    """The node's API server as its consortium.toml sets it, over `ledger` (the node's
    `Ledger`, or a `LedgerView` in the API's own process, which tells its node the
    senders it recovered, and hands it the ABIs to store, through `link`)."""
    from consortium.api.app import create_app
    from consortium.api.auth import TokenCheck
    from consortium.api.http_server import api_server

    access = cfg.api_access
    mode = access.mode(cfg.api_host)
    tokens = TokenCheck(cfg.home) if mode == "token" else None
    tls = [str(cfg.home / p) if p else None
           for p in (access.tls_cert, access.tls_key, access.tls_client_ca)]
    app = create_app(ledger, engine_rpc, node_name=cfg.name, checks=checks,
                     journal=cfg.app_dir / "tx-journal", read_limits=cfg.read_limits,
                     tokens=tokens, client_certificates=mode == "mtls",
                     cors_origins=access.cors_origins, client_limits=cfg.client_limits,
                     metrics=metrics, console=cfg.console_enabled, privacy=privacy)
    if link is not None:
        app.state.local_txs.before_broadcast = link.tell
    return api_server(app, cfg.api_host, cfg.api_port, cfg.api_limits,  # no signal handlers
                      tls_cert=tls[0], tls_key=tls[1], tls_client_ca=tls[2])


async def start_api_process(cfg: NodeConfig, engine_rpc: str, preexec: Any
                            ) -> asyncio.subprocess.Process:
    """Start the API's own process for the node at `cfg.home` (output into the node's)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "consortium.network.api_process", str(cfg.home), engine_rpc,
        stdin=asyncio.subprocess.DEVNULL, preexec_fn=preexec)


def main(home: Path, engine_rpc: str) -> int:
    """The API's own process: serve until SIGTERM (from the node, or on its death)."""
    from consortium.api.check_relay import NodeLink, follow_checks
    from consortium.api.engine_client import CheckTxWatch
    from consortium.api.metrics_probe import api_metrics
    from consortium.api.private_submit import load_privacy_key, privacy_node
    from consortium.ledger.view import LedgerView
    from consortium.network.node_config import NodeConfig

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = NodeConfig.load(home)
    view = LedgerView(cfg.app_dir, engine=cfg.engine)
    # the privacy groups' stores, read as the node's processor writes them
    privacy = privacy_node(view, cfg.app_dir, load_privacy_key(cfg.home), readonly=True)

    async def run() -> None:
        checks = CheckTxWatch(asyncio.get_running_loop())
        link = NodeLink()
        view.node = link.from_thread(asyncio.get_running_loop())
        metrics = api_metrics(cfg.metrics_socket)
        server = node_api(cfg, view, engine_rpc, checks, metrics=metrics, link=link,
                          privacy=privacy if privacy.groups is not None else None)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        follow = asyncio.create_task(follow_checks(cfg.checks_socket, checks, link,
                                                   privacy.on_block))
        serve = asyncio.create_task(server.serve())
        done, _ = await asyncio.wait({follow, serve}, return_when=asyncio.FIRST_COMPLETED)
        if follow in done:  # the node went (or never listened): no CheckTx answers come
            log.error("the node's CheckTx answers stopped (%s); the API stops",
                      follow.exception() or "connection closed")
            server.should_exit = True
            await serve
        follow.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await follow
        log.info("told the node %d senders it need not recover", link.told)

    log.info("API of node %s in its own process (pid %d), reading %s", cfg.name,
             os.getpid(), cfg.app_dir)
    try:
        asyncio.run(run())
    finally:
        if privacy.groups is not None:
            privacy.groups.stop()
        view.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
