"""Reads of the Credit contract as plain JSON-ready dicts, over any way of making an eth_call
(and, for histories, of reading logs): the typed client (web3 over HTTP), the node's API
(`consortium_credit*` JSON-RPC and REST, straight on the ledger) and the CLI tables all answer
the same shapes.

    consent  {"id": 1, "subject": "0x…", "grantee": "0x…", "purpose": "mortgage",
              "expiresAt": 900, "maxUses": 1, "uses": 0, "state": "granted",
              "createdAt": 12, "updatedAt": 12}
    record   {"id": 3, "reporter": "0x…", "subject": "0x…", "kind": "default",
              "recordHash": "0x…", "supersedes": 0, "supersededBy": 4, "height": 20,
              "state": "superseded"}
    query    {"id": 2, "lender": "0x…", "agency": "0x…", "consent": 1, "subject": "0x…",
              "purpose": "mortgage", "state": "delivered", "reportHash": "0x…" | null,
              "location": "https://…", "createdAt": 13, "updatedAt": 15}
    entry    {"subject": "0x…", "reporter": "0x…", "record": 3, "reason": "…", "height": 21}

Lists answer objects in id order. `history(kind, id)` answers an object's transitions, oldest
first: {"block", "txHash", "actor", "from", "to", "reason"}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consortium.apps.credit.contract import Credit
from consortium.apps.credit.model import CREDIT_ADDRESS, MAX_BATCH_READ, QUERY_STATES
from consortium.apps.credit.state import BlacklistEntry, ConsentRecord, CreditRecord, QueryRecord
from consortium.apps.service import LogSource, transition_history
from consortium.evm.native import EventSpec, NativeCalls

# (to, calldata) -> return data; raises the caller's error when the call reverts
Call = Callable[[bytes, bytes], bytes]

CALLS = NativeCalls(Credit)
encode_call = CALLS.encode
decode_result = CALLS.decode
HISTORY_EVENTS: dict[str, EventSpec] = {
    "consent": Credit.ConsentTransition,
    "record": Credit.RecordTransition,
    "query": Credit.QueryTransition,
    "blacklist": Credit.BlacklistTransition,
}
QUERY_FILTERS = ("subject", "lender", "agency", "state")


def consent_json(t: Any) -> dict[str, Any]:
    return ConsentRecord.from_abi(t).to_json()


def record_json(t: Any) -> dict[str, Any]:
    return CreditRecord.from_abi(t).to_json()


def query_json(t: Any) -> dict[str, Any]:
    return QueryRecord.from_abi(t).to_json()


def entry_json(t: Any) -> dict[str, Any]:
    return BlacklistEntry.from_abi(t).to_json()


class CreditReader:
    """Typed reads of the Credit contract through `call` (and `logs` for histories)."""

    def __init__(self, call: Call, logs: LogSource | None = None) -> None:
        self._call = call
        self._logs = logs

    def _read(self, name: str, *args: Any) -> Any:
        return decode_result(name, self._call(CREDIT_ADDRESS, encode_call(name, *args)))

    def _many(self, name: str, ids: list[int], shape: Callable[[Any], dict[str, Any]]
              ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), MAX_BATCH_READ):
            out += [shape(t) for t in self._read(name, ids[start:start + MAX_BATCH_READ])]
        return out

    @staticmethod
    def _pick(lists: list[list[int]], count: int) -> list[int]:
        """Ids in every list (all ids 1..count without lists), ascending."""
        if not lists:
            return list(range(1, count + 1))
        common = set(lists[0]).intersection(*lists[1:])
        return sorted(common)

    # --- consents ----------------------------------------------------------------------------

    def consent(self, consent_id: int) -> dict[str, Any] | None:
        if not 1 <= consent_id <= int(self._read("consentCount")):
            return None
        return consent_json(self._read("consent", consent_id))

    def consents(self, *, subject: str | None = None,
                 grantee: str | None = None) -> list[dict[str, Any]]:
        lists = []
        if subject is not None:
            lists.append(list(self._read("consentsBySubject", subject.lower())))
        if grantee is not None:
            lists.append(list(self._read("consentsByGrantee", grantee.lower())))
        count = int(self._read("consentCount")) if not lists else 0
        return self._many("consentsOf", self._pick(lists, count), consent_json)

    # --- records -----------------------------------------------------------------------------

    def record(self, record_id: int) -> dict[str, Any] | None:
        if not 1 <= record_id <= int(self._read("recordCount")):
            return None
        return record_json(self._read("record", record_id))

    def records(self, *, subject: str | None = None,
                reporter: str | None = None) -> list[dict[str, Any]]:
        lists = []
        if subject is not None:
            lists.append(list(self._read("recordsBySubject", subject.lower())))
        if reporter is not None:
            lists.append(list(self._read("recordsByReporter", reporter.lower())))
        count = int(self._read("recordCount")) if not lists else 0
        return self._many("recordsOf", self._pick(lists, count), record_json)

    def corrections(self, record_id: int) -> list[dict[str, Any]]:
        """A record and every correction of it, oldest first (the chain of links from the
        original to the current version)."""
        found = self.record(record_id)
        if found is None:
            return []
        while found["supersedes"]:
            found = record_json(self._read("record", found["supersedes"]))
        chain = [found]
        while chain[-1]["supersededBy"]:
            chain.append(record_json(self._read("record", chain[-1]["supersededBy"])))
        return chain

    # --- queries -----------------------------------------------------------------------------

    def query(self, query_id: int) -> dict[str, Any] | None:
        if not 1 <= query_id <= int(self._read("queryCount")):
            return None
        return query_json(self._read("query", query_id))

    def queries(self, *, subject: str | None = None, lender: str | None = None,
                agency: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        if state is not None and state not in QUERY_STATES:
            raise ValueError(f"unknown query state {state!r} (states: {', '.join(QUERY_STATES)})")
        lists = []
        if subject is not None:
            lists.append(list(self._read("queriesBySubject", subject.lower())))
        if lender is not None:
            lists.append(list(self._read("queriesByLender", lender.lower())))
        if agency is not None:
            lists.append(list(self._read("queriesByAgency", agency.lower())))
        if state is not None:
            lists.append(list(self._read("queriesByState", state)))
        count = int(self._read("queryCount")) if not lists else 0
        return self._many("queriesOf", self._pick(lists, count), query_json)

    # --- the blacklist -----------------------------------------------------------------------

    def blacklist(self) -> list[dict[str, Any]]:
        return [entry_json(t) for t in self._read("blacklist")]

    def blacklist_entry(self, subject: str) -> dict[str, Any] | None:
        if not self._read("isBlacklisted", subject.lower()):
            return None
        return entry_json(self._read("blacklistEntry", subject.lower()))

    # --- histories ---------------------------------------------------------------------------

    def history(self, kind: str, object_id: int | str) -> list[dict[str, Any]]:
        """The transitions of a consent, record or query (by id) or of a subject's blacklist
        entry (by address), oldest first."""
        if self._logs is None:
            raise ValueError("this reader has no log source for histories")
        spec = HISTORY_EVENTS[kind]
        key = bytes.fromhex(object_id[2:]) if isinstance(object_id, str) else object_id
        return transition_history(self._logs, CREDIT_ADDRESS, spec, key)


__all__ = [
    "CALLS",
    "CreditReader",
    "consent_json",
    "decode_result",
    "encode_call",
    "entry_json",
    "query_json",
    "record_json",
]
