"""`CreditClient`: credit information sharing over a node's JSON-RPC. Reports stay off chain:
`verify_report` and `download_report` check a received file against the SHA-256 on chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from consortium.apps.credit.contract import Credit
from consortium.apps.credit.reader import CreditReader
from consortium.apps.credit.surface import CREDIT
from consortium.apps.forum.blobs import read_source, write_whole
from consortium.apps.service_client import ServiceClient
from consortium.apps.surface import AMOUNT, HEIGHT, account_hex, sha256_of, with_writes
from consortium.errors import ConsortiumError, NetworkError, known

MAX_REPORT_BYTES = 256 * 1024 * 1024  # a downloaded report is read at most this far


class ReportMismatch(ConsortiumError):
    """A report file's SHA-256 differs from the hash its agency delivered on chain: the file
    is not the report that was delivered (altered, truncated or another one). `result` is
    the check ({"query", "expected", "actual", "match": False, "location"})."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


@with_writes(CREDIT)
class CreditClient(ServiceClient):
    """The Credit contract through one node's API; its plain writes come from its declared
    surface (apps/credit/surface.py)."""

    reader = CreditReader
    reads = ("consent", "consents", "record", "records", "corrections", "query", "queries",
             "blacklist", "blacklist_entry", "history")
    read: CreditReader

    def object_id(self, kind: str, topic: bytes) -> int | str:
        return "0x" + topic[12:].hex() if kind == "blacklist" else int.from_bytes(topic, "big")

    def grant_consent(self, subject: LocalAccount, grantee: str, purpose: str, *,
                      expires_at: int, max_uses: int = 1) -> dict[str, Any]:
        """The subject lets `grantee` (a lender) query its credit for `purpose` until block
        `expires_at`, for `max_uses` queries (one by default)."""
        return self.transact(subject, "grantConsent", account_hex(grantee), purpose,
                             HEIGHT.parse(expires_at, "expires_at"),
                             AMOUNT.parse(max_uses, "max_uses"))

    def verify_report(self, query_id: int, report: str | Path | bytes) -> dict[str, Any]:
        """Check a received report (a file, or its bytes) against the hash its agency
        delivered on chain: {"query", "expected", "actual", "match"}."""
        q = self._query(query_id)
        expected = known(q["reportHash"], f"query {query_id} is {q['state']}: no report was "
                                          "delivered yet")
        actual = "0x" + sha256_of(report).hex()
        return {"query": q["id"], "expected": expected, "actual": actual,
                "match": actual == expected, "location": q["location"]}

    def download_report(self, query_id: int, dest: str | Path,
                        source: str | None = None) -> dict[str, Any]:
        """Fetch a delivered report (from `source`, else the location on chain: an http(s)
        URL or a file), check it against the hash on chain and only then write it to `dest`
        (through a temporary file beside it, moved into place). Raises ReportMismatch when
        they differ: nothing is written and a file already at `dest` is left as it was."""
        where = known(source or self._query(query_id)["location"] or None,
                      f"query {query_id} names no report location: give the source")
        data = _fetch(where)
        result = self.verify_report(query_id, data)
        if not result["match"]:
            raise ReportMismatch(
                f"REPORT MISMATCH for query {query_id}: {where} has SHA-256 {result['actual']}, "
                f"but the agency delivered {result['expected']} on chain — this is not the "
                f"delivered report (nothing written to {dest})", result)
        write_whole(Path(dest), data)
        result["file"] = str(dest)
        return result

    def _query(self, query_id: int) -> dict[str, Any]:
        return known(self.read.query(int(query_id)), f"no query {query_id}")


def _fetch(where: str) -> bytes:
    if where.startswith(("http://", "https://")):
        import httpx

        try:
            with httpx.stream("GET", where, timeout=60, follow_redirects=True) as r:
                r.raise_for_status()
                data = b""
                for chunk in r.iter_bytes():
                    data += chunk
                    if len(data) > MAX_REPORT_BYTES:
                        raise NetworkError(f"{where} is larger than {MAX_REPORT_BYTES} bytes")
                return data
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot download {where}: {exc}") from None
    return read_source(Path(where.removeprefix("file://")))[0]


__all__ = ["Credit", "CreditClient", "ReportMismatch", "sha256_of"]
