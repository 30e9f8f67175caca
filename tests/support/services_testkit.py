"""A real Ledger with the credit and registry services' parties, each its own member: three
banks with votes (Bank A and Bank B lenders, Bank C a registrar), and observers without votes
(borrowers, agencies, a mediator, registrars, a court, owners, a regulator, a member without
roles); helpers that send a service's calls as signed transactions (one block each), pass
app-call proposals, and read through eth_call and the ledger's log index."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from eth_account import Account

from consortium.errors import ExecutionReverted
from consortium.evm.native import NativeCalls
from consortium.ledger.executor import decode_revert_reason
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import TxFilter, TxOutcome
from consortium.system.abi_files import function
from consortium.system.model import GOVERNANCE_ADDRESS
from consortium.system.reader import SystemReader
from tests.support.ledger_testkit import parties_ledger, parties_state, run_block, sign


def _acct(n: int) -> Any:
    return Account.from_key(bytes([n]) * 32)


BANK_A, BANK_B, BANK_C = _acct(0x61), _acct(0x62), _acct(0x63)
BORROWER, BORROWER_2 = _acct(0x64), _acct(0x65)
AGENCY_X, AGENCY_Y = _acct(0x66), _acct(0x67)
MEDIATOR = _acct(0x68)
REGISTRAR_1, REGISTRAR_2, REGISTRAR_3 = _acct(0x69), _acct(0x6A), _acct(0x6B)
COURT = _acct(0x6C)
OWNER, OWNER_2 = _acct(0x6D), _acct(0x6E)
REGULATOR = _acct(0x6F)
NOBODY = _acct(0x70)

PARTIES: dict[str, tuple[Any, list[str], bool]] = {  # name: (account, roles, votes)
    "Bank A": (BANK_A, ["lender"], True),
    "Bank B": (BANK_B, ["lender"], True),
    "Bank C": (BANK_C, ["registrar"], True),
    "Borrower": (BORROWER, [], False),
    "Borrower 2": (BORROWER_2, [], False),
    "Agency X": (AGENCY_X, ["credit_agency"], False),
    "Agency Y": (AGENCY_Y, ["credit_agency"], False),
    "Mediator": (MEDIATOR, ["mediator"], False),
    "Registrar 1": (REGISTRAR_1, ["registrar"], False),
    "Registrar 2": (REGISTRAR_2, ["registrar"], False),
    "Registrar 3": (REGISTRAR_3, ["registrar"], False),
    "Court": (COURT, ["court"], False),
    "Owner": (OWNER, [], False),
    "Owner 2": (OWNER_2, [], False),
    "Regulator": (REGULATOR, ["regulator"], False),
    "Nobody": (NOBODY, [], False),
}


def services_state(native_versions: dict[str, int] | None = None) -> AppState:
    """The parties' genesis; `native_versions` as genesis sets them (none: every contract
    at 1, a chain made before them)."""
    state = parties_state({name: (acct, roles) for name, (acct, roles, _) in PARTIES.items()},
                          frozenset(name for name, (_, _, votes) in PARTIES.items() if not votes))
    return dataclasses.replace(state, native_versions=dict(native_versions or {}))


def services_ledger(path: Path, native_versions: dict[str, int] | None = None) -> Ledger:
    return parties_ledger(path, services_state(native_versions))


def low(acct: Any) -> str:
    return str(acct.address).lower()


class ServiceChain:
    """Drives one ledger for one service contract: calls as transactions, one block each;
    reads through eth_call; logs through the ledger's index."""

    def __init__(self, ledger: Ledger, address: bytes, calls: NativeCalls) -> None:
        self.ledger = ledger
        self.address = address
        self.calls = calls
        self.gov = SystemReader(self._call)

    @property
    def height(self) -> int:
        return self.ledger.info()[0]

    def _call(self, to: bytes, data: bytes) -> bytes:
        result = self.ledger.call({"to": "0x" + to.hex(), "data": "0x" + data.hex()})
        if not result.success:
            raise ExecutionReverted(result.error, data=result.output)
        return result.output

    def logs(self, address: bytes, topics: list[bytes | None]) -> list[dict[str, Any]]:
        found = self.ledger.get_logs(TxFilter(
            from_block=0, to_block=self.height, addresses=["0x" + address.hex()],
            topics=[None if t is None else "0x" + t.hex() for t in topics],
        ))
        return [{"block": e.block_number, "txHash": e.tx_hash,
                 "topics": [bytes.fromhex(t[2:]) for t in e.topics], "data": e.data}
                for e in found]

    def raw(self, account: Any, to: bytes, data: bytes) -> TxOutcome:
        nonce = self.ledger.get_nonce(account.address)
        tx = sign(account, nonce=nonce, to="0x" + to.hex(), data=data, gas=5_000_000)
        (result,) = run_block(self.ledger, [tx]).tx_results
        return result

    def send(self, account: Any, name: str, *args: Any) -> TxOutcome:
        return self.raw(account, self.address, self.calls.encode(name, *args))

    def ok(self, account: Any, name: str, *args: Any) -> Any:
        """Send; the call's answer (its return value, when it has one)."""
        result = self.send(account, name, *args)
        assert result.code == 0, decode_revert_reason(result.data) or result.log
        return self.calls.decode(name, result.data) if self.calls.specs[name].outputs else None

    def refused(self, account: Any, name: str, *args: Any) -> str:
        result = self.send(account, name, *args)
        assert result.code == ExecutionReverted.abci_code, f"not refused: {result}"
        reason = decode_revert_reason(result.data)
        assert reason is not None
        return reason

    def advance(self, blocks: int) -> None:
        for _ in range(blocks):
            run_block(self.ledger, [])

    # --- governance ------------------------------------------------------------------------

    def propose(self, name: str, *args: Any) -> TxOutcome:
        """Bank A proposes an app-call of this contract."""
        data = function("Governance", "proposeAppCall").encode(
            self.address, self.calls.encode(name, *args))
        return self.raw(BANK_A, GOVERNANCE_ADDRESS, data)

    def vote(self, account: Any, proposal_id: int, support: bool = True) -> TxOutcome:
        data = function("Governance", "vote").encode(proposal_id, support)
        return self.raw(account, GOVERNANCE_ADDRESS, data)

    def by_vote(self, name: str, *args: Any) -> dict[str, Any]:
        """Propose as Bank A, vote yes with Banks A and B (2 of 3): answers the proposal."""
        proposed = self.propose(name, *args)
        assert proposed.code == 0, decode_revert_reason(proposed.data) or proposed.log
        proposal_id = int.from_bytes(proposed.data, "big")
        for bank in (BANK_A, BANK_B):
            result = self.vote(bank, proposal_id)
            assert result.code == 0, decode_revert_reason(result.data) or result.log
        proposal = self.gov.proposal(proposal_id)
        assert proposal is not None
        return proposal
