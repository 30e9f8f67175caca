"""Whose validators and nodes the console lists: the owning member's name for a validator's
consensus key (`Nodes.validatorOwner`, recorded from Nodes version 2 on) and for a node id
(`Nodes.nodes`), so the overview and governance pages name them instead of showing hex alone.

Read through the node's JSON-RPC in one batch (in process), like every other page read; a
read refused (the node busy) or an owner not recorded just leaves that key unnamed."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from consortium.console.app import Console
from consortium.system.abi_files import function
from consortium.system.model import NODES_ADDRESS


@dataclass(frozen=True)
class Owners:
    """Member names by validator key (base64, as CometBFT and `consortium_validators` give
    it) and by node id (lower-case hex, no 0x)."""

    validators: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)


def _owner_call(pub_key: str) -> tuple[str, list[Any]] | None:
    """The eth_call asking who owns the validator with base64 key `pub_key` (None: no key)."""
    try:
        raw = base64.b64decode(pub_key, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 32:
        return None
    data = function("Nodes", "validatorOwner").encode(raw)
    return "eth_call", [{"to": "0x" + NODES_ADDRESS.hex(), "data": "0x" + data.hex()}, "latest"]


def _member_id(answer: Any) -> int:
    """A uint256 eth_call answer ("0x…") as an int; 0 for none or a malformed answer."""
    try:
        return int(str(answer), 16) if answer else 0
    except ValueError:
        return 0


async def validator_owners(console: Console, request: Request | None, pub_keys: Sequence[str],
                           members: list[dict[str, Any]]) -> dict[str, str]:
    """base64 validator key -> the name of the member (of `members`) recorded as its owner."""
    names = {int(m["id"]): str(m["name"]) for m in members}
    keys = [k for k in dict.fromkeys(pub_keys) if _owner_call(k) is not None]
    calls = [call for call in map(_owner_call, keys) if call is not None]
    answers = await console.rpc_batch(calls, request=request)
    return {k: names[_member_id(a)] for k, a in zip(keys, answers, strict=True)
            if _member_id(a) in names}


def node_owners(nodes: list[dict[str, Any]], members: list[dict[str, Any]]) -> dict[str, str]:
    """Node id (lower-case hex) -> its member's name, from `consortium_nodes`' answer."""
    names = {int(m["id"]): str(m["name"]) for m in members}
    return {str(n["nodeId"]).lower().removeprefix("0x"): names[int(n["member"])]
            for n in nodes if int(n.get("member") or 0) in names}


async def owners(console: Console, request: Request | None,
                 pub_keys: Sequence[str] = ()) -> Owners:
    """The members owning the validators with keys `pub_keys` and every admitted node."""
    members, nodes = await console.rpc_batch([("consortium_members", []),
                                              ("consortium_nodes", [])], request=request)
    return Owners(validators=await validator_owners(console, request, pub_keys, members or []),
                  nodes=node_owners(nodes or [], members or []))
