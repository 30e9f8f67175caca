"""Credit information sharing's surface (`consortium.apps.surface`): its reads, served as the
`consortium_credit*` JSON-RPC methods, the /api/v1/credit REST routes and their OpenAPI
paths. One consent, record or query comes with its history (a record also with its chain
of corrections); every filter key is optional and all given must match; a subject's query
filter lists every query about it."""

from __future__ import annotations

from typing import Any

from consortium.apps.credit.model import QUERY_STATES
from consortium.apps.credit.reader import CreditReader
from consortium.apps.surface import ACCOUNT, ID, Param, Read, Service, choice


class CreditDetails(CreditReader):
    """The reader the API serves: one object with its history (and a record's corrections)."""

    def _with_history(self, kind: str, found: dict[str, Any] | None,
                      object_id: int) -> dict[str, Any] | None:
        if found is not None:
            found["history"] = self.history(kind, object_id)
        return found

    def consent_detail(self, consent_id: int) -> dict[str, Any] | None:
        return self._with_history("consent", self.consent(consent_id), consent_id)

    def record_detail(self, record_id: int) -> dict[str, Any] | None:
        found = self.record(record_id)
        if found is not None:
            found["corrections"] = self.corrections(record_id)
        return self._with_history("record", found, record_id)

    def query_detail(self, query_id: int) -> dict[str, Any] | None:
        return self._with_history("query", self.query(query_id), query_id)


def _accounts(*names: str) -> tuple[Param, ...]:
    return tuple(Param(name, ACCOUNT, f"the {name}'s account") for name in names)


ONE = (Param("id", ID),)

CREDIT = Service(
    name="credit",
    title="Credit information sharing",
    reader=CreditDetails,
    reads=(
        Read("consents", "Consents matching every filter given", rpc="consortium_creditConsents",
             rest="/consents", filters=_accounts("subject", "grantee")),
        Read("consent_detail", "One consent with its history", rpc="consortium_creditConsent",
             rest="/consents/{id}", params=ONE, nullable=True, noun="consent"),
        Read("records", "Credit records matching every filter given",
             rpc="consortium_creditRecords", rest="/records",
             filters=_accounts("subject", "reporter")),
        Read("record_detail", "One credit record with its corrections and history",
             rpc="consortium_creditRecord", rest="/records/{id}", params=ONE, nullable=True,
             noun="credit record"),
        Read("queries",
             "Query orders matching every filter given (a subject's: every query about it)",
             rpc="consortium_creditQueries", rest="/queries", filters=(
                 *_accounts("subject", "lender", "agency"),
                 Param("state", choice(QUERY_STATES), "the query state"))),
        Read("query_detail", "One query order with its history", rpc="consortium_creditQuery",
             rest="/queries/{id}", params=ONE, nullable=True, noun="query"),
        Read("blacklist", "Blacklisted subjects with the reporting member and reason",
             rpc="consortium_creditBlacklist", rest="/blacklist"),
    ),
)
