"""`GovernanceClient`: the consortium's governance from Python, over a node's JSON-RPC.

Reads are `SystemReader`'s (eth_calls). Writes are checked first with eth_estimateGas (a
refusal raises `ExecutionReverted` with the contract's reason and nothing is sent), sent with
room for a proposal's execution, and answer what happened:

    gov = GovernanceClient("http://127.0.0.1:8545")
    out = gov.propose_grant_role(signer, "0x…", "regulator")   # {"proposal": 3, "status": …}
    gov.vote(other_signer, out["proposal"], True)               # "executed" once it passes
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from consortium.errors import ConfigError, known
from consortium.evm.chain_rules import CHAIN_RULES, RULES_ADDRESS
from consortium.evm.records import account_hex
from consortium.sdk.client import ConsortiumClient
from consortium.system.governance import Governance
from consortium.system.model import (
    GOVERNANCE_ADDRESS,
    KIND_BY_NAME,
    PERMISSIONS_ADDRESS,
    TIERS,
    ProposalKind,
)
from consortium.system.reader import CALLS, SystemReader

# Gas on top of the estimate: a vote may become the one that passes (and executes) its
# proposal if another vote lands first. Gas is free (price 0); the block limit is 1e9.
EXECUTION_GAS = 5_000_000
_CREATED = Governance.ProposalCreated.topic0
_READS = frozenset({"members", "member", "proposals", "proposal", "officers", "task_forces",
                    "task_force", "rules", "roles", "validators", "nodes"})


def address_bytes(value: str | bytes) -> bytes:
    """A 0x account address (any case; `account_hex` is the one parser) as 20 bytes."""
    if isinstance(value, bytes) and len(value) == 20:
        return value
    return bytes.fromhex(account_hex(value)[2:])


def _fixed(value: str | bytes, size: int, what: str, parse: Callable[[str], bytes]) -> bytes:
    """`size` bytes as given, or parsed from text (else a ConfigError: not `what`)."""
    try:
        raw = value if isinstance(value, bytes) else parse(value.strip())
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise ConfigError(f"{value!r} is not {what}")
    return raw


def node_id_bytes(value: str | bytes) -> bytes:
    """A CometBFT node id (40 hex digits, as in ID@HOST:PORT) as 20 bytes."""
    return _fixed(value, 20, "a node id (40 hex digits)",
                  lambda text: bytes.fromhex(text.lower().removeprefix("0x")))


def pub_key_bytes(value: str | bytes) -> bytes:
    """An ed25519 consensus public key, base64 (as CometBFT prints it) or 0x hex."""
    return _fixed(value, 32, "an ed25519 public key (base64 or 0x hex, 32 bytes)",
                  lambda text: bytes.fromhex(text[2:]) if text.lower().startswith("0x")
                  else base64.b64decode(text, validate=True))


def call_bytes(value: str | bytes) -> bytes:
    """ABI-encoded call data, as bytes or 0x hex."""
    try:
        return bytes(value) if isinstance(value, bytes) else bytes.fromhex(
            value.strip().removeprefix("0x"))
    except ValueError:
        raise ConfigError(f"--data {value!r} is not hex") from None


def _same(value: Any) -> Any:
    return value


def basis_points(value: str | int, what: str) -> int:
    """Basis points from 6667, "6667" or a percentage like "66.67%"."""
    text = str(value).strip()
    try:
        if text.endswith("%"):
            points = Decimal(text[:-1]) * 100
            if points != points.to_integral_value():
                raise ConfigError(f"{what} {text} is finer than a basis point (0.01%)")
            return int(points)
        return int(text)
    except (InvalidOperation, ValueError):
        raise ConfigError(
            f"{what} must be basis points (6667) or a percentage (66.67%), got {text!r}"
        ) from None


def _addresses(values: list[str]) -> list[bytes]:
    return [address_bytes(v) for v in values]


# how a user's value becomes a proposal's ABI argument, by the parameter's ABI type (a
# "member" uint256 is an id, name or account, resolved on chain; others go as given)
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "address": address_bytes, "address[]": _addresses, "bytes": call_bytes,
    "bytes20": node_id_bytes, "bytes32": pub_key_bytes}
_RATES = {"participation": "--participation", "winRate": "--win-rate"}  # change-rule's
# propose_<name>(account, *values), one per kind (admit-member and add-validator: below)
_PROPOSALS = {k.client: k for k in KIND_BY_NAME.values()}


class GovernanceClient:
    """Governance, Permissions and Nodes through one node's API: the reader's reads
    (`members()`, `proposal(id)` …) and one `propose_<kind>(account, …)` per kind."""

    def __init__(self, client: ConsortiumClient | str) -> None:
        self.client = client if isinstance(client, ConsortiumClient) else ConsortiumClient(client)
        self.read = SystemReader(self.client.call_data)

    def __getattr__(self, name: str) -> Any:
        if name in _READS:
            return getattr(self.read, name)
        if name in _PROPOSALS:
            return partial(self._propose_values, _PROPOSALS[name])
        raise AttributeError(name)

    def chain_rules(self) -> dict[str, int]:
        """The version of each chain rule the chain runs (`consortium.evm.chain_rules`: the
        natives' gas schedule, the EVM clock; unset: 1), from their slots in storage."""
        where = Web3.to_checksum_address(RULES_ADDRESS)

        def read(_: bytes, slot: int) -> int:
            return int.from_bytes(bytes(self.client.eth("get_storage_at", where, slot)), "big")
        return {rule.key: rule.read(read) for rule in CHAIN_RULES}

    def member_id(self, ref: str | int) -> int:
        member_id = self.read.member_id(ref)
        if member_id == 0 or self.read.member(member_id) is None:
            raise ConfigError(f"no member {ref!r} (give its id, its name or one of its accounts)")
        return member_id

    # --- sending -------------------------------------------------------------------------------

    def transact(self, account: LocalAccount, to: bytes, name: str, *args: Any) -> dict[str, Any]:
        """Call a Governance or Permissions method in a transaction and wait for its receipt.
        Raises ExecutionReverted (with the contract's reason) if it would revert."""
        contract = "Governance" if to == GOVERNANCE_ADDRESS else "Permissions"
        data = CALLS[contract].encode(name, *args)
        gas = self.client.estimate(account, to, data) + EXECUTION_GAS
        sent = self.client.send_data(account, to, data, gas=gas)
        # why: the same call on the state after its block (unchanged)
        return self.client.confirm(sent, to, data, replay_after=True)[0]

    def _outcome(self, receipt: dict[str, Any], proposal_id: int | None) -> dict[str, Any]:
        for log in receipt["logs"] if proposal_id is None else ():
            if (address_bytes(str(log["address"])) == GOVERNANCE_ADDRESS
                    and bytes(log["topics"][0]) == _CREATED):
                proposal_id = int.from_bytes(bytes(log["topics"][1]), "big")
        out: dict[str, Any] = {"txHash": Web3.to_hex(receipt["transactionHash"]),
                               "block": receipt["blockNumber"]}
        if proposal_id is None:
            return out
        proposal = SystemReader(lambda to, data: self.client.call_data(
            to, data, receipt["blockNumber"])).proposal(proposal_id)
        return {"proposal": proposal_id, "kind": proposal["kind"] if proposal else None,
                "status": proposal["status"] if proposal else None, **out}

    def propose(self, account: LocalAccount, kind: str, *args: Any) -> dict[str, Any]:
        """Propose (`kind` as in `model.PROPOSAL_KINDS`, args as its ABI types want them):
        answers {"proposal": id, "kind", "status", "txHash", "block"}."""
        k = known(KIND_BY_NAME.get(kind),
                  f"unknown proposal kind {kind!r} (kinds: {', '.join(KIND_BY_NAME)})")
        return self._outcome(self.transact(account, GOVERNANCE_ADDRESS, k.method, *args), None)

    def _propose_values(self, kind: ProposalKind, account: LocalAccount,
                        *values: Any) -> dict[str, Any]:
        if len(values) != len(kind.types):
            raise TypeError(f"propose {kind.name} takes {len(kind.types)} values, "
                            f"got {len(values)}")
        args = [self.member_id(v) if name == "member"
                else basis_points(v, _RATES[name]) if name in _RATES
                else _PARSERS.get(t, _same)(v)
                for name, t, v in zip(kind.params, kind.types, values, strict=True)]
        return self.propose(account, kind.name, *args)

    def vote(self, account: LocalAccount, proposal_id: int, support: bool | str) -> dict[str, Any]:
        """Vote yes (True, "yes") or no (False, "no")."""
        if isinstance(support, str):
            if support.lower() not in ("yes", "no"):
                raise ConfigError(f"vote yes or no, not {support!r}")
            support = support.lower() == "yes"
        receipt = self.transact(account, GOVERNANCE_ADDRESS, "vote", proposal_id, support)
        return self._outcome(receipt, proposal_id)

    def revoke(self, account: LocalAccount, proposal_id: int) -> dict[str, Any]:
        receipt = self.transact(account, GOVERNANCE_ADDRESS, "revoke", proposal_id)
        return self._outcome(receipt, proposal_id)

    def regulator_freeze(self, account: LocalAccount, target: str,
                         frozen: bool = True) -> dict[str, Any]:
        """A regulator freezes (or unfreezes) an account or contract directly, without a vote."""
        name = "freeze" if frozen else "unfreeze"
        receipt = self.transact(account, PERMISSIONS_ADDRESS, name, address_bytes(target))
        return self._outcome(receipt, None)

    def propose_admit_member(self, account: LocalAccount, name: str, tier: str,
                             accounts: list[str], node_ids: list[str] = (),  # type: ignore[assignment]
                             weight: int | None = None) -> dict[str, Any]:
        if tier not in TIERS:
            raise ConfigError(f"tier must be one of {', '.join(TIERS)}")
        weight = (0 if tier == "observer" else 1) if weight is None else weight
        return self.propose(account, "admit-member", name, tier, weight, _addresses(accounts),
                            [node_id_bytes(n) for n in node_ids])

    def propose_add_validator(self, account: LocalAccount, pub_key: str, power: int,
                              member: str | int | None = None) -> dict[str, Any]:
        """Add a validator; naming its `member` records it as theirs (add-member-validator),
        so expelling that member removes it."""
        if member is not None:
            return self.propose(account, "add-member-validator", self.member_id(member),
                                pub_key_bytes(pub_key), power)
        return self.propose(account, "add-validator", pub_key_bytes(pub_key), power)


__all__ = ["GovernanceClient", "address_bytes", "node_id_bytes", "pub_key_bytes"]
