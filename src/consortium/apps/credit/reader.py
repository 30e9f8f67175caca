"""Reads of the Credit contract as JSON-ready dicts, the same for the client, the API and
the CLI; lists in id order."""

from __future__ import annotations

from functools import partialmethod
from typing import Any

from consortium.apps.credit.contract import Credit
from consortium.apps.credit.model import CREDIT_ADDRESS, QUERY_STATES
from consortium.apps.credit.state import BlacklistEntry, ConsentRecord, CreditRecord, QueryRecord
from consortium.apps.service import ServiceReader
from consortium.apps.surface import account_hex, json_of
from consortium.evm.native import NativeCalls

CALLS = NativeCalls(Credit)
encode_call = CALLS.encode
HISTORY_EVENTS = {"consent": Credit.ConsentTransition, "record": Credit.RecordTransition,
                  "query": Credit.QueryTransition, "blacklist": Credit.BlacklistTransition}


SHAPES = {"consent": json_of(ConsentRecord), "record": json_of(CreditRecord),
          "query": json_of(QueryRecord)}
entry_json = json_of(BlacklistEntry)


class CreditReader(ServiceReader):
    address, calls, histories = CREDIT_ADDRESS, CALLS, HISTORY_EVENTS

    def _get(self, kind: str, object_id: int) -> dict[str, Any] | None:
        return self._one(kind, object_id, SHAPES[kind])

    def _detail(self, kind: str, object_id: int) -> dict[str, Any] | None:
        """One object with its history (a record with its corrections first)."""
        found = self._get(kind, object_id)
        if found is not None:
            if kind == "record":
                found["corrections"] = self.corrections(object_id)
            found["history"] = self.history(kind, object_id)
        return found

    consent, consent_detail = partialmethod(_get, "consent"), partialmethod(_detail, "consent")
    record, record_detail = partialmethod(_get, "record"), partialmethod(_detail, "record")
    query, query_detail = partialmethod(_get, "query"), partialmethod(_detail, "query")

    def consents(self, *, subject: str | None = None,
                 grantee: str | None = None) -> list[dict[str, Any]]:
        ids = self._matching("consentCount", {"consentsBySubject": subject,
                                              "consentsByGrantee": grantee})
        return self._many("consentsOf", ids, SHAPES["consent"])

    def records(self, *, subject: str | None = None,
                reporter: str | None = None) -> list[dict[str, Any]]:
        ids = self._matching("recordCount", {"recordsBySubject": subject,
                                             "recordsByReporter": reporter})
        return self._many("recordsOf", ids, SHAPES["record"])

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

    def queries(self, *, subject: str | None = None, lender: str | None = None,
                agency: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        self._check(state, QUERY_STATES, "query state")
        ids = self._matching("queryCount", {
            "queriesBySubject": subject, "queriesByLender": lender, "queriesByAgency": agency,
            "queriesByState": state})
        return self._many("queriesOf", ids, SHAPES["query"])

    def blacklist(self) -> list[dict[str, Any]]:
        return [entry_json(t) for t in self._read("blacklist")]

    def blacklist_entry(self, subject: str) -> dict[str, Any] | None:
        subject = account_hex(subject)
        if not self._read("isBlacklisted", subject):
            return None
        return entry_json(self._read("blacklistEntry", subject))


__all__ = ["CALLS", "CreditReader", "encode_call"]
