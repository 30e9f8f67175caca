"""`CreditClient`: credit information sharing from Python, over a node's JSON-RPC.

Reads are eth_calls to the Credit contract (0x…2002) and answer the dicts of
`consortium.apps.credit.reader`. Writes check first (a refusal raises `ExecutionReverted`
with the contract's reason, and nothing is sent), send, wait and answer what happened
(`consortium.apps.service_client`):

    credit = CreditClient("http://127.0.0.1:8545")
    consent = credit.grant_consent(borrower, bank_a.address, "mortgage", expires_at=5_000)
    query = credit.create_query(bank_a, agency.address, consent["id"], "mortgage")
    credit.accept(agency, query["id"])
    credit.deliver(agency, query["id"], report_file, location="https://agency.example/r/7")
    credit.verify_report(query["id"], downloaded_file)     # {"match": True, …}
    credit.queries(subject=borrower.address)               # who asked about me, and why

Report contents never leave the agency and the lender: `deliver` sends only the report's
SHA-256 (and where to fetch it); `verify_report` / `download_report` check a received file
against the hash on chain and flag a mismatch (`ReportMismatch`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from consortium.apps.credit.contract import Credit
from consortium.apps.credit.model import CREDIT_ADDRESS, record_kind
from consortium.apps.credit.reader import CALLS, HISTORY_EVENTS, CreditReader
from consortium.apps.service_client import ServiceClient, account_hex, hash_bytes
from consortium.errors import ConfigError, ConsortiumError, NetworkError
from consortium.sdk.client import ConsortiumClient

MAX_REPORT_BYTES = 256 * 1024 * 1024  # a downloaded report is read at most this far


class ReportMismatch(ConsortiumError):
    """A report file's SHA-256 differs from the hash its agency delivered on chain: the file
    is not the report that was delivered (altered, truncated or another one). `result` is
    the check ({"query", "expected", "actual", "match": False, "location"})."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


def sha256_of(source: str | Path | bytes) -> bytes:
    """The SHA-256 of a file (path) or of bytes."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).digest()
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc}") from None
    return digest.digest()


def _hash_arg(value: str | bytes | Path) -> bytes:
    """A record or report hash: 0x + 64 hex digits, or a file (its SHA-256)."""
    if isinstance(value, Path):
        return sha256_of(value)
    if isinstance(value, str) and not value.strip().lower().startswith("0x"):
        return sha256_of(value)
    return hash_bytes(value)


class CreditClient(ServiceClient):
    """The Credit contract through one node's API."""

    address = CREDIT_ADDRESS
    calls = CALLS
    transitions = HISTORY_EVENTS

    def __init__(self, client: ConsortiumClient | str) -> None:
        super().__init__(client)
        self.read = CreditReader(self._call, self._logs)

    def object_id(self, kind: str, topic: bytes) -> int | str:
        return "0x" + topic[12:].hex() if kind == "blacklist" else int.from_bytes(topic, "big")

    # --- reads -------------------------------------------------------------------------------

    def consent(self, consent_id: int) -> dict[str, Any] | None:
        return self.read.consent(consent_id)

    def consents(self, *, subject: str | None = None,
                 grantee: str | None = None) -> list[dict[str, Any]]:
        return self.read.consents(subject=subject, grantee=grantee)

    def record(self, record_id: int) -> dict[str, Any] | None:
        return self.read.record(record_id)

    def records(self, *, subject: str | None = None,
                reporter: str | None = None) -> list[dict[str, Any]]:
        return self.read.records(subject=subject, reporter=reporter)

    def corrections(self, record_id: int) -> list[dict[str, Any]]:
        return self.read.corrections(record_id)

    def query(self, query_id: int) -> dict[str, Any] | None:
        return self.read.query(query_id)

    def queries(self, *, subject: str | None = None, lender: str | None = None,
                agency: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        try:
            return self.read.queries(subject=subject, lender=lender, agency=agency, state=state)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def blacklist(self) -> list[dict[str, Any]]:
        return self.read.blacklist()

    def blacklist_entry(self, subject: str) -> dict[str, Any] | None:
        return self.read.blacklist_entry(account_hex(subject))

    def history(self, kind: str, object_id: int | str) -> list[dict[str, Any]]:
        """Transitions of a "consent", "record" or "query" (id) or of a subject's
        "blacklist" entry (address), oldest first."""
        if kind not in HISTORY_EVENTS:
            raise ConfigError(f"unknown kind {kind!r} (kinds: {', '.join(HISTORY_EVENTS)})")
        return self.read.history(kind, object_id)

    # --- consents ----------------------------------------------------------------------------

    def grant_consent(self, subject: LocalAccount, grantee: str, purpose: str, *,
                      expires_at: int, max_uses: int = 1) -> dict[str, Any]:
        """The subject lets `grantee` (a lender) query its credit for `purpose` until block
        `expires_at`, for `max_uses` queries (one by default)."""
        return self.transact(subject, "grantConsent", account_hex(grantee), purpose,
                             int(expires_at), int(max_uses))

    def revoke_consent(self, subject: LocalAccount, consent_id: int,
                       reason: str = "") -> dict[str, Any]:
        return self.transact(subject, "revokeConsent", int(consent_id), reason)

    # --- credit records ----------------------------------------------------------------------

    def report(self, lender: LocalAccount, subject: str, kind: str,
               record: str | bytes | Path) -> dict[str, Any]:
        """Report a credit record: its kind and hash (0x hex, or a file whose SHA-256 is
        sent; the record itself stays with the lender)."""
        return self.transact(lender, "report", account_hex(subject), record_kind(kind),
                             _hash_arg(record))

    def correct(self, lender: LocalAccount, original: int, kind: str,
                record: str | bytes | Path, reason: str) -> dict[str, Any]:
        """Report a correction of record `original` (which stays readable, linked)."""
        return self.transact(lender, "correct", int(original), record_kind(kind),
                             _hash_arg(record), reason)

    # --- query orders ------------------------------------------------------------------------

    def create_query(self, lender: LocalAccount, agency: str, consent_id: int,
                     purpose: str) -> dict[str, Any]:
        return self.transact(lender, "createQuery", account_hex(agency), int(consent_id),
                             purpose)

    def accept(self, agency: LocalAccount, query_id: int) -> dict[str, Any]:
        return self.transact(agency, "acceptQuery", int(query_id))

    def reject(self, agency: LocalAccount, query_id: int, reason: str) -> dict[str, Any]:
        return self.transact(agency, "rejectQuery", int(query_id), reason)

    def deliver(self, agency: LocalAccount, query_id: int, report: str | bytes | Path,
                location: str = "") -> dict[str, Any]:
        """Deliver a report: only its SHA-256 (of the file, or a 0x hash) and where the
        lender fetches it (`location`, a URL or a file name) reach the chain."""
        return self.transact(agency, "deliverReport", int(query_id), _hash_arg(report),
                             location)

    def confirm(self, lender: LocalAccount, query_id: int) -> dict[str, Any]:
        return self.transact(lender, "confirmReport", int(query_id))

    def dispute(self, lender: LocalAccount, query_id: int, reason: str) -> dict[str, Any]:
        return self.transact(lender, "disputeReport", int(query_id), reason)

    def resolve(self, mediator: LocalAccount, query_id: int, resolution: str) -> dict[str, Any]:
        return self.transact(mediator, "resolveDispute", int(query_id), resolution)

    # --- the lender's check of a delivered report ---------------------------------------------

    def verify_report(self, query_id: int, report: str | Path | bytes) -> dict[str, Any]:
        """Check a received report (a file, or its bytes) against the hash its agency
        delivered on chain: {"query", "expected", "actual", "match"}."""
        q = self.read.query(int(query_id))
        if q is None:
            raise ConfigError(f"no query {query_id}")
        if q["reportHash"] is None:
            raise ConfigError(f"query {query_id} is {q['state']}: no report was delivered yet")
        actual = "0x" + sha256_of(report).hex()
        return {"query": q["id"], "expected": q["reportHash"], "actual": actual,
                "match": actual == q["reportHash"], "location": q["location"]}

    def download_report(self, query_id: int, dest: str | Path,
                        source: str | None = None) -> dict[str, Any]:
        """Fetch a delivered report (from `source`, else the location on chain: an http(s)
        URL or a file), check it against the hash on chain and only then write it to `dest`
        (through a temporary file beside it, moved into place). Raises ReportMismatch when
        they differ: nothing is written and a file already at `dest` is left as it was."""
        q = self.read.query(int(query_id))
        if q is None:
            raise ConfigError(f"no query {query_id}")
        where = source or q["location"]
        if not where:
            raise ConfigError(f"query {query_id} names no report location: give the source")
        data = _fetch(where)
        result = self.verify_report(query_id, data)
        if not result["match"]:
            raise ReportMismatch(
                f"REPORT MISMATCH for query {query_id}: {where} has SHA-256 {result['actual']}, "
                f"but the agency delivered {result['expected']} on chain — this is not the "
                f"delivered report (nothing written to {dest})", result)
        _write_file(Path(dest), data)
        result["file"] = str(dest)
        return result

    # --- the blacklist -----------------------------------------------------------------------

    def blacklist_subject(self, lender: LocalAccount, record_id: int,
                          reason: str) -> dict[str, Any]:
        """Blacklist the subject of the lender's own current `default` record."""
        return self.transact(lender, "blacklistSubject", int(record_id), reason)

    def unlist_subject(self, reporter: LocalAccount, subject: str,
                       reason: str) -> dict[str, Any]:
        """The reporting lender removes a subject from the blacklist."""
        return self.transact(reporter, "unlistSubject", account_hex(subject), reason)

    def propose_unlist(self, committee: LocalAccount, subject: str,
                       reason: str) -> dict[str, Any]:
        """Propose removing a subject from the blacklist by vote (an app-call proposal)."""
        return self.propose(committee, "unlistSubject", account_hex(subject), reason)


def _write_file(dest: Path, data: bytes) -> None:
    """Write `data` to `dest` whole or not at all: a temporary file beside it, moved into
    place."""
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {dest}: {exc}") from None


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
    path = Path(where.removeprefix("file://"))
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


__all__ = ["Credit", "CreditClient", "ReportMismatch", "sha256_of"]
