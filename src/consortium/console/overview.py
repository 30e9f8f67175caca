"""The overview page: consensus (validators with power, heights, peers of this node, each
named for its member where the chain records it), a block-time chart drawn server-side as
SVG, chain health, and the latest blocks and transactions, which `static/js/overview.js`
keeps live over the node's WebSocket."""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consortium.api.explorer import shipped_abis, standard_abis
from consortium.console.app import Console, ConsoleRpcError, hexint
from consortium.console.owners import owners

RECENT_BLOCKS = 20  # rows of the latest-blocks table
RECENT_TXS = 20  # rows of the latest-transactions table
RECENT_EVENTS = 20  # rows of the latest-events table
EVENT_BLOCKS = 20  # blocks whose logs the page starts with
CHART_BLOCKS = 60  # blocks in the block-time chart


def routes(console: Console) -> list[BaseRoute]:
    async def overview(request: Request) -> Response:
        latest = hexint(await console.rpc("eth_blockNumber", request=request))
        blocks = await _recent_blocks(console, latest, max(RECENT_BLOCKS, CHART_BLOCKS + 1),
                                      full=False)
        # whole transactions only of the newest blocks that fill the table
        wanted: list[int] = []
        count = 0
        for block in blocks[:RECENT_BLOCKS]:
            if count >= RECENT_TXS:
                break
            if block["transactions"]:
                wanted.append(hexint(block["number"]))
                count += len(block["transactions"])
        full = await _blocks(console, wanted, full=True)
        return console.page(
            request, "overview.html", active="overview", latest=latest,
            blocks=blocks[:RECENT_BLOCKS],
            transactions=[tx for b in full for tx in b["transactions"]][:RECENT_TXS],
            events=await recent_events(console, latest), event_names=event_names(),
            event_blocks=min(EVENT_BLOCKS, latest + 1),
            **await consensus(console, blocks, request))

    async def consensus_part(request: Request) -> Response:
        """The consensus part alone, for the page to refresh (htmx, every few seconds)."""
        latest = hexint(await console.rpc("eth_blockNumber", request=request))
        blocks = await _recent_blocks(console, latest, CHART_BLOCKS + 1, full=False)
        return console.page(request, "overview_consensus.html",
                            **await consensus(console, blocks, request))

    return [Route("/", overview, methods=["GET"]),
            Route("/overview/consensus", consensus_part, methods=["GET"])]


async def recent_events(console: Console, latest: int) -> list[dict[str, Any]]:
    """The newest RECENT_EVENTS logs of the last EVENT_BLOCKS blocks, newest first, named
    where the event is known."""
    try:
        logs = await console.rpc("eth_getLogs", {"fromBlock": hex(max(0, latest -
                                                                    EVENT_BLOCKS + 1)),
                                                 "toBlock": hex(latest)})
    except ConsoleRpcError:  # more logs than one answer may carry: none shown at first
        return []
    names = event_names()
    out = []
    for log in reversed(logs[-RECENT_EVENTS:]):
        topic = log["topics"][0] if log["topics"] else ""
        out.append({**log, "name": names.get(f"{log['address']}:{topic}")
                    or names.get(topic) or ""})
    return out


@functools.cache
def event_names() -> dict[str, str]:
    """What the page calls an event: "ADDRESS:TOPIC0" -> "Contract.Event" for the shipped
    contracts, "TOPIC0" -> "Event" for the ERC-20 and ERC-721 events any contract emits."""
    names = {}
    for standard in reversed(standard_abis()):
        names.update({"0x" + topic.hex(): ev.name for topic, ev in standard.events.items()})
    for address, abi in shipped_abis().items():
        names.update({f"0x{address.hex()}:0x{topic.hex()}": f"{abi.name}.{ev.name}"
                      for topic, ev in abi.events.items()})
    return names


async def consensus(console: Console, blocks: list[dict[str, Any]],
                    request: Request | None = None) -> dict[str, Any]:
    """What the consensus part shows: sync state, validators and peers (named for their
    members), peers' heights, the block-time chart over `blocks` (newest first)."""
    status = await console.engine("status") or {}
    validators = validator_rows(await console.engine("validators") or {})
    net_info = await console.engine("net_info") or {}
    state = await console.engine("dump_consensus_state") or {}
    named = await owners(console, request, [v["pub_key"] for v in validators])
    for row in validators:
        row["member"] = named.validators.get(row["pub_key"], "")
    peers = peer_rows(net_info, peer_heights(state))
    for row in peers:
        row["member"] = named.nodes.get(str(row["id"]).lower(), "")
    return {"chart": block_time_chart(blocks[: CHART_BLOCKS + 1]),
            "health": health(status, blocks[0] if blocks else None),
            "validators": validators, "peers": peers}


async def _recent_blocks(console: Console, latest: int, count: int,
                         full: bool) -> list[dict[str, Any]]:
    """The latest `count` blocks, newest first, with their transactions if `full`."""
    return await _blocks(console, list(range(latest, max(0, latest - count), -1)), full)


async def _blocks(console: Console, heights: list[int], full: bool) -> list[dict[str, Any]]:
    """The blocks at `heights`, in that order, in one JSON-RPC batch."""
    if not heights:
        return []
    calls = [{"jsonrpc": "2.0", "id": h, "method": "eth_getBlockByNumber",
              "params": [hex(h), full]} for h in heights]
    answers = await console.jsonrpc.handle(calls)
    by_height = {a["id"]: a.get("result") for a in answers or []}
    return [by_height[h] for h in heights if by_height.get(h)]


def health(status: dict[str, Any], last: dict[str, Any] | None) -> dict[str, Any]:
    """Whether the node is catching up and how old its last block is: by the engine's time
    of its latest block (the EVM timestamp runs ahead of the clock on a chain faster than a
    block a second: each block's is at least its parent's + 1), else by that timestamp."""
    sync = status.get("sync_info", {})
    committed = consensus_time(sync.get("latest_block_time"))
    if committed is not None:
        age: int | None = max(0, int(time.time() - committed))
    else:
        age = None if last is None else max(0, int(time.time()) - hexint(last["timestamp"]))
    return {"catching_up": bool(sync.get("catching_up")), "age": age,
            "engine_height": int(sync.get("latest_block_height") or 0),
            "engine_up": bool(status),
            "moniker": status.get("node_info", {}).get("moniker", "")}


def consensus_time(text: Any) -> float | None:
    """CometBFT's RFC 3339 time ("2025-05-01T12:00:00.123456789Z") as POSIX seconds."""
    if not isinstance(text, str) or not text:
        return None
    found = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})",
                         text.strip())
    if found is None:
        return None
    zone = "+00:00" if found.group(3) == "Z" else found.group(3)
    try:
        when = dt.datetime.fromisoformat(found.group(1) + zone)
    except ValueError:
        return None
    return when.timestamp() + float(found.group(2) or 0)


def validator_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"address": v.get("address", ""), "power": int(v.get("voting_power") or 0),
             "pub_key": (v.get("pub_key") or {}).get("value", "")}
            for v in answer.get("validators", [])]
    total = sum(r["power"] for r in rows) or 1
    for row in rows:
        row["share"] = 100.0 * row["power"] / total
    return sorted(rows, key=lambda r: -r["power"])


def peer_heights(consensus: dict[str, Any]) -> dict[str, int]:
    """Each peer's consensus height as this node last heard it, by node id."""
    heights = {}
    for peer in consensus.get("peers", []):
        node_id = str(peer.get("node_address", "")).partition("@")[0]
        state = (peer.get("peer_state") or {}).get("round_state") or {}
        if node_id and str(state.get("height", "")).isdigit():
            heights[node_id] = int(state["height"])
    return heights


def peer_rows(net_info: dict[str, Any], heights: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    for peer in net_info.get("peers", []):
        info = peer.get("node_info", {})
        rows.append({"moniker": info.get("moniker", ""), "id": info.get("id", ""),
                     "address": peer.get("remote_ip", ""),
                     "outbound": bool(peer.get("is_outbound")),
                     "height": heights.get(info.get("id", ""))})
    return sorted(rows, key=lambda r: r["moniker"])


def block_time_chart(blocks: list[dict[str, Any]], width: int = 600,
                     height: int = 140) -> dict[str, Any]:
    """Bars of seconds between consecutive blocks (oldest left), as SVG geometry."""
    ordered = sorted(blocks, key=lambda b: hexint(b["number"]))
    # block 1 carries the genesis time, so its successor's gap is the network's start-up
    gaps = [(hexint(b["number"]), hexint(b["timestamp"]) - hexint(a["timestamp"]))
            for a, b in zip(ordered, ordered[1:], strict=False) if hexint(a["number"]) > 1]
    if not gaps:
        return {"bars": [], "width": width, "height": height, "max": 0, "mean": 0.0}
    top = max(max(g for _, g in gaps), 1)
    step = width / len(gaps)
    bars = [{"x": round(i * step, 1), "w": round(max(step - 1, 1), 1),
             "h": round((height - 20) * g / top, 1), "y": round(height - 14 - (height - 20)
                                                                * g / top, 1),
             "number": n, "seconds": g} for i, (n, g) in enumerate(gaps)]
    return {"bars": bars, "width": width, "height": height, "max": top,
            "mean": sum(g for _, g in gaps) / len(gaps)}
