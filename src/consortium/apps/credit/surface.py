"""Credit's surface: its reads (one object with its history) and plain writes. Granting a
consent and the report checks are the client's own flows."""

from __future__ import annotations

from dataclasses import replace

from consortium.apps import surface as kinds
from consortium.apps.credit.model import QUERY_STATES, RECORD_KINDS, record_kind
from consortium.apps.credit.reader import CreditReader
from consortium.apps.surface import REASON, Param, Read, Service, Write

# a kind as typed ("Loan opened"); one the contract does not know reaches it, which names them
RECORD_KIND = kinds.Kind("record kind", record_kind, "expected a record kind",
                         {"type": "string", "enum": list(RECORD_KINDS)})


def _accounts(*names: str) -> tuple[Param, ...]:
    return tuple(Param(name, kinds.ACCOUNT, f"the {name}'s account") for name in names)


ONE = (Param("id", kinds.ID),)
QUERY = Param("query_id", kinds.ID, "The id (a number).")
RECORD = Param("record", kinds.DOCUMENT, "The record document (hashed here) or its 0x SHA-256.")

CREDIT = Service("credit", "Credit information sharing", CreditReader, reads=(
        Read("consents", "Consents matching every filter given", rpc="consortium_creditConsents",
             rest="/consents", filters=(*_accounts("subject", "grantee"), *kinds.PAGE),
             cli="consents"),
        Read("consent_detail", "One consent with its history", rpc="consortium_creditConsent",
             rest="/consents/{id}", params=ONE, nullable=True, noun="consent"),
        Read("records", "Credit records matching every filter given",
             rpc="consortium_creditRecords", rest="/records",
             filters=(*_accounts("subject", "reporter"), *kinds.PAGE), cli="records"),
        Read("record_detail", "One credit record with its corrections and history",
             rpc="consortium_creditRecord", rest="/records/{id}", params=ONE, nullable=True,
             noun="credit record", cli="record"),
        Read("queries",
             "Query orders matching every filter given (a subject's: every query about it)",
             rpc="consortium_creditQueries", rest="/queries", cli="queries", filters=(
                 *_accounts("subject", "lender", "agency"),
                 # the CLI hands the client its text: an unknown state is named with the list
                 Param("state", kinds.choice(QUERY_STATES), "the query state",
                       cli_kind=kinds.TEXT), *kinds.PAGE)),
        Read("query_detail", "One query order with its history", rpc="consortium_creditQuery",
             rest="/queries/{id}", params=ONE, nullable=True, noun="query", cli="query"),
        Read("blacklist", "Blacklisted subjects with the reporting member and reason",
             rpc="consortium_creditBlacklist", rest="/blacklist", cli="blacklist"),
    ),
    writes=(
        Write("revoke-consent", "revokeConsent", "The subject revokes a consent that is still "
              "live.", "revoke_consent",
              (Param("consent_id", kinds.ID, QUERY.doc), replace(REASON, default="")),
              "revoked"),
        Write("report", "report", "A lender reports a credit record (its hash; the record "
              "stays off chain).", "report",
              (Param("subject", kinds.ACCOUNT, "The borrower: account or member.",
                     flag="--subject"),
               Param("kind", RECORD_KIND, "loan_opened, repaid, overdue or default."), RECORD),
              "reported"),
        Write("correct", "correct", "Its reporter corrects a record: a new record linked to "
              "the original (kept).", "correct",
              (Param("original", kinds.ID, "The record to correct."),
               Param("kind", RECORD_KIND, "The corrected kind."), RECORD, REASON), "corrected"),
        Write("order", "createQuery", "A lender orders a credit report from an agency, under a "
              "live consent.", "create_query",
              (Param("agency", kinds.ACCOUNT, "A licensed credit agency.", flag="--agency"),
               Param("consent_id", kinds.ID, "The subject's consent id.", flag="--consent"),
               Param("purpose", kinds.TEXT, "As the consent states it.")), "ordered"),
        Write("accept", "acceptQuery", "The agency accepts a query order.", "accept", (QUERY,),
              "accepted"),
        Write("reject", "rejectQuery", "The agency rejects a query order.", "reject",
              (QUERY, REASON), "rejected"),
        Write("deliver", "deliverReport", "The agency delivers a report: its SHA-256 on chain, "
              "the file off chain.", "deliver",
              (QUERY, Param("report", kinds.DOCUMENT, "The report file (hashed here) or 0x hash.",
                            positional=True),
               Param("location", kinds.TEXT, "Where the lender fetches it (URL or file).",
                     default="")), "delivered"),
        Write("confirm", "confirmReport", "The lender confirms the delivered report.", "confirm",
              (QUERY,), "confirmed"),
        Write("dispute", "disputeReport", "The lender disputes the delivered report.", "dispute",
              (QUERY, REASON), "disputed"),
        Write("resolve", "resolveDispute", "A mediator resolves a disputed query.", "resolve",
              (QUERY, Param("resolution", kinds.TEXT, "The mediator's ruling.")), "resolved"),
        Write("blacklist-add", "blacklistSubject", "A lender blacklists the subject of its own "
              "default record.", "blacklist_subject",
              (Param("record_id", kinds.ID, "The lender's default record."), REASON),
              "blacklisted"),
        Write("unlist", "unlistSubject", "The reporting lender removes a subject from the "
              "blacklist.", "unlist_subject",
              (Param("subject", kinds.ACCOUNT, "Account or member name."), REASON), "removed"),
        Write("propose-unlist", "unlistSubject", "Propose removing a subject from the "
              "blacklist by vote (members then vote).", "propose_unlist",
              (Param("subject", kinds.ACCOUNT, "Account or member name."), REASON), propose=True),
    ),
)
