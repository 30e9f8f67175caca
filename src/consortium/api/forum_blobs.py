"""The node's store of anchored forum documents over REST (not a read of the contract): GET
/api/v1/forum/blobs/{sha256} answers a document's bytes (kept here, or on chain); PUT keeps
an anchored document's bytes, refused unless their SHA-256 is the path's and a document of
that hash and size is anchored. Errors: {"error"} with 400 (bad hash), 404, 409 (not
anchored), 413 (too large) or 501 (this node keeps no files)."""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consortium.api.http_server import read_body
from consortium.api.service_surface import RunSync, ledger_call, path_param
from consortium.apps.forum.blobs import BlobMismatch, node_blob_store, parse_sha
from consortium.apps.forum.model import MAX_BLOB_FILE
from consortium.apps.forum.reader import ForumReader
from consortium.ledger.types import LedgerReader

PATH = "/api/v1/forum/blobs/{sha}"
SHA_SCHEMA = {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}


# A document's bytes may be read from any origin, without credentials: the console of
# another node downloads an anchored document from the node that keeps it (its location).
# Nothing is exposed that the asker does not hold already: the path is the SHA-256 on chain
# (unguessable without reading the chain), the bytes are a public channel's document or a
# task force's ciphertext, and the reader checks them against that hash. A node asking for
# a token still asks for one: a browser sends none across origins.
CROSS_ORIGIN_READ = {"Access-Control-Allow-Origin": "*"}


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def forum_blob_routes(ledger: LedgerReader, run_sync: RunSync[Any]) -> list[Route]:
    reader = partial(ForumReader, ledger_call(ledger))
    store = node_blob_store(ledger)

    async def get_blob(request: Request) -> Response:
        try:
            sha = parse_sha(request.path_params["sha"])
        except ValueError as err:
            return _error(str(err), 400, CROSS_ORIGIN_READ)
        data = store.get(sha) if store is not None else None
        if data is None:
            data = await run_sync(lambda: reader().blob(bytes.fromhex(sha[2:])))
        if data is None:
            return _error(f"this node keeps no document {sha}", 404, CROSS_ORIGIN_READ)
        return Response(data, media_type="application/octet-stream", headers=CROSS_ORIGIN_READ)

    async def put_blob(request: Request) -> Response:
        if store is None:
            return _error("this node keeps no document files", 501)
        try:
            sha = parse_sha(request.path_params["sha"])
        except ValueError as err:
            return _error(str(err), 400)
        data = await read_body(request, MAX_BLOB_FILE)
        if data is None:
            return _error(f"a document file is at most {MAX_BLOB_FILE} bytes", 413)

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

    return [Route(PATH, get_blob, methods=["GET"]), Route(PATH, put_blob, methods=["PUT"])]


def forum_blob_openapi_paths() -> dict[str, Any]:
    tag = "forum"
    blob = path_param("sha", SHA_SCHEMA)
    octets = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    return {PATH: {
        "get": {"summary": "A document's bytes (check them against the hash)", "tags": [tag],
                "parameters": [blob], "responses": {
                    "200": {"description": "the bytes", "content": octets},
                    "404": {"description": "not kept here"}}},
        "put": {"summary": "Keep an anchored document's bytes", "tags": [tag],
                "parameters": [blob], "requestBody": {"content": octets},
                "responses": {"200": {"description": "kept"},
                              "400": {"description": "hash mismatch"},
                              "409": {"description": "not anchored on chain"}}},
    }}
