"""Reads of the Credit contract as JSON-ready dicts, the same for the client, the API and
the CLI; lists in id order."""

from __future__ import annotations

from functools import partialmethod
from typing import Any

from consortium.apps.credit.contract import Credit
from consortium.apps.credit.model import CREDIT_ADDRESS, QUERY_STATES
from consortium.apps.credit.state import BlacklistEntry, ConsentRecord, CreditRecord, QueryRecord
from consortium.apps.service import ServiceReader, matching, one
from consortium.apps.surface import account_hex, json_of
from consortium.evm.native import NativeCalls

CALLS = NativeCalls(Credit)
HISTORY_EVENTS = {"consent": Credit.ConsentTransition, "record": Credit.RecordTransition,
                  "query": Credit.QueryTransition, "blacklist": Credit.BlacklistTransition}


SHAPES = {"consent": json_of(ConsentRecord), "record": json_of(CreditRecord),
          "query": json_of(QueryRecord)}
entry_json = json_of(BlacklistEntry)


class CreditReader(ServiceReader):
    address, calls, histories = CREDIT_ADDRESS, CALLS, HISTORY_EVENTS

    consent, record, query = (one(kind, SHAPES[kind]) for kind in ("consent", "record", "query"))
    consents = matching("consentCount", "consentsOf", SHAPES["consent"],
                        subject="consentsBySubject", grantee="consentsByGrantee")
    records = matching("recordCount", "recordsOf", SHAPES["record"],
                       subject="recordsBySubject", reporter="recordsByReporter")
    queries = matching("queryCount", "queriesOf", SHAPES["query"], (QUERY_STATES, "query state"),
                       subject="queriesBySubject", lender="queriesByLender",
                       agency="queriesByAgency", state="queriesByState")

    def _detail(self, kind: str, object_id: int) -> dict[str, Any] | None:
        """One object of `kind` with its history (a record with its corrections first), or
        None."""
        found: dict[str, Any] | None = getattr(self, kind)(object_id)
        if found is not None:
            if kind == "record":
                found["corrections"] = self.corrections(object_id)
            found["history"] = self.history(kind, object_id)
        return found

    consent_detail = partialmethod(_detail, "consent")
    record_detail = partialmethod(_detail, "record")
    query_detail = partialmethod(_detail, "query")

    def corrections(self, record_id: int) -> list[dict[str, Any]]:
        """A record and every correction of it, oldest first (its chain of links)."""
        found = self.record(record_id)
        if found is None:
            return []
        while found["supersedes"]:
            found = SHAPES["record"](self._read("record", found["supersedes"]))
        chain = [found]
        while chain[-1]["supersededBy"]:
            chain.append(SHAPES["record"](self._read("record", chain[-1]["supersededBy"])))
        return chain

    def blacklist(self) -> list[dict[str, Any]]:
        return [entry_json(t) for t in self._read("blacklist")]

    def blacklist_entry(self, subject: str) -> dict[str, Any] | None:
        subject = account_hex(subject)
        if not self._read("isBlacklisted", subject):
            return None
        return entry_json(self._read("blacklistEntry", subject))


__all__ = ["CALLS", "CreditReader"]
