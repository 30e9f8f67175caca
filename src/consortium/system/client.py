"""`GovernanceClient`: the consortium's governance from Python, over a node's JSON-RPC.

Reads are eth_calls to the system contracts with their shipped ABIs and answer the dicts of
`consortium.system.reader`. Writes sign a transaction with a member's account, check it first
with eth_estimateGas (so a refusal raises `ExecutionReverted` with the contract's reason and
nothing is sent), send it with room for a proposal's execution, wait for the receipt, and
answer what happened:

    gov = GovernanceClient("http://127.0.0.1:8545")
    out = gov.propose_grant_role(signer, "0x…", "regulator")   # {"proposal": 3, "status": …}
    gov.vote(other_signer, out["proposal"], True)               # "executed" once it passes
"""

from __future__ import annotations

import base64
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from consortium.errors import ConfigError, ExecutionReverted
from consortium.sdk.client import ConsortiumClient
from consortium.system.abi_files import function
from consortium.system.governance import Governance
from consortium.system.model import (
    GOVERNANCE_ADDRESS,
    KIND_BY_NAME,
    PERMISSIONS_ADDRESS,
    TIERS,
)
from consortium.system.reader import SystemReader

# Gas on top of the estimate: a vote may become the one that passes (and executes) its
# proposal if another vote lands first. Gas is free (price 0); the block limit is 1e9.
EXECUTION_GAS = 5_000_000
_CONTRACTS = {GOVERNANCE_ADDRESS: "Governance", PERMISSIONS_ADDRESS: "Permissions"}
_CREATED = Governance.ProposalCreated.topic0


def address_bytes(value: str | bytes) -> bytes:
    """A 0x address (any case) as 20 bytes."""
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = bytes.fromhex(value.strip().lower().removeprefix("0x"))
        except ValueError:
            raw = b""
    if len(raw) != 20:
        raise ConfigError(f"{value!r} is not a 20-byte 0x address")
    return raw


def node_id_bytes(value: str) -> bytes:
    """A CometBFT node id (40 hex digits, as in ID@HOST:PORT) as 20 bytes."""
    text = value.strip().lower().removeprefix("0x")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise ConfigError(f"{value!r} is not a node id (40 hex digits)")
    return raw


def pub_key_bytes(value: str) -> bytes:
    """An ed25519 consensus public key, base64 (as CometBFT prints it) or 0x hex."""
    text = value.strip()
    try:
        raw = (
            bytes.fromhex(text[2:])
            if text.lower().startswith("0x")
            else base64.b64decode(text, validate=True)
        )
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"{value!r} is not an ed25519 public key (base64 or 0x hex, 32 bytes)")
    return raw


class GovernanceClient:
    """Governance, Permissions and Nodes through one node's API."""

    def __init__(self, client: ConsortiumClient | str) -> None:
        self.client = client if isinstance(client, ConsortiumClient) else ConsortiumClient(client)
        self.read = SystemReader(self._call)

    def _call(
        self, to: bytes, data: bytes, block: Any = "latest", sender: str | None = None
    ) -> bytes:
        w3 = self.client.w3
        tx = {"to": Web3.to_checksum_address(to), "data": Web3.to_hex(data)}
        if sender is not None:
            tx["from"] = Web3.to_checksum_address(sender)
        return bytes(self.client._rpc(lambda: w3.eth.call(tx, block)))  # type: ignore[arg-type]

    # --- reads (see SystemReader) ------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        return self.read.members()

    def member(self, ref: str | int) -> dict[str, Any] | None:
        return self.read.member(ref)

    def proposals(self, open_only: bool = False) -> list[dict[str, Any]]:
        return self.read.proposals(open_only)

    def proposal(self, proposal_id: int) -> dict[str, Any] | None:
        return self.read.proposal(proposal_id)

    def officers(self) -> list[dict[str, Any]]:
        return self.read.officers()

    def task_forces(self) -> list[dict[str, Any]]:
        return self.read.task_forces()

    def task_force(self, name: str) -> dict[str, Any] | None:
        return self.read.task_force(name)

    def rules(self) -> list[dict[str, Any]]:
        return self.read.rules()

    def roles(self, account: str | None = None) -> dict[str, Any]:
        return self.read.roles(account)

    def validators(self) -> list[dict[str, Any]]:
        return self.read.validators()

    def nodes(self) -> list[dict[str, Any]]:
        return self.read.nodes()

    def member_id(self, ref: str | int) -> int:
        member_id = self.read.member_id(ref)
        if member_id == 0 or self.read.member(member_id) is None:
            raise ConfigError(f"no member {ref!r} (give its id, its name or one of its accounts)")
        return member_id

    # --- sending -------------------------------------------------------------------------------

    def transact(self, account: LocalAccount, to: bytes, name: str, *args: Any) -> dict[str, Any]:
        """Call a Governance or Permissions method in a transaction and wait for its receipt.
        Raises ExecutionReverted (with the contract's reason) if it would revert."""
        data = function(_CONTRACTS[to], name).encode(*args)
        tx: dict[str, Any] = {
            "to": Web3.to_checksum_address(to),
            "data": Web3.to_hex(data),
            "from": account.address,
        }
        estimate = self.client._rpc(lambda: self.client.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        tx["gas"] = int(estimate) + EXECUTION_GAS
        sent = self.client.send(account, tx, wait=False)
        receipt = self.client.wait_receipt(sent["transactionHash"])
        if receipt["status"] != 1:
            number = int(receipt["blockNumber"])
            reason = self._replay_reason(tx, number)
            raise ExecutionReverted(
                f"transaction {Web3.to_hex(sent['transactionHash'])} "
                f"reverted in block {number}: {reason}"
            )
        return receipt

    def _replay_reason(self, tx: dict[str, Any], number: int) -> str:
        """Why a sent transaction reverted: the same call again at its block's height, on
        the state after that block (the transaction reverted, so it changed nothing there)."""
        try:
            self._call(address_bytes(tx["to"]), bytes.fromhex(tx["data"][2:]), number, tx["from"])
        except ExecutionReverted as err:
            return err.message
        except Exception:
            pass
        return "execution reverted"

    def _outcome(self, receipt: dict[str, Any], proposal_id: int | None) -> dict[str, Any]:
        if proposal_id is None:
            for log in receipt["logs"]:
                if (
                    address_bytes(str(log["address"])) == GOVERNANCE_ADDRESS
                    and bytes(log["topics"][0]) == _CREATED
                ):
                    proposal_id = int.from_bytes(bytes(log["topics"][1]), "big")
        out: dict[str, Any] = {
            "txHash": Web3.to_hex(receipt["transactionHash"]),
            "block": receipt["blockNumber"],
        }
        if proposal_id is not None:
            proposal = SystemReader(
                lambda to, data: self._call(to, data, receipt["blockNumber"])
            ).proposal(proposal_id)
            out = {
                "proposal": proposal_id,
                "kind": proposal["kind"] if proposal else None,
                "status": proposal["status"] if proposal else None,
                **out,
            }
        return out

    def propose(self, account: LocalAccount, kind: str, *args: Any) -> dict[str, Any]:
        """Propose (`kind` as in `model.PROPOSAL_KINDS`, args as its ABI types want them):
        answers {"proposal": id, "kind", "status", "txHash", "block"}."""
        k = KIND_BY_NAME.get(kind)
        if k is None:
            raise ConfigError(f"unknown proposal kind {kind!r} (kinds: {', '.join(KIND_BY_NAME)})")
        receipt = self.transact(account, GOVERNANCE_ADDRESS, k.method, *args)
        return self._outcome(receipt, None)

    def vote(self, account: LocalAccount, proposal_id: int, support: bool) -> dict[str, Any]:
        receipt = self.transact(account, GOVERNANCE_ADDRESS, "vote", proposal_id, support)
        return self._outcome(receipt, proposal_id)

    def revoke(self, account: LocalAccount, proposal_id: int) -> dict[str, Any]:
        receipt = self.transact(account, GOVERNANCE_ADDRESS, "revoke", proposal_id)
        return self._outcome(receipt, proposal_id)

    def regulator_freeze(
        self, account: LocalAccount, target: str, frozen: bool = True
    ) -> dict[str, Any]:
        """A regulator freezes (or unfreezes) an account or contract directly, without a vote."""
        name = "freeze" if frozen else "unfreeze"
        receipt = self.transact(account, PERMISSIONS_ADDRESS, name, address_bytes(target))
        return self._outcome(receipt, None)

    # --- one method per proposal kind ----------------------------------------------------------

    def propose_admit_member(
        self,
        account: LocalAccount,
        name: str,
        tier: str,
        accounts: list[str],
        node_ids: list[str] = (),  # type: ignore[assignment]
        weight: int | None = None,
    ) -> dict[str, Any]:
        if tier not in TIERS:
            raise ConfigError(f"tier must be one of {', '.join(TIERS)}")
        if weight is None:
            weight = 0 if tier == "observer" else 1
        return self.propose(
            account,
            "admit-member",
            name,
            tier,
            weight,
            [address_bytes(a) for a in accounts],
            [node_id_bytes(n) for n in node_ids],
        )

    def propose_suspend_member(self, account: LocalAccount, member: str | int) -> dict[str, Any]:
        return self.propose(account, "suspend-member", self.member_id(member))

    def propose_reinstate_member(self, account: LocalAccount, member: str | int) -> dict[str, Any]:
        return self.propose(account, "reinstate-member", self.member_id(member))

    def propose_expel_member(self, account: LocalAccount, member: str | int) -> dict[str, Any]:
        return self.propose(account, "expel-member", self.member_id(member))

    def propose_add_validator(
        self, account: LocalAccount, pub_key: str, power: int, member: str | int | None = None
    ) -> dict[str, Any]:
        """Add a validator; naming its `member` records it as theirs (add-member-validator),
        so expelling that member removes it."""
        if member is not None:
            return self.propose(account, "add-member-validator", self.member_id(member),
                                pub_key_bytes(pub_key), power)
        return self.propose(account, "add-validator", pub_key_bytes(pub_key), power)

    def propose_remove_validator(self, account: LocalAccount, pub_key: str) -> dict[str, Any]:
        return self.propose(account, "remove-validator", pub_key_bytes(pub_key))

    def propose_admit_node(
        self, account: LocalAccount, member: str | int, node_id: str
    ) -> dict[str, Any]:
        return self.propose(account, "admit-node", self.member_id(member), node_id_bytes(node_id))

    def propose_remove_node(self, account: LocalAccount, node_id: str) -> dict[str, Any]:
        return self.propose(account, "remove-node", node_id_bytes(node_id))

    def propose_grant_role(self, account: LocalAccount, target: str, role: str) -> dict[str, Any]:
        return self.propose(account, "grant-role", address_bytes(target), role)

    def propose_revoke_role(self, account: LocalAccount, target: str, role: str) -> dict[str, Any]:
        return self.propose(account, "revoke-role", address_bytes(target), role)

    def propose_elect_officer(
        self, account: LocalAccount, office: str, holder: str, term_blocks: int
    ) -> dict[str, Any]:
        return self.propose(account, "elect-officer", office, address_bytes(holder), term_blocks)

    def propose_form_task_force(
        self, account: LocalAccount, name: str, charter: str, lead: str, members: list[str]
    ) -> dict[str, Any]:
        return self.propose(
            account,
            "form-taskforce",
            name,
            charter,
            address_bytes(lead),
            [address_bytes(m) for m in members],
        )

    def propose_set_task_force_members(
        self, account: LocalAccount, name: str, lead: str, members: list[str]
    ) -> dict[str, Any]:
        return self.propose(
            account,
            "set-taskforce-members",
            name,
            address_bytes(lead),
            [address_bytes(m) for m in members],
        )

    def propose_dissolve_task_force(self, account: LocalAccount, name: str) -> dict[str, Any]:
        return self.propose(account, "dissolve-taskforce", name)

    def propose_change_rule(
        self, account: LocalAccount, kind: str, participation: int, win_rate: int, period: int
    ) -> dict[str, Any]:
        return self.propose(account, "change-rule", kind, participation, win_rate, period)

    def propose_freeze(self, account: LocalAccount, target: str) -> dict[str, Any]:
        return self.propose(account, "freeze", address_bytes(target))

    def propose_unfreeze(self, account: LocalAccount, target: str) -> dict[str, Any]:
        return self.propose(account, "unfreeze", address_bytes(target))

    def propose_set_deploy_allowlist(
        self, account: LocalAccount, accounts: list[str]
    ) -> dict[str, Any]:
        return self.propose(account, "set-deploy-allowlist", [address_bytes(a) for a in accounts])

    def propose_app_call(self, account: LocalAccount, contract: str | bytes,
                         data: bytes) -> dict[str, Any]:
        """Propose that Governance call a finance service's contract (`data`: the ABI-encoded
        call, e.g. from `consortium.apps.registry`); refused now if the call would fail."""
        return self.propose(account, "app-call", address_bytes(contract), bytes(data))


__all__ = ["GovernanceClient", "address_bytes", "node_id_bytes", "pub_key_bytes"]
