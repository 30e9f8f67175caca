"""`PrivacyClient`: privacy groups from an application (docs/privacy.md). Group changes are
public transactions of the member's account to the Privacy contract (the node prepares the
keys: `priv_createPrivacyGroup`, `priv_proposeMembersChange`); private transactions are
signed with the group's chain id and private nonce, handed to the member's own node
(`priv_distributeRawTransaction`) and waited for until the node has executed them."""

from __future__ import annotations

import time
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3

from consortium.errors import ExecutionReverted, NetworkError, TxError
from consortium.sdk.client import ConsortiumClient, TxFailed
from consortium.sdk.credentials import ApiCredentials

PRIVACY_ADDRESS = "0x" + (0x1004).to_bytes(20, "big").hex()
PRIVATE_GAS = 3_000_000  # a private transaction's gas when not given (no priv_estimateGas)


def _calldata(signature: str, types: list[str], args: list[Any]) -> bytes:
    return keccak(signature.encode())[:4] + abi_encode(types, args)


def _group_bytes(group_id: str) -> bytes:
    raw = bytes.fromhex(group_id.removeprefix("0x"))
    if len(raw) != 32:
        raise TxError(f"{group_id!r} is not a privacy group id (32 bytes, 0x…)")
    return raw


def _block_tag(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


class PrivacyClient:
    """Privacy groups through one member's node."""

    def __init__(self, rpc_url: str, timeout: float = 30.0,
                 credentials: ApiCredentials | None = None) -> None:
        self.client = ConsortiumClient(rpc_url, timeout, credentials)
        self._chain_ids: dict[str, int] = {}

    # --- JSON-RPC -----------------------------------------------------------------------------

    def rpc(self, method: str, *params: Any) -> Any:
        """One call; its result, or a TxError with the node's message."""
        return self.client.request(method, *params)

    def _public(self, account: LocalAccount, data: bytes, wait: bool = True) -> dict[str, Any]:
        receipt = self.client.send(account, {"to": Web3.to_checksum_address(PRIVACY_ADDRESS),
                                             "data": data}, wait=wait)
        return {"txHash": Web3.to_hex(receipt.get("transactionHash")),
                "block": receipt.get("blockNumber")}

    # --- the node and groups ------------------------------------------------------------------

    def node_key(self) -> dict[str, Any]:
        """{publicKey, address (the node account), member, memberName, registered}."""
        return dict(self.rpc("priv_getNodeKey"))

    def register_node(self, account: LocalAccount) -> dict[str, Any]:
        """Register this node's privacy key for the account's member (Privacy.registerNode)."""
        key = dict(self.rpc("priv_proveNodeKey", account.address))  # with the proof for it
        public = bytes.fromhex(key["publicKey"][2:])
        proof = bytes.fromhex(key["signature"][2:])
        out = self._public(account, _calldata("registerNode(bytes,bytes)", ["bytes", "bytes"],
                                              [public, proof]))
        return {**out, "nodeAccount": key["address"], "publicKey": key["publicKey"]}

    def create_group(self, account: LocalAccount, name: str, members: list[str],
                     group_id: str | None = None) -> dict[str, Any]:
        """Found a group (the account's member among `members`: accounts or member names);
        pending until every other founder joins. {privacyGroupId, chainId, txHash, block}."""
        spec: dict[str, Any] = {"name": name, "members": members}
        if group_id is not None:
            spec["privacyGroupId"] = group_id
        made = self.rpc("priv_createPrivacyGroup", spec)
        out = self._public(account, bytes.fromhex(made["data"][2:]))
        self._chain_ids[made["privacyGroupId"]] = int(made["chainId"], 16)
        return {"privacyGroupId": made["privacyGroupId"], "chainId": int(made["chainId"], 16),
                **out}

    def _require_key(self, group_id: str, doing: str) -> None:
        """Refuse to `doing` a group whose key this member's node opened but found not to
        be the committed one: the member would follow a group it cannot read alike."""
        group = self.group(group_id)
        if group.get("thisNodeIsMember") and group.get("keyProblem"):
            raise TxError(f"not sending: {doing} privacy group {group_id} refused: this "
                          f"member's node says (priv_getPrivacyGroup … keyOpens false): "
                          f"{group['keyProblem']}")

    def join(self, account: LocalAccount, group_id: str) -> dict[str, Any]:
        self._require_key(group_id, "joining")
        return self._public(account, _calldata("joinGroup(bytes32)", ["bytes32"],
                                               [_group_bytes(group_id)]))

    def propose_change(self, account: LocalAccount, group_id: str, add: list[str] | None = None,
                       remove: list[str] | None = None) -> dict[str, Any]:
        """Propose adding/removing members (the new epoch's keys, and the history for those
        added, prepared by this node); applies once every staying member approved."""
        made = self.rpc("priv_proposeMembersChange",
                        {"privacyGroupId": group_id, "add": add or [], "remove": remove or []})
        return self._public(account, bytes.fromhex(made["data"][2:]))

    def approve(self, account: LocalAccount, group_id: str) -> dict[str, Any]:
        self._require_key(group_id, "approving the change of")
        return self._public(account, _calldata("approveChange(bytes32)", ["bytes32"],
                                               [_group_bytes(group_id)]))

    def group(self, group_id: str) -> dict[str, Any]:
        return dict(self.rpc("priv_getPrivacyGroup", group_id))

    def find_groups(self, members: list[str]) -> list[dict[str, Any]]:
        """The groups holding every one of `members` (accounts or member names)."""
        return list(self.rpc("priv_findPrivacyGroup", members))

    def chain_id(self, group_id: str) -> int:
        if group_id not in self._chain_ids:
            self._chain_ids[group_id] = int(self.rpc("priv_getChainId", group_id), 16)
        return self._chain_ids[group_id]

    # --- private transactions -----------------------------------------------------------------

    def send_private(self, account: LocalAccount, group_id: str, to: str | None, data: bytes,
                     *, gas: int = PRIVATE_GAS, wait: bool = True,
                     timeout: float = 60) -> dict[str, Any]:
        """Sign with the group's chain id and the account's private nonce, distribute, and
        wait for the private receipt (TxFailed if it reverted)."""
        nonce = int(self.rpc("priv_getTransactionCount", account.address, group_id), 16)
        tx: dict[str, Any] = {"chainId": self.chain_id(group_id), "nonce": nonce, "gas": gas,
                              "value": 0, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
                              "data": data}
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        raw = bytes(account.sign_transaction(tx).raw_transaction)
        tx_hash = str(self.rpc("priv_distributeRawTransaction", "0x" + raw.hex(), group_id))
        if not wait:
            return {"transactionHash": tx_hash}
        receipt = self.wait_receipt(tx_hash, timeout)
        if int(receipt["status"], 16) != 1:
            raise TxFailed(f"private transaction {tx_hash} reverted in block "
                           f"{int(receipt['blockNumber'], 16)}")
        return receipt

    def wait_receipt(self, tx_hash: str, timeout: float = 60) -> dict[str, Any]:
        """The private receipt once this node executed the transaction; a rejection is a
        TxError with its reason."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.rpc("priv_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return dict(receipt)
            if time.monotonic() > deadline:
                status = self.status(tx_hash)
                raise NetworkError(f"no private receipt for {tx_hash} after {timeout:.0f}s "
                                   f"(status {status['status']})")
            time.sleep(0.1)

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        found = self.rpc("priv_getTransactionReceipt", tx_hash)
        return None if found is None else dict(found)

    def status(self, tx_hash: str) -> dict[str, Any]:
        return dict(self.rpc("priv_getTransactionStatus", tx_hash))

    def deploy(self, account: LocalAccount, group_id: str, abi: list[dict[str, Any]],
               bytecode: bytes, *args: Any, gas: int = PRIVATE_GAS) -> tuple[str, dict[str, Any]]:
        """Deploy a contract in the group's private state: (its address, the receipt)."""
        factory = self.client.w3.eth.contract(abi=abi, bytecode=bytecode)
        data = factory.constructor(*args).data_in_transaction
        receipt = self.send_private(account, group_id, None, bytes.fromhex(data[2:]), gas=gas)
        return str(receipt["contractAddress"]), receipt

    def transact(self, account: LocalAccount, group_id: str, address: str,
                 abi: list[dict[str, Any]], fn: str, *args: Any,
                 gas: int = PRIVATE_GAS) -> dict[str, Any]:
        data = self.client.contract(address, abi).encode_abi(fn, args=list(args))
        return self.send_private(account, group_id, address, bytes.fromhex(data[2:]), gas=gas)

    def call(self, group_id: str, address: str, abi: list[dict[str, Any]], fn: str, *args: Any,
             block: int | str = "latest") -> Any:
        """A view of a private contract, decoded (one output: the value; several: a tuple)."""
        contract = self.client.contract(address, abi)
        data = contract.encode_abi(fn, args=list(args))
        try:
            out = self.rpc("priv_call", group_id, {"to": address, "data": data},
                           _block_tag(block))
        except TxError as exc:
            if exc.message.startswith("execution reverted"):
                raise ExecutionReverted(exc.message) from None
            raise
        outputs = next(item for item in abi if item.get("type") == "function"
                       and item.get("name") == fn)["outputs"]
        values = abi_decode([o["type"] for o in outputs], bytes.fromhex(out[2:]))
        return values[0] if len(values) == 1 else tuple(values)

    def get_logs(self, group_id: str, criteria: dict[str, Any] | None = None
                 ) -> list[dict[str, Any]]:
        """priv_getLogs: eth_getLogs' filter (fromBlock, toBlock, address, topics)."""
        return list(self.rpc("priv_getLogs", group_id, criteria or {"fromBlock": "0x0"}))

    def root(self, group_id: str, block: int | str = "latest") -> dict[str, Any]:
        """{height, root, attested: {root, attestations, mismatch}}."""
        return dict(self.rpc("priv_getStateRoot", group_id, _block_tag(block)))


__all__ = ["PRIVACY_ADDRESS", "PrivacyClient"]
