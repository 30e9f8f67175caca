"""What a post's content and a document's metadata hold before sealing: small JSON objects,
so the consortium channel's plaintext and a private channel's opened content read alike —
a post {"title", "body"}, a document {"name", "type", "size", "sha256" (of the plaintext),
"location" (anchored only: the author's node API that keeps the bytes)}."""

from __future__ import annotations

import json
from typing import Any


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None


def post_content(title: str, body: str) -> bytes:
    return _dumps({"title": title, "body": body})


def parse_post(raw: bytes) -> dict[str, str]:
    """{"title", "body"}; content that is not this JSON (another client's) reads as a body."""
    value = _loads(raw)
    if isinstance(value, dict) and isinstance(value.get("body"), str):
        title = value.get("title")
        return {"title": title if isinstance(title, str) else "", "body": value["body"]}
    return {"title": "", "body": raw.decode("utf-8", errors="replace")}


def document_meta(name: str, media_type: str, size: int, sha256: str,
                  location: str | None = None) -> bytes:
    meta: dict[str, Any] = {"name": name, "type": media_type, "size": size, "sha256": sha256}
    return _dumps(meta | ({"location": location} if location else {}))


def parse_meta(raw: bytes) -> dict[str, Any]:
    value = _loads(raw)
    return value if isinstance(value, dict) else {"name": "", "raw": raw.hex()}
