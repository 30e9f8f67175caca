"""The Credit contract's state over the EVM storage of 0x…2002 (slots: `CreditState`), so the
state root covers every consent, record and query. A set keeps its count at s, item i at
at(s, i) and item k's position + 1 at at(s + 1, k); a record's fields sit at consecutive
slots from its base. Only hashes, accounts, kinds, purposes and heights are stored: never a
report or a record's contents."""

from __future__ import annotations

from consortium.apps.credit.model import (
    CONSENT_STATES,
    CURRENT,
    EXPIRED,
    QUERY_STATES,
    RECORD_KINDS,
    SUPERSEDED,
)
from consortium.apps.service import StateView
from consortium.evm.field_types import Address, Id, Text, Uint
from consortium.evm.host import Storage
from consortium.evm.records import (
    ADDRESS,
    BYTES32,
    STRING,
    Choice,
    Record,
    WordSet,
    address_word,
    field,
    key,
)

ZERO = b"\x00" * 20


class ConsentRecord(Record):
    """A consent; `state` is the stored one (`state_at` answers it at a height)."""

    id: Id
    subject: Address
    grantee: Address
    purpose: Text
    expires_at: Uint
    max_uses: Uint
    uses: Uint
    state: str = field(Choice(CONSENT_STATES))
    created_at: Uint
    updated_at: Uint

    def state_at(self, height: int) -> str:
        """The consent's state at `height`: a granted consent expires at its expiry height."""
        if self.state == "granted" and height >= self.expires_at:
            return EXPIRED
        return self.state


class CreditRecord(Record):
    """A credit record; `state` (current or superseded) follows from `superseded_by`."""

    id: Id
    reporter: Address
    subject: Address
    kind: str = field(Choice(RECORD_KINDS))
    record_hash: bytes = field(BYTES32, null_if_zero=True)
    supersedes: Uint
    superseded_by: Uint
    height: Uint
    state: str = field(STRING, stored=False)


class QueryRecord(Record):
    id: Id
    lender: Address
    agency: Address
    consent: Uint
    subject: Address
    purpose: Text
    state: str = field(Choice(QUERY_STATES))
    report_hash: bytes = field(BYTES32, null_if_zero=True)
    location: Text
    created_at: Uint
    updated_at: Uint


class BlacklistEntry(Record):
    subject: bytes = key(ADDRESS)
    reporter: Address
    record: Uint
    reason: Text
    height: Uint


class CreditState(StateView):
    CONSENT_COUNT, CONSENTS, CONSENTS_BY_SUBJECT, CONSENTS_BY_GRANTEE = 0, 1, 2, 3
    RECORD_COUNT, RECORDS, RECORDS_BY_SUBJECT, RECORDS_BY_REPORTER = 4, 5, 6, 7
    QUERY_COUNT, QUERIES, QUERIES_BY_SUBJECT, QUERIES_BY_LENDER = 8, 9, 10, 11
    QUERIES_BY_AGENCY, QUERIES_BY_STATE = 12, 13
    BLACKLIST, BLACKLIST_ENTRIES = 14, 16

    def consent(self, consent_id: int) -> ConsentRecord:
        return ConsentRecord.load(self.s, Storage.at(self.CONSENTS, consent_id), id=consent_id)

    def add_consent(self, subject: bytes, grantee: bytes, purpose: str, expires_at: int,
                    max_uses: int, height: int) -> int:
        consent_id = self.next_id(self.CONSENT_COUNT)
        ConsentRecord.put_fields(
            self.s, Storage.at(self.CONSENTS, consent_id), subject=subject, grantee=grantee,
            purpose=purpose, expires_at=expires_at, max_uses=max_uses, state="granted",
            created_at=height, updated_at=height)
        self.index(self.CONSENTS_BY_SUBJECT, subject).add(consent_id)
        self.index(self.CONSENTS_BY_GRANTEE, grantee).add(consent_id)
        return consent_id

    def use_consent(self, consent_id: int, uses: int, state: str, height: int) -> None:
        ConsentRecord.put_fields(self.s, Storage.at(self.CONSENTS, consent_id), uses=uses,
                                 state=state, updated_at=height)

    def record(self, record_id: int) -> CreditRecord:
        r = CreditRecord.load(self.s, Storage.at(self.RECORDS, record_id), id=record_id,
                              state="")
        return r.with_(state=SUPERSEDED if r.superseded_by else CURRENT)

    def add_record(self, reporter: bytes, subject: bytes, kind: str, record_hash: bytes,
                   supersedes: int, height: int) -> int:
        record_id = self.next_id(self.RECORD_COUNT)
        CreditRecord.put_fields(
            self.s, Storage.at(self.RECORDS, record_id), reporter=reporter, subject=subject,
            kind=kind, record_hash=record_hash, supersedes=supersedes, height=height)
        if supersedes:
            CreditRecord.put(self.s, Storage.at(self.RECORDS, supersedes), "superseded_by",
                             record_id)
        self.index(self.RECORDS_BY_SUBJECT, subject).add(record_id)
        self.index(self.RECORDS_BY_REPORTER, reporter).add(record_id)
        return record_id

    def by_state(self, state: str) -> WordSet:
        return self.index(self.QUERIES_BY_STATE, QUERY_STATES.index(state) + 1)

    def query(self, query_id: int) -> QueryRecord:
        return QueryRecord.load(self.s, Storage.at(self.QUERIES, query_id), id=query_id)

    def add_query(self, lender: bytes, agency: bytes, consent: int, subject: bytes,
                  purpose: str, height: int) -> int:
        query_id = self.next_id(self.QUERY_COUNT)
        QueryRecord.put_fields(self.s, Storage.at(self.QUERIES, query_id), lender=lender,
                               agency=agency, consent=consent, subject=subject,
                               purpose=purpose, created_at=height)
        for mapping, party in ((self.QUERIES_BY_SUBJECT, subject),
                               (self.QUERIES_BY_LENDER, lender),
                               (self.QUERIES_BY_AGENCY, agency)):
            self.index(mapping, party).add(query_id)
        self.set_query_state(query_id, "", "created", height)
        return query_id

    def set_query_state(self, query_id: int, old: str, new: str, height: int) -> None:
        self.restate(self.QUERIES_BY_STATE, QUERY_STATES, query_id, old, new)
        QueryRecord.put_fields(self.s, Storage.at(self.QUERIES, query_id), state=new,
                               updated_at=height)

    def set_report(self, query_id: int, report_hash: bytes, location: str) -> None:
        QueryRecord.put_fields(self.s, Storage.at(self.QUERIES, query_id),
                               report_hash=report_hash, location=location)

    def blacklist(self) -> WordSet:
        return WordSet(self.s, self.BLACKLIST)

    def is_blacklisted(self, subject: bytes) -> bool:
        return address_word(subject) in self.blacklist()

    def entry(self, subject: bytes) -> BlacklistEntry:
        return BlacklistEntry.load(self.s, Storage.at(self.BLACKLIST_ENTRIES, subject),
                                   subject=subject)

    def set_entry(self, subject: bytes, reporter: bytes = ZERO, record: int = 0,
                  reason: str = "", height: int = 0) -> None:
        """List a subject (a reporter given) or unlist it (the entry zeroed)."""
        BlacklistEntry(subject=subject, reporter=reporter, record=record, reason=reason,
                       height=height).store(self.s, Storage.at(self.BLACKLIST_ENTRIES, subject))
        if record:
            self.blacklist().add(address_word(subject))
        else:
            self.blacklist().remove(address_word(subject))
