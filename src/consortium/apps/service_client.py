"""`ServiceClient`: one service's native contract over a node's JSON-RPC, the same for every
service. Reads are its reader's (`reads` names those served as the client's own methods);
a write is checked with eth_estimateGas first (a refusal raises `ExecutionReverted` with the
contract's reason, and nothing is sent), sent, awaited and answered as what happened:

    {"object": "query", "id": 3, "from": "accepted", "state": "delivered", "reason": "…",
     "txHash": "0x…", "block": 41, "transitions": [every transition of the transaction]}
"""

from __future__ import annotations

from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from web3 import Web3

from consortium.apps.service import ServiceReader
from consortium.apps.surface import account_hex, decode_log, encoded, hash_bytes
from consortium.errors import ConsortiumError, ExecutionReverted, as_config_error
from consortium.evm.native import EventSpec, NativeCalls
from consortium.sdk.client import ConsortiumClient

GAS_MARGIN = 200_000  # state may move between the estimate and the block (index sets)
NO_REASON = "execution reverted"  # a reverted transaction's error when no replay says why


def revert_reason(exc: ConsortiumError) -> str:
    """The contract's reason in a refused or reverted call's error (else its message)."""
    marker = "execution reverted: "
    return exc.message.split(marker, 1)[1] if marker in exc.message else exc.message


class ServiceClient:
    """Subclasses set `reader` (its `address`, `calls` and `histories`: event -> the kind
    of object it moves; or set those three themselves) and `reads`: reader methods served
    as the client's (a reader's ValueError raised as ConfigError)."""

    address: bytes
    calls: NativeCalls
    transitions: dict[str, EventSpec]
    reader: ClassVar[type[ServiceReader] | None] = None
    reads: ClassVar[tuple[str, ...]] = ()
    read: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.reads:
            if name not in cls.__dict__:
                def forward(self: ServiceClient, *args: Any, _name: str = name,
                            **named: Any) -> Any:
                    with as_config_error():
                        return getattr(self.read, _name)(*args, **named)

                forward.__name__ = forward.__qualname__ = name
                forward.__doc__ = getattr(cls.reader, name, None).__doc__
                setattr(cls, name, forward)

    def __init__(self, client: ConsortiumClient | str) -> None:
        self.client = client if isinstance(client, ConsortiumClient) else ConsortiumClient(client)
        if self.reader is not None:
            self.address, self.calls = self.reader.address, self.reader.calls
            self.transitions = self.reader.histories
            self.read = self.reader(self._call, self._logs)
        self._kinds = {spec.topic0: kind for kind, spec in self.transitions.items()}

    def _call(self, to: bytes, data: bytes, block: Any = "latest") -> bytes:
        return self.client.call_data(to, data, block)

    def _logs(self, address: bytes, topics: list[bytes | None]) -> list[dict[str, Any]]:
        logs = self.client.eth("get_logs", {
            "address": Web3.to_checksum_address(address), "fromBlock": 0, "toBlock": "latest",
            "topics": [None if t is None else Web3.to_hex(t) for t in topics],
        })
        return [{"block": int(log["blockNumber"]), "index": int(log["logIndex"]),
                 "txHash": Web3.to_hex(log["transactionHash"]),
                 "topics": [bytes(t) for t in log["topics"]], "data": bytes(log["data"])}
                for log in logs]

    def height(self) -> int:
        """The latest block's height."""
        return int(self.client.eth("get_block_number"))

    def check(self, account: LocalAccount, name: str, *args: Any) -> int:
        """Would `account` calling `name(*args)` succeed now? Answers the gas estimate, or
        raises ExecutionReverted with the contract's reason."""
        return self.client.estimate(account, self.address, encoded(self.calls, name, *args))

    def submit(self, account: LocalAccount, name: str, *args: Any, gas: int,
               nonce: int | None = None) -> bytes:
        """Sign and send without waiting; answers the transaction hash."""
        return self.client.send_data(account, self.address, encoded(self.calls, name, *args),
                                     gas=gas, nonce=nonce)

    def receipt(self, tx_hash: bytes, name: str, args: tuple[Any, ...],
                timeout: float = 60) -> tuple[dict[str, Any], int]:
        """Wait for a sent call's receipt: it and its block number, or ExecutionReverted with
        why the call failed: the same call replayed on the state before its block, else (that
        replay passes: what failed was the block's own height, an order's expiry say, or a
        transaction before it in the block) on the state of its block, at its height."""
        data = encoded(self.calls, name, *args)
        try:
            return self.client.confirm(tx_hash, self.address, data, timeout)
        except ExecutionReverted as err:
            if not err.message.endswith(f": {NO_REASON}"):
                raise
            receipt = self.client.wait_receipt(tx_hash, timeout)
            number = int(receipt["blockNumber"])
            raise self.client.reverted(tx_hash, number, lambda: self.client.call_data(
                self.address, data, number, receipt["from"])) from None

    def outcome(self, tx_hash: bytes, name: str, args: tuple[Any, ...],
                timeout: float = 60) -> dict[str, Any]:
        """Wait for a sent call's receipt: what happened, or ExecutionReverted with why."""
        receipt, number = self.receipt(tx_hash, name, args, timeout)
        transitions = []
        for log in receipt["logs"]:
            topics = [bytes(t) for t in log["topics"]]
            kind = self._kinds.get(topics[0])
            if kind is not None:
                e = decode_log(self.transitions[kind], topics, log["data"])
                transitions.append({"object": kind, "id": self.object_id(kind, topics[1]),
                                    "actor": e["actor"], "from": e["fromState"],
                                    "state": e["toState"], "reason": e["reason"]})
        out = {k: transitions[-1][k] for k in ("object", "id", "from", "state", "reason")
               } if transitions else {}
        return out | {"txHash": Web3.to_hex(tx_hash), "block": number,
                      "transitions": transitions}

    def object_id(self, kind: str, topic: bytes) -> int | str:
        """An object's id from its transition's topic (a number unless overridden)."""
        return int.from_bytes(topic, "big")

    def transact(self, account: LocalAccount, name: str, *args: Any) -> dict[str, Any]:
        """Check, send and wait for one call of the contract."""
        gas = self.check(account, name, *args) + GAS_MARGIN
        return self.outcome(self.submit(account, name, *args, gas=gas), name, args)

    def propose(self, account: LocalAccount, name: str, *args: Any) -> dict[str, Any]:
        """Propose that Governance make this call (an app-call proposal; members then vote);
        refused now, with the contract's reason, if the call would fail."""
        from consortium.system.client import GovernanceClient

        out: dict[str, Any] = GovernanceClient(self.client).propose_app_call(
            account, self.address, encoded(self.calls, name, *args))
        return out


__all__ = ["GAS_MARGIN", "ServiceClient", "account_hex", "decode_log", "hash_bytes",
           "revert_reason"]
