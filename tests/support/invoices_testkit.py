"""A real Ledger with invoice parties: a seller, buyers, two financing banks, a tax authority
and a member without invoice roles, each its own member; helpers that send Invoices calls as
signed transactions (one block each) and read through eth_call."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from eth_account import Account

from consortium.apps.invoices.model import INVOICES_ADDRESS
from consortium.apps.invoices.reader import InvoiceReader, encode_call
from consortium.errors import ExecutionReverted
from consortium.ledger.executor import decode_revert_reason
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import TxOutcome
from tests.support.ledger_testkit import parties_ledger, parties_state, run_block, sign

SELLER = Account.from_key(b"\x51" * 32)
BUYER = Account.from_key(b"\x52" * 32)
BANK_A = Account.from_key(b"\x53" * 32)
BANK_B = Account.from_key(b"\x54" * 32)
TAX = Account.from_key(b"\x55" * 32)
NOBODY = Account.from_key(b"\x56" * 32)  # a member without invoice roles
BUYER_2 = Account.from_key(b"\x57" * 32)
KEY = bytes(range(32))  # a test consortium key
TODAY = 20231114  # the date of ledger_testkit's block times
INVOICES = "0x" + INVOICES_ADDRESS.hex()

PARTIES = {
    "Acme Trading": (SELLER, ["seller"]),
    "Globex Retail": (BUYER, ["buyer"]),
    "Bank A": (BANK_A, ["financing_bank"]),
    "Bank B": (BANK_B, ["financing_bank"]),
    "Tax Bureau": (TAX, ["tax_authority"]),
    "Bank C": (NOBODY, []),
    "Initech": (BUYER_2, ["buyer"]),
}


def invoice_state(layout: int = 2) -> AppState:
    """The parties' genesis, Invoices at `layout` (2, as `consortium init` makes a chain; 1,
    a chain made before it)."""
    state = parties_state(PARTIES)
    if layout == 1:
        return state
    return dataclasses.replace(state, native_versions={"Invoices": layout})


def invoice_ledger(path: Path, layout: int = 2) -> Ledger:
    return parties_ledger(path, invoice_state(layout))


class Chain:
    """Drives one ledger: Invoices calls as transactions, one block each; reads."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.read = InvoiceReader(self._call)
        self.logs: list[Any] = []

    def _call(self, to: bytes, data: bytes) -> bytes:
        result = self.ledger.call({"to": "0x" + to.hex(), "data": "0x" + data.hex()})
        if not result.success:
            raise ExecutionReverted(result.error, data=result.output)
        return result.output

    def send(self, account: Any, name: str, *args: Any) -> TxOutcome:
        data = encode_call(name, *args)
        nonce = self.ledger.get_nonce(account.address)
        raw = sign(account, nonce=nonce, to=INVOICES, data=data, gas=5_000_000)
        (result,) = run_block(self.ledger, [raw]).tx_results
        return result

    def ok(self, account: Any, name: str, *args: Any) -> TxOutcome:
        result = self.send(account, name, *args)
        assert result.code == 0, decode_revert_reason(result.data) or result.log
        return result

    def refused(self, account: Any, name: str, *args: Any) -> str:
        result = self.send(account, name, *args)
        assert result.code == ExecutionReverted.abci_code, f"not refused: {result}"
        reason = decode_revert_reason(result.data)
        assert reason is not None
        return reason

    def issue(self, fp: bytes, amount: int = 1_000_000, due: int = TODAY, *,
              by: Any = SELLER, seller: Any = SELLER, buyer: Any = BUYER,
              currency: str = "CNY") -> TxOutcome:
        return self.ok(by, "issue", fp, seller.address, buyer.address, amount, currency, due)

    def financed(self, fp: bytes, *tranches: tuple[Any, int], due: int = TODAY,
                 amount: int = 1_000_000) -> None:
        """Issue, confirm, request and finance `fp` with the given (bank, amount) tranches."""
        self.issue(fp, amount, due)
        self.ok(BUYER, "confirm", fp)
        self.ok(SELLER, "requestFinancing", fp)
        for bank, part in tranches:
            self.ok(bank, "finance", fp, part)
