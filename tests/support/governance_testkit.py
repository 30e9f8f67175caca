"""A real Ledger with a governed consortium: members with accounts, nodes and validators, and
helpers to propose, vote and read through the system contracts (as clients do: signed
transactions and eth_call)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from eth_account import Account

from consortium.errors import ExecutionReverted
from consortium.ledger.executor import decode_revert_reason
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import BlockOutcome, TxOutcome
from consortium.system.abi_files import function
from consortium.system.model import (
    GOVERNANCE_ADDRESS,
    KIND_BY_NAME,
    NODES_ADDRESS,
    PERMISSIONS_ADDRESS,
)
from consortium.system.reader import SystemReader
from tests.support.ledger_testkit import CHAIN_ID, GAS_LIMIT, run_block, sign

BANKS = [Account.from_key(bytes([0x40 + i]) * 32) for i in range(6)]
OUTSIDER = Account.from_key(b"\x77" * 32)
NEWCOMER = Account.from_key(b"\x78" * 32)
GOV = "0x" + GOVERNANCE_ADDRESS.hex()
PERMS = "0x" + PERMISSIONS_ADDRESS.hex()
NODES = "0x" + NODES_ADDRESS.hex()
CONTRACTS = {GOV: "Governance", PERMS: "Permissions", NODES: "Nodes"}


def node_id(i: int) -> str:
    return f"{i + 1:02x}" * 20


def pub_key(i: int) -> bytes:
    return bytes([0xA0 + i]) * 32


def governed_state(members: int = 4, **governance: Any) -> AppState:
    doc: dict[str, Any] = {
        "eth_chain_id": CHAIN_ID,
        "block_gas_limit": GAS_LIMIT,
        "members": [
            {
                "name": f"Bank {chr(65 + i)}",
                "accounts": [BANKS[i].address.lower()],
                "nodes": [node_id(i)],
                "validators": [{"pub_key": base64.b64encode(pub_key(i)).decode(), "power": 10}],
            }
            for i in range(members)
        ],
        "alloc": {a.address.lower(): {"balance": hex(10**24)} for a in [*BANKS, OUTSIDER]},
    }
    if governance:
        doc["governance"] = governance
    return AppState.from_json(doc)


def governed_ledger(path: Path, members: int = 4, **governance: Any) -> Ledger:
    ledger = Ledger(path)
    ledger.init_chain(governed_state(members, **governance), 1)
    return ledger


class Gov:
    """Drives one ledger: sends Governance/Permissions transactions, one block each."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.read = SystemReader(self._call)
        self.last: BlockOutcome | None = None

    def _call(self, to: bytes, data: bytes) -> bytes:
        result = self.ledger.call({"to": "0x" + to.hex(), "data": "0x" + data.hex()})
        if not result.success:
            raise ExecutionReverted(result.error, data=result.output)
        return result.output

    def send(self, account: Any, to: str, name: str, *args: Any, gas: int = 5_000_000) -> TxOutcome:
        data = function(CONTRACTS[to], name).encode(*args)
        nonce = self.ledger.get_nonce(account.address)
        raw = sign(account, nonce=nonce, to=to, data=data, gas=gas)
        self.last = run_block(self.ledger, [raw])
        (result,) = self.last.tx_results
        return result

    def propose(self, account: Any, kind: str, *args: Any) -> int:
        """Propose; answers the new proposal's id (fails the test if refused)."""
        result = self.send(account, GOV, KIND_BY_NAME[kind].method, *args)
        assert result.code == 0, result.log
        return int.from_bytes(result.data, "big")

    def vote(self, account: Any, proposal_id: int, support: bool = True) -> TxOutcome:
        return self.send(account, GOV, "vote", proposal_id, support)

    def status(self, proposal_id: int) -> str:
        proposal = self.read.proposal(proposal_id)
        assert proposal is not None
        return str(proposal["status"])

    def refused(self, account: Any, to: str, name: str, *args: Any) -> str:
        """Send a call that must revert; answers its revert reason."""
        result = self.send(account, to, name, *args)
        assert result.code == ExecutionReverted.abci_code, f"not refused: {result}"
        reason = decode_revert_reason(result.data)
        assert reason is not None
        return reason

    def pass_(self, kind: str, *args: Any, voters: tuple[int, ...] = (0, 1, 2)) -> int:
        """Propose as Bank A, vote yes with the given banks: the proposal executes."""
        proposal_id = self.propose(BANKS[0], kind, *args)
        for i in voters:
            result = self.vote(BANKS[i], proposal_id)
            assert result.code == 0, result.log
        assert self.status(proposal_id) == "executed", self.read.proposal(proposal_id)
        return proposal_id

    def advance(self, blocks: int) -> None:
        for _ in range(blocks):
            run_block(self.ledger, [])
