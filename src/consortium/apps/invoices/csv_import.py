"""Import invoices from a CSV file (UTF-8, an Excel BOM is fine) with a header row naming its
columns in any order: seller_tax_id, invoice_number, issue_date, amount, currency, due_date,
buyer[, seller] (others ignored; `seller` defaults to the signer, accounts may be names the
caller's `resolve` knows). Each row is imported whole or not at all, and the whole file is
checked first: off chain (fields, accounts, a repeated fingerprint), then on chain (a
registered fingerprint, a dry run of the issue call for the contract's reason); with
`strict=True` nothing is sent when any row is refused. Lines count from the header, 1."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consortium.apps.invoices.fingerprint import (
    FieldError,
    date_number,
    fingerprint,
    normalise,
    parse_date,
)
from consortium.apps.invoices.model import currency_problem
from consortium.apps.surface import BadValue, account_hex
from consortium.errors import ConfigError, ConsortiumError, known

if TYPE_CHECKING:  # the sending side's (web3's) imports: the console reads rows only
    from eth_account.signers.local import LocalAccount

    from consortium.apps.invoices.client import InvoiceClient

REQUIRED = ("seller_tax_id", "invoice_number", "issue_date", "amount", "currency", "due_date",
            "buyer")
OPTIONAL = ("seller",)
MAX_ROWS = 100_000
# a negative amount ("-500", "- 12.5", with a Unicode minus too): refused as negative, not
# as "not an integer"
_NEGATIVE = re.compile(r"[-\u2212]\s*\d+(\.\d*)?")

# stage ("checking", "sending", "confirming"), done, total
Progress = Callable[[str, int, int], None]
Resolve = Callable[[str], str | None]  # a name -> its 0x account, or None


@dataclass(frozen=True)
class CsvInvoice:
    """One valid row: where it is, its invoice number (for reports only: never sent) and
    the issue call's arguments (fingerprint, seller, buyer, amount, currency, due date)."""

    line: int
    number: str
    args: tuple[bytes, str, str, int, str, int]

    @property
    def fingerprint(self) -> bytes:
        return self.args[0]


@dataclass(frozen=True)
class Refusal:
    line: int
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    imported: list[dict[str, Any]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    sent: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _account(value: str, what: str, resolve: Resolve | None) -> str:
    text = value.strip()
    if text.lower().startswith("0x"):
        try:
            return account_hex(text)
        except BadValue:
            raise FieldError(f"{what} {text!r} is not a 0x account address") from None
    found = resolve(text) if resolve is not None and text else None
    if found is None:
        raise FieldError(f"{what} {text!r} is not a 0x account address or a known name")
    return found.lower()


def read_rows(text: str, key: bytes, signer: str, resolve: Resolve | None = None
              ) -> tuple[list[CsvInvoice], list[Refusal], int]:
    """Validate every row off chain: (valid rows, refusals, number of data rows)."""
    reader = csv.reader(io.StringIO(text))
    header = known(next(reader, None), "the CSV file is empty (it needs a header row)")
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ConfigError(f"the CSV header lacks {', '.join(missing)} (columns: "
                          f"{', '.join(REQUIRED)}[, {', '.join(OPTIONAL)}])")
    where = {c: columns.index(c) for c in (*REQUIRED, *OPTIONAL) if c in columns}
    rows: list[CsvInvoice] = []
    refused: list[Refusal] = []
    seen: dict[bytes, int] = {}
    count = 0
    end = reader.line_num
    for record in reader:
        line, end = end + 1, reader.line_num
        if not record or all(not v.strip() for v in record):
            continue  # blank line
        count += 1
        if count > MAX_ROWS:
            raise ConfigError(f"the CSV file has more than {MAX_ROWS} rows: split it")
        try:
            if len(record) != len(columns):
                raise FieldError(f"expected {len(columns)} fields, found {len(record)}")
            value = {c: record[i] for c, i in where.items()}
            empty = [c for c in REQUIRED if not value[c].strip()]
            if empty:
                raise FieldError(f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty")
            amount = value["amount"].strip()
            if _NEGATIVE.fullmatch(amount):
                raise FieldError(f"amount {amount} is negative: an amount is above 0 (an "
                                 "integer in the currency's smallest unit)")
            fields = normalise(value["seller_tax_id"], value["invoice_number"],
                               value["issue_date"], value["amount"])
            currency = value["currency"].strip().upper()
            problem = currency_problem(currency)
            if problem:
                raise FieldError(problem)
            due_date = parse_date(value["due_date"], "due date")
            if due_date.isoformat() < fields.issue_date:  # the contract never sees the latter
                raise FieldError(f"due_date {due_date.isoformat()} is before issue_date "
                                 f"{fields.issue_date}")
            due = date_number(due_date)
            seller_text = value.get("seller", "").strip()
            seller = _account(seller_text, "seller", resolve) if seller_text else signer.lower()
            buyer = _account(value["buyer"], "buyer", resolve)
            fp = fingerprint(key, fields)
            if fp in seen:
                raise FieldError(f"the same invoice as line {seen[fp]} (fingerprint "
                                 f"0x{fp.hex()[:16]}…)")
        except FieldError as exc:
            refused.append(Refusal(line, str(exc)))
            continue
        seen[fp] = line
        rows.append(CsvInvoice(line, fields.invoice_number,
                               (fp, seller, buyer, fields.amount, currency, due)))
    return rows, refused, count


def import_csv(invoices: InvoiceClient, account: LocalAccount, source: Path | str, *,
               key: bytes, resolve: Resolve | None = None, strict: bool = False,
               progress: Progress | None = None) -> ImportReport:
    """Check every row of the CSV file (a path, or its text), then issue the good ones as
    `account`. See the module's docstring for the semantics."""
    from consortium.apps.invoices.client import GAS_MARGIN
    from consortium.apps.service_client import revert_reason

    if isinstance(source, Path):
        try:
            text = source.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {source}: {exc}") from None
    else:
        text = source.removeprefix("\ufeff")
    step = progress or (lambda _stage, _done, _total: None)
    rows, refused, count = read_rows(text, key, account.address, resolve)
    report = ImportReport(rows=count, refused=list(refused))

    # On chain, before sending anything: duplicates, then a dry run of each issue call.
    ready: list[tuple[CsvInvoice, int]] = []  # with the gas to send it with
    for done, row in enumerate(rows, start=1):
        try:
            if invoices.read.is_registered(row.fingerprint):
                raise ConfigError(f"invoice {row.number} is already registered on chain (a "
                                  f"duplicate; fingerprint 0x{row.fingerprint.hex()[:16]}…)")
            ready.append((row, invoices.check(account, "issue", *row.args) + GAS_MARGIN))
        except ConsortiumError as exc:
            report.refused.append(Refusal(row.line, revert_reason(exc)))
        step("checking", done, len(rows))
    report.refused.sort(key=lambda r: r.line)
    if strict and report.refused:
        return report

    # Send every good row (consecutive nonces), then wait for the receipts.
    nonce = int(invoices.client.eth("get_transaction_count", account.address, "pending"))
    sent: list[tuple[CsvInvoice, bytes]] = []  # with its transaction's hash
    for done, (row, gas) in enumerate(ready, start=1):
        try:
            sent.append((row, invoices.submit(account, "issue", *row.args, gas=gas, nonce=nonce)))
            nonce += 1
        except ConsortiumError as exc:
            report.refused.append(Refusal(row.line, revert_reason(exc)))
        step("sending", done, len(ready))
    report.sent = bool(sent)
    for done, (row, tx_hash) in enumerate(sent, start=1):
        try:
            out = invoices.outcome(tx_hash, "issue", row.args)
            report.imported.append({"line": row.line, "invoiceNumber": row.number,
                                    "fingerprint": out["fingerprint"], "txHash": out["txHash"],
                                    "block": out["block"]})
        except ConsortiumError as exc:
            report.refused.append(Refusal(row.line, revert_reason(exc)))
        step("confirming", done, len(sent))
    report.refused.sort(key=lambda r: r.line)
    return report

