"""The forum page: channels (the consortium's own, open to every member, and each task
force's, sealed for its members) and a channel's posts, threads first with their replies.

The node serves what the Forum contract holds: a task force's posts as ciphertext. The page
opens them for a signed-in member of the task force (`static/js/forum.js`) and shows them
locked to everyone else; a channel's posts follow the contract's logs live. Members write
from the page (`static/js/forum_write.js`: sealed there in a task force's channel), attach
documents and download them checked against their SHA-256; the channel list's search runs in
the page over what the signed-in account can read, so no plaintext goes to the node.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consortium.apps.forum.model import MAX_BLOB_FILE
from consortium.console.app import Console, ConsoleRpcError
from consortium.console.forms import script_json, service_contracts
from consortium.system.model import GOVERNANCE_ADDRESS


def routes(console: Console) -> list[BaseRoute]:
    async def channels(request: Request) -> Response:
        found = await console.rpc("consortium_forumChannels", request=request)
        live = f"{service_contracts()['forum'].address} 0x{GOVERNANCE_ADDRESS.hex()}"
        return console.page(request, "forum.html", active="forum", channels=found,
                            names=await member_names(console, request), events_json="{}",
                            live_addresses=live)

    async def channel_list(request: Request) -> Response:
        found = await console.rpc("consortium_forumChannels", request=request)
        return console.page(request, "forum_channels.html", channels=found,
                            names=await member_names(console, request))

    async def channel(request: Request) -> Response:
        name = request.path_params["name"]
        state = await channel_state(console, request, name)
        if state is None:
            return console.not_found(request, "channel", name)
        rules = await console.rpc("consortium_forumRules", request=request)
        officers = await console.rpc("consortium_officers", request=request)
        response = console.page(request, "forum_channel.html", active="forum", **state,
                                forum=service_contracts()["forum"].address, rules=rules,
                                max_file=MAX_BLOB_FILE,
                                officers=sorted({o["holder"] for o in officers if o["holder"]}),
                                events_json=script_json({}))
        # an anchored document another node keeps is downloaded from that node's API (its
        # blob GET allows any origin, without credentials; the bytes are checked against the
        # hash on chain): this page may fetch from http(s) origins; scripts stay 'self' only
        policy = response.headers["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = policy.replace(
            "connect-src 'self' ws: wss:", "connect-src 'self' ws: wss: http: https:")
        return response

    async def posts(request: Request) -> Response:
        state = await channel_state(console, request, request.path_params["name"])
        if state is None:
            return console.not_found(request, "channel", request.path_params["name"])
        return console.page(request, "forum_posts.html", **state)

    return [Route("/forum", channels, methods=["GET"]),
            Route("/forum/channels", channel_list, methods=["GET"]),
            Route("/forum/channel/{name}", channel, methods=["GET"]),
            Route("/forum/channel/{name}/posts", posts, methods=["GET"])]


async def member_names(console: Console, request: Request) -> dict[str, str]:
    members = await console.rpc("consortium_members", request=request)
    return {a: m["name"] for m in members for a in m["accounts"]}


async def channel_state(console: Console, request: Request,
                        name: str) -> dict[str, Any] | None:
    """A channel with its threads (each with its replies, oldest first), or None."""
    try:
        found = await console.rpc("consortium_forumChannel", name, request=request)
    except ConsoleRpcError:
        return None
    if found is None:
        return None
    posts = await console.rpc("consortium_forumPosts", name, request=request)
    threads: dict[int, dict[str, Any]] = {}
    for post in posts:
        if post.get("parent") is None or post["parent"] not in threads:
            threads[post["id"]] = {**post, "replies_shown": []}
        else:
            threads[post["parent"]]["replies_shown"].append(post)
    documents = await console.rpc("consortium_forumDocuments", {"channel": name},
                                  request=request)
    return {"channel": found, "threads": list(threads.values()),
            "pinned": [p for p in posts if p.get("pinned")], "documents": documents,
            "names": await member_names(console, request)}
