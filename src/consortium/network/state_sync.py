"""Joining by state sync: CometBFT's `[statesync]` section, filled from a node the joining
member trusts.

A new node with an empty ledger and `[statesync] enable = true` asks its peers for
snapshots (`consortium.ledger.snapshots`), verifies the snapshot's app hash with a light
client that trusts one block (`trust_height`, `trust_hash`) and checks later headers against
two RPC servers, restores the state, then fetches only the blocks after the snapshot.

The trust comes from the trusted node's RPC: its latest height and that block's hash
(`/status`, `/block?height=`). `consortium join --state-sync --trust-rpc URL` writes it at
once; `[state_sync] enable = true` and `rpc_servers` in consortium.toml make the node fetch it
again at every start while its ledger is still empty (a vote admitting the node may take
longer than a trust is fresh). See docs/state-sync.md.
"""

from __future__ import annotations

import base64
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomlkit

from consortium.errors import ConfigError, NetworkError

TRUST_PERIOD = "168h0m0s"  # a week: the trusted block must be younger than this at start
RPC_TIMEOUT = 10.0


@dataclass(frozen=True)
class Trust:
    """What the light client starts from: a block of the trusted node's chain."""

    rpc_servers: tuple[str, str]
    height: int
    hash: str  # hex, upper case as CometBFT prints it
    snapshot_heights: tuple[int, ...]


EXPECTED_RPC = ("give the CometBFT RPC of a node you trust (its config/config.toml [rpc] "
                "laddr, e.g. http://10.0.0.5:26657), not its API")


def _get(url: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """One CometBFT RPC answer's `result`; every failure is one line naming the URL and
    what was expected (httpx's own messages run to several lines, with a link)."""
    try:
        r = httpx.get(f"{url.rstrip('/')}{path}", params=params, timeout=RPC_TIMEOUT)
    except httpx.HTTPError as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise NetworkError(f"the trusted node's RPC at {url} is unreachable "
                           f"({type(exc).__name__}: {detail}); {EXPECTED_RPC}") from None
    if r.status_code != 200:
        raise NetworkError(f"{url} is not a CometBFT RPC: GET {path} answered HTTP "
                           f"{r.status_code} {r.reason_phrase}; {EXPECTED_RPC}")
    try:
        doc = r.json()
    except ValueError:
        raise NetworkError(f"{url} is not a CometBFT RPC: GET {path} did not answer JSON; "
                           f"{EXPECTED_RPC}") from None
    if not isinstance(doc, dict) or "result" not in doc:
        raise NetworkError(f"the trusted node's RPC at {url} answered {path} with an error: "
                           f"{doc.get('error') if isinstance(doc, dict) else doc!r}")
    return doc["result"]


def check_rpc_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--trust-rpc {url!r} must be an http:// or https:// URL of a "
                          "CometBFT RPC, e.g. http://10.0.0.5:26657")
    return url.rstrip("/")


def fetch_trust(rpc_urls: Sequence[str]) -> Trust:
    """The latest block of the first trusted RPC server, after checking that it offers a
    snapshot to restore (its ledger's `/snapshots` query)."""
    if not rpc_urls:
        raise ConfigError("state sync needs the CometBFT RPC of a node you trust "
                          "(--trust-rpc http://HOST:PORT)")
    urls = [check_rpc_url(u) for u in rpc_urls][:2]
    servers = (urls[0], urls[-1])
    first = urls[0]
    status = _get(first, "/status")
    try:
        height = int(status["sync_info"]["latest_block_height"])
    except (KeyError, TypeError, ValueError):
        raise NetworkError(f"the trusted node at {first} did not report its height") from None
    snapshots, interval = _snapshots(first)
    if not snapshots:
        why = ("it has snapshots turned off ([state_sync] snapshot_interval = 0)"
               if interval == 0 else
               f"it takes one every {interval} blocks and is at height {height}")
        raise NetworkError(f"the trusted node at {first} has no state-sync snapshot yet: {why}")
    if height < 1:
        raise NetworkError(f"the trusted node at {first} has no blocks yet")
    block = _get(first, "/block", {"height": height})
    try:
        block_hash = str(block["block_id"]["hash"])
    except (KeyError, TypeError):
        raise NetworkError(f"the trusted node at {first} did not give block {height}'s "
                           "hash") from None
    if len(block_hash) != 64:
        raise NetworkError(f"the trusted node at {first} gave a malformed hash for block "
                           f"{height}: {block_hash!r}")
    return Trust(servers, height, block_hash.upper(), tuple(snapshots))


def _snapshots(url: str) -> tuple[list[int], int]:
    """The heights of the snapshots the node at `url` offers, and its snapshot interval."""
    answer = _get(url, "/abci_query", {"path": '"/snapshots"'})
    try:
        response = answer["response"]
        if int(response.get("code", 0)):
            raise NetworkError(f"the trusted node at {url} does not answer snapshot queries "
                               f"({response.get('log')}); is it a consortium node of this "
                               "version?")
        doc = json.loads(base64.b64decode(response.get("value") or ""))
        return [int(s["height"]) for s in doc["snapshots"]], int(doc["interval"])
    except (KeyError, TypeError, ValueError):
        raise NetworkError(f"the trusted node at {url} gave a malformed snapshot list") from None


def write_statesync(home: Path, trust: Trust, *, trust_period: str = TRUST_PERIOD) -> None:
    """Fill CometBFT's `[statesync]` in `home`/config/config.toml, keeping the rest."""
    path = home / "config" / "config.toml"
    doc = tomlkit.parse(path.read_text())
    section = doc["statesync"]
    section["enable"] = True
    section["rpc_servers"] = ",".join(trust.rpc_servers)
    section["trust_height"] = trust.height
    section["trust_hash"] = trust.hash
    section["trust_period"] = trust_period
    # how long to gather snapshot offers before choosing (CometBFT's floor; its default is
    # 15 s): the trusted node answers at once, and discovery repeats if none came
    section["discovery_time"] = "5s"
    path.write_text(tomlkit.dumps(doc))


@dataclass(frozen=True)
class JoinSettings:
    """`[state_sync]` in consortium.toml, the joining side: `enable` (state-sync while the
    ledger is empty) and `rpc_servers` (the trusted node's CometBFT RPC, one or two)."""

    enable: bool = False
    rpc_servers: tuple[str, ...] = ()
    trust_period: str = TRUST_PERIOD

    @classmethod
    def load(cls, home: Path) -> JoinSettings:
        path = home / "consortium.toml"
        try:
            table = tomllib.loads(path.read_text()).get("state_sync", {})
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return cls()
        enable = table.get("enable", False)
        servers = table.get("rpc_servers", [])
        period = table.get("trust_period", TRUST_PERIOD)
        if not isinstance(enable, bool):
            raise ConfigError(f"{path}: state_sync.enable must be true or false")
        if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
            raise ConfigError(f"{path}: state_sync.rpc_servers must be a list of URLs")
        if enable and not servers:
            raise ConfigError(f"{path}: state_sync.enable needs state_sync.rpc_servers (the "
                              "CometBFT RPC of a node you trust)")
        if not isinstance(period, str) or not period:
            raise ConfigError(f"{path}: state_sync.trust_period must be a duration like "
                              f"\"{TRUST_PERIOD}\"")
        return cls(enable, tuple(servers), period)

    def save(self, home: Path) -> None:
        """Write this section into consortium.toml, keeping the rest of the file."""
        path = home / "consortium.toml"
        doc = tomlkit.parse(path.read_text()) if path.is_file() else tomlkit.document()
        section = doc.get("state_sync")
        if section is None:
            section = tomlkit.table()
            doc["state_sync"] = section
        section["enable"] = self.enable
        section["rpc_servers"] = list(self.rpc_servers)
        section["trust_period"] = self.trust_period
        path.write_text(tomlkit.dumps(doc))


def ledger_is_empty(ledger_dir: Path) -> bool:
    """Whether a node's ledger has no state yet (never started, or never got any)."""
    if not (ledger_dir / "data.mdb").is_file():
        return True
    from consortium.ledger.snapshots import open_read_only

    store = open_read_only(ledger_dir)
    try:
        with store.env.begin(db=store.dbs.get("meta")) as txn:
            return txn.get(b"genesis") is None
    finally:
        store.env.close()


def prepare_state_sync(home: Path, ledger_dir: Path) -> Trust | None:
    """At a node's start: with `[state_sync] enable` and an empty ledger, fetch a fresh trust
    from the trusted node and write CometBFT's `[statesync]` (raises a clear NetworkError if
    that node is unreachable or offers no snapshot). Otherwise nothing."""
    settings = JoinSettings.load(home)
    if not settings.enable or not ledger_is_empty(ledger_dir):
        return None
    trust = fetch_trust(settings.rpc_servers)
    write_statesync(home, trust, trust_period=settings.trust_period)
    return trust
