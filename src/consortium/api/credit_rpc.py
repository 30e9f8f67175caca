"""Credit information sharing's JSON-RPC methods, read straight from the Credit contract
(eth_call on the ledger, histories from its log index), in the shapes of
`consortium.apps.credit.reader`.

    consortium_creditConsent(id)          one consent with its history, or null
    consortium_creditConsents([filter])   {"subject", "grantee"}
    consortium_creditRecord(id)           one record with its chain of corrections and
                                          history, or null
    consortium_creditRecords([filter])    {"subject", "reporter"}
    consortium_creditQuery(id)            one query order with its history, or null
    consortium_creditQueries([filter])    {"subject", "lender", "agency", "state"}: a
                                          subject's filter lists every query about it
    consortium_creditBlacklist()          the blacklist: subject, reporting member, reason

Every filter key is optional; all given must match. `JsonRpc` inherits these handlers;
registering them in `APPS_METHODS` gives them the ledger worker thread like other reads.
"""

from __future__ import annotations

from typing import Any

from consortium.api.apps_rpc import apps_rpc
from consortium.api.encoding import Params
from consortium.api.service_reads import filter_object, ledger_call, ledger_logs, object_id
from consortium.apps.credit.model import QUERY_STATES
from consortium.apps.credit.reader import CreditReader
from consortium.ledger.types import LedgerReader


def credit_reader(ledger: LedgerReader) -> CreditReader:
    return CreditReader(ledger_call(ledger), ledger_logs(ledger))


def consent_filter(value: Any, where: str) -> dict[str, Any]:
    return filter_object(value, where, ("subject", "grantee"))


def record_filter(value: Any, where: str) -> dict[str, Any]:
    return filter_object(value, where, ("subject", "reporter"))


def query_filter(value: Any, where: str) -> dict[str, Any]:
    return filter_object(value, where, ("subject", "lender", "agency"), QUERY_STATES)


def consent_detail(reader: CreditReader, consent_id: int) -> dict[str, Any] | None:
    found = reader.consent(consent_id)
    if found is not None:
        found["history"] = reader.history("consent", consent_id)
    return found


def record_detail(reader: CreditReader, record_id: int) -> dict[str, Any] | None:
    found = reader.record(record_id)
    if found is not None:
        found["corrections"] = reader.corrections(record_id)
        found["history"] = reader.history("record", record_id)
    return found


def query_detail(reader: CreditReader, query_id: int) -> dict[str, Any] | None:
    found = reader.query(query_id)
    if found is not None:
        found["history"] = reader.history("query", query_id)
    return found


class CreditMethods:
    """Credit's handlers (mixed into `JsonRpc`, which sets `ledger`)."""

    ledger: LedgerReader

    @apps_rpc("consortium_creditConsent")
    def consortium_credit_consent(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return consent_detail(credit_reader(self.ledger), p.required(0, object_id))

    @apps_rpc("consortium_creditConsents")
    def consortium_credit_consents(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return credit_reader(self.ledger).consents(**p.optional(0, consent_filter, {}))

    @apps_rpc("consortium_creditRecord")
    def consortium_credit_record(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return record_detail(credit_reader(self.ledger), p.required(0, object_id))

    @apps_rpc("consortium_creditRecords")
    def consortium_credit_records(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return credit_reader(self.ledger).records(**p.optional(0, record_filter, {}))

    @apps_rpc("consortium_creditQuery")
    def consortium_credit_query(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return query_detail(credit_reader(self.ledger), p.required(0, object_id))

    @apps_rpc("consortium_creditQueries")
    def consortium_credit_queries(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return credit_reader(self.ledger).queries(**p.optional(0, query_filter, {}))

    @apps_rpc("consortium_creditBlacklist")
    def consortium_credit_blacklist(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return credit_reader(self.ledger).blacklist()
