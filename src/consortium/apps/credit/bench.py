"""Bench workload of credit: lenders reporting records (`report`), pre-signed for
`consortium bench --workload credit`; senders hold the `lender` role at genesis
(`genesis_roles`), subjects and hashes are distinct per transaction."""

from __future__ import annotations

from collections.abc import Sequence

from eth_hash.auto import keccak

from consortium.apps.credit.model import CREDIT_ADDRESS, RECORD_KINDS
from consortium.apps.credit.reader import CALLS
from consortium.bench.workloads import BenchAccount, PreSigned, Workload, presign

REPORT_GAS = 400_000  # a report writes ~9 slots and 2 logs (~260k gas at NATIVE_GAS prices)


def report_call(i: int) -> bytes:
    """The i-th report: subject and record hash derived from i."""
    subject = keccak(b"consortium-bench-subject" + (i % 4096).to_bytes(4, "big"))[-20:]
    record_hash = keccak(b"consortium-bench-record" + i.to_bytes(8, "big"))
    kind = RECORD_KINDS[i % len(RECORD_KINDS)]
    return CALLS.encode("report", "0x" + subject.hex(), kind, record_hash)


class CreditReport(Workload):
    name = "credit"
    description = "credit record report (Credit.report, native contract 0x…2002)"
    gas = REPORT_GAS

    def genesis_roles(self, names: Sequence[str]) -> dict[str, list[str]]:
        return {name: ["lender"] for name in names}

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        return CREDIT_ADDRESS, 0, report_call(i)


def signed_report_txs(accounts: Sequence[BenchAccount], n: int, chain_id: int,
                      start_nonces: Sequence[int] | None = None) -> list[PreSigned]:
    """`n` signed `report` transactions, round-robin over `accounts` (lenders), each
    account's nonces consecutive from its start nonce (0 by default)."""
    nonces = list(start_nonces) if start_nonces is not None else [0] * len(accounts)
    return presign(CreditReport(), accounts, n, chain_id, nonces)


__all__ = ["CreditReport", "report_call", "signed_report_txs"]
