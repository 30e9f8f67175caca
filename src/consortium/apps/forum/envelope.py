"""What a post's content and a document's metadata hold before sealing: small JSON objects,
so the consortium channel's plaintext and a private channel's decrypted content read alike.

    post      {"title": "…", "body": "…"}
    document  {"name": "paper.pdf", "type": "application/pdf", "size": 12345,
               "sha256": "0x…" (of the plaintext), "location": "http://…" (anchored only:
               the author's node API that keeps the bytes)}
"""

from __future__ import annotations

import json
from typing import Any


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def post_content(title: str, body: str) -> bytes:
    return _dumps({"title": title, "body": body})


def parse_post(raw: bytes) -> dict[str, str]:
    """{"title", "body"}; content that is not this JSON (another client's) reads as a body."""
    text = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("body"), str):
        title = value.get("title")
        return {"title": title if isinstance(title, str) else "", "body": value["body"]}
    return {"title": "", "body": text}


def document_meta(name: str, media_type: str, size: int, sha256: str,
                  location: str | None = None) -> bytes:
    meta: dict[str, Any] = {"name": name, "type": media_type, "size": size, "sha256": sha256}
    if location:
        meta["location"] = location
    return _dumps(meta)


def parse_meta(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"name": "", "raw": raw.hex()}


__all__ = ["document_meta", "parse_meta", "parse_post", "post_content"]
