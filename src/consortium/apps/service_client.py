"""`ServiceClient`: what the credit and registry clients share — calling a finance service's
native contract over a node's JSON-RPC.

Reads are eth_calls; histories read the contract's transition events (eth_getLogs). Writes
sign a transaction with the caller's account, check it first with eth_estimateGas (a refusal
raises `ExecutionReverted` with the contract's reason, and nothing is sent), send it, wait for
the receipt and answer what happened:

    {"object": "query", "id": 3, "from": "accepted", "state": "delivered", "reason": "…",
     "txHash": "0x…", "block": 41, "transitions": [every transition of the transaction]}

(`id`, `from`, `state` and `reason` are those of the transaction's last transition: the
object the call wrote.)
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from consortium.errors import ConfigError, ExecutionReverted
from consortium.evm.native import EventSpec, NativeCalls
from consortium.sdk.client import ConsortiumClient

GAS_MARGIN = 200_000  # state may move between the estimate and the block (index sets)


def account_hex(value: str) -> str:
    """A 0x account address, lower-case; ConfigError otherwise."""
    text = value.strip().lower()
    if not text.startswith("0x") or len(text) != 42:
        raise ConfigError(f"{value!r} is not a 0x account address")
    try:
        int(text, 16)
    except ValueError:
        raise ConfigError(f"{value!r} is not a 0x account address") from None
    return text


def hash_bytes(value: str | bytes, what: str = "hash") -> bytes:
    """A 32-byte hash from 0x hex (64 digits) or bytes; ConfigError otherwise."""
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = bytes.fromhex(value.strip().lower().removeprefix("0x"))
        except ValueError:
            raw = b""
    if len(raw) != 32:
        raise ConfigError(f"{value!r} is not a {what} (0x and 64 hex digits)")
    return raw


class ServiceClient:
    """One finance service's native contract through one node's API. Subclasses set
    `address`, `calls` and `transitions` (event -> the kind of object it moves)."""

    address: bytes
    calls: NativeCalls
    transitions: dict[str, EventSpec]

    def __init__(self, client: ConsortiumClient | str) -> None:
        self.client = client if isinstance(client, ConsortiumClient) else ConsortiumClient(client)
        self._kinds = {spec.topic0: kind for kind, spec in self.transitions.items()}

    # --- reads -------------------------------------------------------------------------------

    def _call(self, to: bytes, data: bytes, block: Any = "latest") -> bytes:
        w3 = self.client.w3
        tx = {"to": Web3.to_checksum_address(to), "data": Web3.to_hex(data)}
        return bytes(self.client._rpc(lambda: w3.eth.call(tx, block)))  # type: ignore[arg-type]

    def _logs(self, address: bytes, topics: list[bytes | None]) -> list[dict[str, Any]]:
        logs = self.client._rpc(lambda: self.client.w3.eth.get_logs({
            "address": Web3.to_checksum_address(address),
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": [None if t is None else Web3.to_hex(t) for t in topics],
        }))
        return [{"block": int(log["blockNumber"]), "txHash": Web3.to_hex(log["transactionHash"]),
                 "topics": [bytes(t) for t in log["topics"]], "data": bytes(log["data"])}
                for log in logs]

    # --- sending -----------------------------------------------------------------------------

    def _tx(self, account: LocalAccount, name: str, *args: Any) -> dict[str, Any]:
        return {
            "to": Web3.to_checksum_address(self.address),
            "data": Web3.to_hex(self.calls.encode(name, *args)),
            "from": account.address,
        }

    def check(self, account: LocalAccount, name: str, *args: Any) -> int:
        """Would `account` calling `name(*args)` succeed now? Answers the gas estimate, or
        raises ExecutionReverted with the contract's reason."""
        tx = self._tx(account, name, *args)
        return int(self.client._rpc(lambda: self.client.w3.eth.estimate_gas(tx)))  # type: ignore[arg-type]

    def dry_run(self, account: LocalAccount | str, name: str, *args: Any) -> Any:
        """The call's answer as `account` (an account or an address) without sending it;
        ExecutionReverted with the reason if it would fail."""
        sender = account if isinstance(account, str) else account.address
        tx = {"to": Web3.to_checksum_address(self.address),
              "data": Web3.to_hex(self.calls.encode(name, *args)),
              "from": Web3.to_checksum_address(sender)}
        out = bytes(self.client._rpc(lambda: self.client.w3.eth.call(tx)))  # type: ignore[arg-type]
        return self.calls.decode(name, out) if self.calls.specs[name].outputs else None

    def submit(self, account: LocalAccount, name: str, *args: Any, gas: int,
               nonce: int | None = None) -> bytes:
        """Sign and send without waiting; answers the transaction hash."""
        tx = self._tx(account, name, *args)
        tx["gas"] = gas
        if nonce is not None:
            tx["nonce"] = nonce
        sent = self.client.send(account, tx, wait=False)
        return bytes(sent["transactionHash"])

    def receipt(self, tx_hash: bytes, name: str, args: tuple[Any, ...],
                timeout: float = 60) -> tuple[dict[str, Any], int]:
        """Wait for a sent call's receipt: it and its block number, or ExecutionReverted with
        why the call failed."""
        receipt = self.client.wait_receipt(tx_hash, timeout)
        number = int(receipt["blockNumber"])
        if receipt["status"] != 1:
            reason = self._replay_reason(receipt, name, args, number)
            raise ExecutionReverted(
                f"transaction {Web3.to_hex(tx_hash)} reverted in block {number}: {reason}"
            )
        return receipt, number

    def outcome(self, tx_hash: bytes, name: str, args: tuple[Any, ...],
                timeout: float = 60) -> dict[str, Any]:
        """Wait for a sent call's receipt: what happened, or ExecutionReverted with why."""
        receipt, number = self.receipt(tx_hash, name, args, timeout)
        transitions = []
        for log in receipt["logs"]:
            topics = [bytes(t) for t in log["topics"]]
            kind = self._kinds.get(topics[0])
            if kind is None:
                continue
            old, new, reason = abi_decode(["string", "string", "string"], bytes(log["data"]))
            transitions.append({
                "object": kind,
                "id": self.object_id(kind, topics[1]),
                "actor": "0x" + topics[2][12:].hex(),
                "from": old,
                "state": new,
                "reason": reason,
            })
        out: dict[str, Any] = {}
        if transitions:
            last = transitions[-1]
            out = {k: last[k] for k in ("object", "id", "from", "state", "reason")}
        out.update({"txHash": Web3.to_hex(tx_hash), "block": number,
                    "transitions": transitions})
        return out

    def object_id(self, kind: str, topic: bytes) -> int | str:
        """An object's id from its transition's topic (a number unless overridden)."""
        return int.from_bytes(topic, "big")

    def _replay_reason(self, receipt: dict[str, Any], name: str, args: tuple[Any, ...],
                       number: int) -> str:
        """Why a sent transaction reverted: the same call on the state before its block."""
        tx = {
            "to": Web3.to_checksum_address(self.address),
            "from": receipt["from"],
            "data": Web3.to_hex(self.calls.encode(name, *args)),
        }
        try:
            self.client._rpc(lambda: self.client.w3.eth.call(tx, number - 1))  # type: ignore[arg-type]
        except ExecutionReverted as err:
            return err.message
        except Exception:
            pass
        return "execution reverted"

    def transact(self, account: LocalAccount, name: str, *args: Any) -> dict[str, Any]:
        """Check, send and wait for one call of the contract."""
        gas = self.check(account, name, *args) + GAS_MARGIN
        return self.outcome(self.submit(account, name, *args, gas=gas), name, args)

    def height(self) -> int:
        """The latest block's height."""
        return int(self.client._rpc(lambda: self.client.w3.eth.block_number))

    def propose(self, account: LocalAccount, name: str, *args: Any) -> dict[str, Any]:
        """Propose that Governance make this call (an app-call proposal; members then vote);
        refused now, with the contract's reason, if the call would fail."""
        from consortium.system.client import GovernanceClient

        return GovernanceClient(self.client).propose_app_call(
            account, self.address, self.calls.encode(name, *args)
        )


__all__ = ["GAS_MARGIN", "ServiceClient", "account_hex", "hash_bytes"]
