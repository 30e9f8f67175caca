"""Bench workload of invoices: sellers issuing invoices (`issue`), pre-signed for
`consortium bench --workload invoice`. Every account sells its own invoices and buys the
next account's (both roles at genesis); fingerprints are distinct, so none is a duplicate."""

from __future__ import annotations

from collections.abc import Sequence

from eth_hash.auto import keccak

from consortium.apps.invoices.model import BUYER, INVOICES_ADDRESS, SELLER
from consortium.apps.invoices.reader import encode_call
from consortium.bench.workloads import BenchAccount, Setup, Workload

# layout 2, gas schedule 2: a seller's first issue ~0.33 M gas, the next ~0.26 M (the SDK's
# estimate x 1.2 + 10,000 sends ~0.40 M and ~0.32 M)
ISSUE_GAS = 400_000
AMOUNT = 1_000_000
CURRENCY = "CNY"
DUE_DATE = 20_991_231  # far beyond any benchmark


def fingerprint(i: int) -> bytes:
    """The i-th invoice's fingerprint: distinct per i, never zero."""
    return keccak(b"consortium-bench-invoice" + i.to_bytes(8, "big"))


class InvoiceIssue(Workload):
    name = "invoice"
    description = "invoice issue by its seller (Invoices.issue, native contract 0x…2004)"
    gas = ISSUE_GAS

    def __init__(self) -> None:
        self.parties: list[str] = []

    def genesis_roles(self, names: Sequence[str]) -> dict[str, list[str]]:
        return {name: [SELLER, BUYER] for name in names}

    def prepare(self, accounts: Sequence[BenchAccount], chain_id: int) -> Setup:
        if len(accounts) < 2:
            raise ValueError("the invoice workload needs at least two accounts "
                             "(a seller cannot be its own buyer)")
        self.parties = ["0x" + a.address.hex() for a in accounts]
        return Setup()

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        if not self.parties:
            raise RuntimeError("prepare() the invoice workload before signing issues")
        n = len(self.parties)
        seller, buyer = self.parties[i % n], self.parties[(i + 1) % n]  # presign's sender
        return INVOICES_ADDRESS, 0, encode_call("issue", fingerprint(i), seller, buyer, AMOUNT,
                                                CURRENCY, DUE_DATE)


__all__ = ["InvoiceIssue", "fingerprint"]
