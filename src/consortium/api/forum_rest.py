"""The forum over REST: read-only routes answering the same JSON as the `consortium_forum*`
JSON-RPC methods, and the node's store of anchored documents — the bytes of documents too
large for the chain, kept by the node of the member who anchored them.

    GET /api/v1/forum/channels[/{name}]                      channels
    GET /api/v1/forum/channels/{name}/posts[?threads=true]   posts (ciphertext if private)
    GET /api/v1/forum/channels/{name}/pinned                 pinned announcements
    GET /api/v1/forum/channels/{name}/epochs/{n}             a key epoch, wrapped keys
    GET /api/v1/forum/posts/{id}  /threads/{id}  /minutes/{proposal}
    GET /api/v1/forum/documents[?channel=…&post=…]  /documents/{id}
    GET /api/v1/forum/keys/{account}  /rules
    GET /api/v1/forum/blobs/{sha256}     a document's bytes: kept here, or on chain (404)
    PUT /api/v1/forum/blobs/{sha256}     keep an anchored document's bytes: refused unless
                                         their SHA-256 is the path's and a document with
                                         that hash and size is anchored on chain

Errors answer {"error": "<reason>"} with 400 (bad input), 404 (not found), 409 (not
anchored), 413 (too large) or 501 (this node keeps no files).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consortium.api.forum_rpc import (
    channel_name,
    document_filter,
    epoch_number,
    forum_reader,
    public_key,
)
from consortium.api.service_reads import (
    ADDRESS_SCHEMA,
    ID_SCHEMA,
    RunSync,
    account,
    object_id,
    openapi_get,
    path_param,
    query_param,
    rest_read,
)
from consortium.apps.forum.blobs import BlobMismatch, node_blob_store, parse_sha
from consortium.apps.forum.model import MAX_BLOB_FILE
from consortium.ledger.types import LedgerReader

BASE = "/api/v1/forum"
SHA_SCHEMA = {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def forum_routes(ledger: LedgerReader, run_sync: RunSync[Any]) -> list[Route]:
    def reader() -> Any:
        return forum_reader(ledger)

    def name(r: Request) -> str:
        return channel_name(r.path_params["name"], "channel")

    reads = {
        "/channels": (lambda r: reader().channels(), "channels"),
        "/channels/{name}": (lambda r: reader().channel(name(r)), "channel"),
        "/channels/{name}/posts": (lambda r: reader().posts(
            name(r), threads_only=r.query_params.get("threads") == "true"), "posts"),
        "/channels/{name}/pinned": (lambda r: reader().pinned(name(r)), "pinned posts"),
        "/channels/{name}/epochs/{n}": (lambda r: reader().epoch(
            name(r), epoch_number(r.path_params["n"], "epoch")), "key epoch"),
        "/posts/{id}": (lambda r: reader().post(object_id(r.path_params["id"], "id")),
                        "post"),
        "/threads/{id}": (lambda r: reader().thread(object_id(r.path_params["id"], "id")),
                          "thread"),
        "/minutes/{proposal}": (lambda r: reader().minutes_of(
            object_id(r.path_params["proposal"], "proposal")), "minutes"),
        "/documents": (lambda r: reader().documents(
            **document_filter(dict(r.query_params), "query")), "documents"),
        "/documents/{id}": (lambda r: reader().document(
            object_id(r.path_params["id"], "id")), "document"),
        "/keys/{account}": (lambda r: public_key(
            ledger, account(r.path_params["account"], "account")), "forum key"),
        "/rules": (lambda r: reader().rules(), "rules"),
    }
    routes = [Route(BASE + path, rest_read(run_sync, read, what), methods=["GET"])
              for path, (read, what) in reads.items()]
    store = node_blob_store(ledger)

    async def get_blob(request: Request) -> Response:
        try:
            sha = parse_sha(request.path_params["sha"])
        except ValueError as err:
            return _error(str(err), 400)
        data = store.get(sha) if store is not None else None
        if data is None:
            data = await run_sync(lambda: reader().blob(bytes.fromhex(sha[2:])))
        if data is None:
            return _error(f"this node keeps no document {sha}", 404)
        return Response(data, media_type="application/octet-stream")

    async def put_blob(request: Request) -> Response:
        if store is None:
            return _error("this node keeps no document files", 501)
        try:
            sha = parse_sha(request.path_params["sha"])
        except ValueError as err:
            return _error(str(err), 400)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BLOB_FILE:
                return _error(f"a document file is at most {MAX_BLOB_FILE} bytes", 413)
        data = bytes(body)

        def anchored() -> dict[str, Any] | None:
            r = reader()
            found = r.document_by_hash(bytes.fromhex(sha[2:]))
            return r.document(found) if found else None

        record = await run_sync(anchored)
        if record is None or record["size"] != len(data):
            return _error(f"no document {sha} of {len(data)} bytes is anchored on chain: "
                          "anchor it first", 409)
        try:
            await run_sync(lambda: store.put(sha, data))
        except BlobMismatch as err:
            return _error(err.message, 400)
        return JSONResponse({"sha256": sha, "size": len(data), "kept": True})

    routes += [Route(BASE + "/blobs/{sha}", get_blob, methods=["GET"]),
               Route(BASE + "/blobs/{sha}", put_blob, methods=["PUT"])]
    return routes


def forum_openapi_paths() -> dict[str, Any]:
    tag = "forum"
    name = path_param("name", {"type": "string"})
    paths: dict[str, Any] = {
        f"{BASE}/channels": openapi_get("Every live channel", tag, []),
        f"{BASE}/channels/{{name}}": openapi_get("One channel", tag, [name], True),
        f"{BASE}/channels/{{name}}/posts": openapi_get(
            "A channel's posts (ciphertext in private channels)", tag,
            [name, query_param("threads", "only thread openers", {"type": "boolean"})]),
        f"{BASE}/channels/{{name}}/pinned": openapi_get("Pinned announcements", tag, [name]),
        f"{BASE}/channels/{{name}}/epochs/{{n}}": openapi_get(
            "A key epoch: its members and wrapped keys", tag,
            [name, path_param("n", ID_SCHEMA)], True),
        f"{BASE}/posts/{{id}}": openapi_get("One post", tag, [path_param("id", ID_SCHEMA)],
                                            True),
        f"{BASE}/threads/{{id}}": openapi_get("A thread", tag, [path_param("id", ID_SCHEMA)],
                                              True),
        f"{BASE}/minutes/{{proposal}}": openapi_get(
            "The minutes linking a proposal", tag, [path_param("proposal", ID_SCHEMA)]),
        f"{BASE}/documents": openapi_get("Document records", tag, [
            query_param("channel", "a channel", {"type": "string"}),
            query_param("post", "a post id", ID_SCHEMA)]),
        f"{BASE}/documents/{{id}}": openapi_get("One document record", tag,
                                                [path_param("id", ID_SCHEMA)], True),
        f"{BASE}/keys/{{account}}": openapi_get("An account's forum public key", tag,
                                                [path_param("account", ADDRESS_SCHEMA)], True),
        f"{BASE}/rules": openapi_get("The forum's rules", tag, []),
    }
    blob = path_param("sha", SHA_SCHEMA)
    octets = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    paths[f"{BASE}/blobs/{{sha}}"] = {
        "get": {"summary": "A document's bytes (check them against the hash)", "tags": [tag],
                "parameters": [blob], "responses": {
                    "200": {"description": "the bytes", "content": octets},
                    "404": {"description": "not kept here"}}},
        "put": {"summary": "Keep an anchored document's bytes", "tags": [tag],
                "parameters": [blob], "requestBody": {"content": octets},
                "responses": {"200": {"description": "kept"},
                              "400": {"description": "hash mismatch"},
                              "409": {"description": "not anchored on chain"}}},
    }
    return paths
