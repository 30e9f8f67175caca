"""A real Ledger with the parties of securities trading: a cash bank that is also a
custodian, an issuer agent (also the issuer of its instruments), three investors, a
regulator, a market operator and a member without roles, each its own member; helpers that
send CashTokens / Securities calls as signed transactions and read through eth_call."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from eth_abi import decode
from eth_account import Account

from consortium.apps.securities.model import (
    CASH_ADDRESS,
    SECURITIES_ADDRESS,
    UNLIMITED,
)
from consortium.apps.securities.reader import CASH as CASH_CODEC
from consortium.apps.securities.reader import SECURITIES as SECURITIES_CODEC
from consortium.apps.securities.reader import SecuritiesReader
from consortium.errors import ExecutionReverted
from consortium.ledger.executor import decode_revert_reason
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import BlockOutcome, TxOutcome
from tests.support.ledger_testkit import parties_ledger, parties_state, run_block, sign

BANK = Account.from_key(b"\x61" * 32)  # cash bank (CNY) and custodian
AGENT = Account.from_key(b"\x62" * 32)  # issuer agent and issuer
ALICE = Account.from_key(b"\x63" * 32)
BOB = Account.from_key(b"\x64" * 32)
CAROL = Account.from_key(b"\x65" * 32)
REGULATOR = Account.from_key(b"\x66" * 32)
OPERATOR = Account.from_key(b"\x67" * 32)
STRANGER = Account.from_key(b"\x68" * 32)  # a member without securities roles
DAVE = Account.from_key(b"\x69" * 32)  # an investor nobody registered

ISIN = "US0378331005"
ISIN_2 = "AU0000XVGZA3"
DOC = bytes.fromhex("ab" * 32)
KYC = 10**9  # a KYC expiry height far away
SECURITIES = "0x" + SECURITIES_ADDRESS.hex()
CASH = "0x" + CASH_ADDRESS.hex()

PARTIES = {
    "Bank A": (BANK, ["cash_bank", "custodian"]),
    "Issuer Agent": (AGENT, ["issuer_agent", "investor"]),
    "Alice Fund": (ALICE, ["investor"]),
    "Bob Capital": (BOB, ["investor"]),
    "Carol Partners": (CAROL, ["investor"]),
    "Regulator": (REGULATOR, ["regulator"]),
    "Exchange": (OPERATOR, ["market_operator"]),
    "Stranger": (STRANGER, []),
    "Dave": (DAVE, ["investor"]),
}


def securities_state(version: int = 1) -> AppState:
    """The parties' genesis, Securities at `version` (1: a chain made before versions)."""
    state = parties_state(PARTIES)
    if version == 1:
        return state
    return dataclasses.replace(state, native_versions={"Securities": version})


def securities_ledger(path: Path, version: int = 1) -> Ledger:
    return parties_ledger(path, securities_state(version))


def low(acct: Any) -> str:
    return str(acct.address).lower()


class Chain:
    """Drives one ledger: contract calls as transactions, one block each unless batched."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.read = SecuritiesReader(self._call)
        self.nonces: dict[str, int] = {}

    @property
    def height(self) -> int:
        return self.ledger.info()[0]

    def _call(self, to: bytes, data: bytes) -> bytes:
        result = self.ledger.call({"to": "0x" + to.hex(), "data": "0x" + data.hex()})
        if not result.success:
            raise ExecutionReverted(result.error, data=result.output)
        return result.output

    def tx(self, account: Any, name: str, *args: Any, cash: bool = False,
           gas: int = 20_000_000) -> bytes:
        """A signed call (not sent); nonces count the transactions signed so far."""
        codec = CASH_CODEC if cash else SECURITIES_CODEC
        to = CASH if cash else SECURITIES
        nonce = self.nonces.get(account.address, self.ledger.get_nonce(account.address))
        self.nonces[account.address] = nonce + 1
        return sign(account, nonce=nonce, to=to, data=codec.encode(name, *args), gas=gas)

    def block(self, txs: list[bytes]) -> BlockOutcome:
        out = run_block(self.ledger, txs)
        self.nonces.clear()
        return out

    def send(self, account: Any, name: str, *args: Any, cash: bool = False) -> TxOutcome:
        (result,) = self.block([self.tx(account, name, *args, cash=cash)]).tx_results
        return result

    def ok(self, account: Any, name: str, *args: Any, cash: bool = False) -> TxOutcome:
        result = self.send(account, name, *args, cash=cash)
        assert result.code == 0, decode_revert_reason(result.data) or result.log
        return result

    def refused(self, account: Any, name: str, *args: Any, cash: bool = False) -> str:
        result = self.send(account, name, *args, cash=cash)
        assert result.code == ExecutionReverted.abci_code, f"not refused: {result}"
        reason = decode_revert_reason(result.data)
        assert reason is not None
        return reason

    def empty_blocks(self, n: int) -> None:
        for _ in range(n):
            self.block([])

    # --- set-ups -------------------------------------------------------------------------------

    def register(self, *accounts: Any, expiry: int = KYC, jurisdiction: str = "CN") -> None:
        for acct in accounts:
            self.ok(BANK, "setInvestor", acct.address, expiry, jurisdiction, False)

    def fund(self, acct: Any, amount: int, currency: str = "CNY") -> None:
        """Mint cash to `acct` and let the settlement contract lock it."""
        self.ok(BANK, "mint", currency, acct.address, amount, cash=True)
        self.ok(acct, "approve", currency, SECURITIES, UNLIMITED, cash=True)

    def market(self, *, supply: int = 1_000, cycle: int = 0, isin: str = ISIN,
               investors: tuple[Any, ...] = (ALICE, BOB, CAROL), cash: int = 1_000_000,
               shares: int = 100) -> None:
        """CNY token, an instrument issued to AGENT, the investors registered, funded with
        cash and `shares` each."""
        if "CNY" not in self.read._cash("currencies"):
            self.ok(BANK, "createToken", "CNY", "Bank A digital CNY", cash=True)
            self.register(AGENT, *investors)
            self.fund(AGENT, cash)
            for acct in investors:
                self.fund(acct, cash)
        self.ok(AGENT, "issue", isin, "Apple Inc. common", AGENT.address, supply, DOC, "CNY",
                cycle)
        for acct in investors:
            if shares:
                self.ok(AGENT, "transfer", isin, acct.address, shares)

    def order(self, acct: Any, side: str, qty: int, price: int, *, isin: str = ISIN,
              expiry: int = 0) -> int:
        out = self.ok(acct, "placeOrder", isin, 1 if side == "buy" else 2, price, qty, expiry)
        return int(decode(["uint256"], out.data)[0])
