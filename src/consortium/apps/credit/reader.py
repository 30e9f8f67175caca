"""Reads of the Credit contract as JSON-ready dicts (the records' `to_json`), the same for
the client, the API and the CLI. Lists answer objects in id order; a history is an object's
transitions, oldest first: {"block", "txHash", "actor", "from", "to", "reason"}."""

from __future__ import annotations

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


record_json, consent_json = json_of(CreditRecord), json_of(ConsentRecord)
query_json, entry_json = json_of(QueryRecord), json_of(BlacklistEntry)


class CreditReader(ServiceReader):
    address, calls, histories = CREDIT_ADDRESS, CALLS, HISTORY_EVENTS

    def consent(self, consent_id: int) -> dict[str, Any] | None:
        return self._one("consent", consent_id, consent_json)

    def consents(self, *, subject: str | None = None,
                 grantee: str | None = None) -> list[dict[str, Any]]:
        ids = self._matching("consentCount", {"consentsBySubject": subject,
                                              "consentsByGrantee": grantee})
        return self._many("consentsOf", ids, consent_json)

    def record(self, record_id: int) -> dict[str, Any] | None:
        return self._one("record", record_id, record_json)

    def records(self, *, subject: str | None = None,
                reporter: str | None = None) -> list[dict[str, Any]]:
        ids = self._matching("recordCount", {"recordsBySubject": subject,
                                             "recordsByReporter": reporter})
        return self._many("recordsOf", ids, record_json)

    def corrections(self, record_id: int) -> list[dict[str, Any]]:
        """A record and every correction of it, oldest first (its chain of links)."""
        found = self.record(record_id)
        if found is None:
            return []
        while found["supersedes"]:
            found = record_json(self._read("record", found["supersedes"]))
        chain = [found]
        while chain[-1]["supersededBy"]:
            chain.append(record_json(self._read("record", chain[-1]["supersededBy"])))
        return chain

    def query(self, query_id: int) -> dict[str, Any] | None:
        return self._one("query", query_id, query_json)

    def queries(self, *, subject: str | None = None, lender: str | None = None,
                agency: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        self._check(state, QUERY_STATES, "query state")
        ids = self._matching("queryCount", {
            "queriesBySubject": subject, "queriesByLender": lender, "queriesByAgency": agency,
            "queriesByState": state})
        return self._many("queriesOf", ids, query_json)

    def blacklist(self) -> list[dict[str, Any]]:
        return [entry_json(t) for t in self._read("blacklist")]

    def blacklist_entry(self, subject: str) -> dict[str, Any] | None:
        subject = account_hex(subject)
        if not self._read("isBlacklisted", subject):
            return None
        return entry_json(self._read("blacklistEntry", subject))

    def consent_detail(self, consent_id: int) -> dict[str, Any] | None:
        return self._detail("consent", self.consent(consent_id), consent_id)

    def record_detail(self, record_id: int) -> dict[str, Any] | None:
        found = self.record(record_id)
        if found is not None:
            found["corrections"] = self.corrections(record_id)
        return self._detail("record", found, record_id)

    def query_detail(self, query_id: int) -> dict[str, Any] | None:
        return self._detail("query", self.query(query_id), query_id)

    def _detail(self, kind: str, found: dict[str, Any] | None,
                object_id: int) -> dict[str, Any] | None:
        if found is not None:
            found["history"] = self.history(kind, object_id)
        return found


__all__ = ["CALLS", "CreditReader", "encode_call"]
