"""Plain JSON-RPC over HTTP for the fault suite: one call, a batch, and the status of a
transaction hash as a client would learn it (receipt, rejection record, or nothing)."""

from __future__ import annotations

from typing import Any

import httpx

TIMEOUT = 30.0


def call(url: str, method: str, *params: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The whole answer object (result or error) of one call."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer: dict[str, Any] = httpx.post(url, json=body, timeout=timeout).json()
    return answer


def result(url: str, method: str, *params: Any, timeout: float = TIMEOUT) -> Any:
    answer = call(url, method, *params, timeout=timeout)
    assert "error" not in answer, f"{method}: {answer['error']}"
    return answer["result"]


def batch(url: str, calls: list[tuple[str, list[Any]]], timeout: float = TIMEOUT) -> list[Any]:
    """The answers of a batch, in request order (matched by id)."""
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    answers = httpx.post(url, json=body, timeout=timeout).json()
    if isinstance(answers, dict):  # the whole batch refused
        raise RuntimeError(f"batch refused: {answers.get('error')}")
    by_id = {a.get("id"): a for a in answers}
    return [by_id.get(i, {"error": {"message": "no answer"}}) for i in range(len(calls))]


# What became of an accepted transaction, as `consortium_getTransactionStatus` names it.
COMMITTED, REJECTED, PENDING, QUEUED, UNKNOWN = (
    "committed", "rejected", "pending", "queued", "unknown")


def statuses(url: str, hashes: list[str], chunk: int = 200) -> dict[str, tuple[str, str]]:
    """hash -> (status, reason) for each hash: `committed` when a receipt exists, else what
    `consortium_getTransactionStatus` answers (`unknown` while the node lacks that method)."""
    out: dict[str, tuple[str, str]] = {}
    for i in range(0, len(hashes), chunk):
        part = hashes[i : i + chunk]
        receipts = batch(url, [("eth_getTransactionReceipt", [h]) for h in part], timeout=60)
        open_ = [h for h, r in zip(part, receipts, strict=True) if not r.get("result")]
        out.update({h: (COMMITTED, "") for h in part if h not in open_})
        if not open_:
            continue
        asked = batch(url, [("consortium_getTransactionStatus", [h]) for h in open_], timeout=60)
        for h, answer in zip(open_, asked, strict=True):
            out[h] = _status(answer)
    return out


def _status(answer: dict[str, Any]) -> tuple[str, str]:
    res = answer.get("result")
    if isinstance(res, dict):
        return str(res.get("status", UNKNOWN)), str(res.get("reason") or res.get("error") or "")
    if isinstance(res, str):
        return res, ""
    return UNKNOWN, ""
