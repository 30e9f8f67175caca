"""The `priv_` JSON-RPC methods of privacy groups (docs/privacy.md), in Besu's naming where
it fits. A node answers for the groups its member is in (it has nothing else); the
transactions that change groups (createGroup, proposeChange) are answered as calldata for
the member's account to sign, because a node holds no member keys."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from consortium.api import encoding as enc
from consortium.api.encoding import BlockRef, Params
from consortium.api.eth_json import EthReads
from consortium.api.private_submit import PrivateSubmitter, hx
from consortium.api.read_gate import current_budget
from consortium.api.rpc_error import (
    InvalidParams,
    MethodNotFound,
    RpcError,
    call_answer,
)
from consortium.errors import ConsortiumError

# rpc name -> (attribute, how it runs: "ledger" in a worker thread, "engine" on the loop)
PRIVATE_METHODS: dict[str, tuple[str, str]] = {
    "priv_getNodeKey": ("priv_get_node_key", "ledger"),
    "priv_proveNodeKey": ("priv_prove_node_key", "ledger"),
    "priv_createPrivacyGroup": ("priv_create_privacy_group", "ledger"),
    "priv_proposeMembersChange": ("priv_propose_members_change", "ledger"),
    "priv_getPrivacyGroup": ("priv_get_privacy_group", "ledger"),
    "priv_findPrivacyGroup": ("priv_find_privacy_group", "ledger"),
    "priv_distributeRawTransaction": ("priv_distribute_raw_transaction", "engine"),
    "priv_getTransactionStatus": ("priv_get_transaction_status", "ledger"),
    "priv_getTransactionReceipt": ("priv_get_transaction_receipt", "ledger"),
    "priv_call": ("priv_call", "ledger"),
    "priv_getLogs": ("priv_get_logs", "ledger"),
    "priv_getTransactionCount": ("priv_get_transaction_count", "ledger"),
    "priv_getCode": ("priv_get_code", "ledger"),
    "priv_getStateRoot": ("priv_get_state_root", "ledger"),
    "priv_getChainId": ("priv_get_chain_id", "ledger"),
}
# what changes state or queues a transaction: the `submit` scope (api/auth.py)
PRIVATE_SUBMIT_METHODS = frozenset({"priv_distributeRawTransaction", "priv_createPrivacyGroup",
                                    "priv_proposeMembersChange", "priv_proveNodeKey"})
PRIVATE_HEAVY_METHODS = frozenset({"priv_call", "priv_getLogs"})  # through the read gate
STATUS = {0: "none", 1: "pending", 2: "active"}
NOT_A_GROUP = -32000


def _selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


CREATE_GROUP = _selector("createGroup(bytes32,string,address[],bytes[],bytes32)")
PROPOSE_CHANGE = _selector(
    "proposeChange(bytes32,address[],address[],address[],bytes[],bytes[],bytes32)")


def group_id_param(value: Any, where: str) -> bytes:
    return enc.data(value, where, size=32, what="privacy group id")


def _member_ref(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParams(f"{where}: expected an account (0x…) or a member name")
    return value.strip()


class PrivateMethods:
    """The priv_ handlers, mixed into `JsonRpc` (which gives `ledger`, `gate`, `_logs`)."""

    ledger: Any
    gate: Any
    privacy: PrivateSubmitter | None = None

    _logs: Callable[..., list[dict[str, Any]]]  # JsonRpc's (criteria, start, end, ledger)
    _log_filter_param: Callable[[Any, str], Any]  # JsonRpc's eth_getLogs filter parser

    # --- what every method needs -------------------------------------------------------------

    def _submitter(self) -> PrivateSubmitter:
        if self.privacy is None:
            raise MethodNotFound("privacy groups are not enabled on this node")
        return self.privacy

    def _view(self) -> Any:
        try:
            view = self._submitter().privacy_view()
        except ImportError:
            raise MethodNotFound("this node's software has no Privacy contract") from None
        if not view.enabled():
            raise MethodNotFound("privacy groups are not enabled on this chain (its genesis "
                                 "does not name the Privacy contract)")
        return view

    def _group(self, view: Any, group_id: bytes) -> Any:
        group = view.group(group_id)
        if group is None or int(group.status) == 0:
            raise RpcError(f"unknown privacy group {hx(group_id)}", code=NOT_A_GROUP)
        return group

    def _reader(self, group_id: bytes) -> Any:
        """The group's private state on this node, or an error saying why there is none.
        Only while this node's member is in the group: a node whose member left (was
        removed) keeps its store up to its removal, but that copy is frozen there, and
        answering from it as `latest` would give stale balances and nonces as current."""
        submitter = self._submitter()
        view = self._view()
        group = submitter._memo(("group", group_id), lambda: view.group(group_id))
        if group is None or int(group.status) == 0:
            raise RpcError(f"unknown privacy group {hx(group_id)}", code=NOT_A_GROUP)
        mine = submitter._memo(("mine",), lambda: submitter.my_member(view))
        if mine == 0 or mine not in tuple(int(m) for m in group.members):
            raise RpcError(_not_a_member(view, group, mine), code=NOT_A_GROUP)
        reader = submitter.groups.reader(group_id)
        if reader is not None:
            return reader
        when = ("once every founding member has joined" if int(group.status) == 1
                else "after the group's first block")
        raise RpcError(f"privacy group {hx(group_id)} has no private state on this node yet "
                       f"(it is processed {when})", code=NOT_A_GROUP)

    def _member(self, view: Any, ref: str, where: str) -> tuple[int, bytes]:
        """(member id, an account of it) of an account or a member name."""
        if ref.lower().startswith("0x"):
            account = enc.data(ref, where, size=20, what="account")
            member = int(view.member_of_account(account))
            if member == 0:
                raise InvalidParams(f"{where}: {ref} is not a consortium member's account")
            return member, account
        member = int(view.gov.member_named(ref))
        if member == 0:
            raise InvalidParams(f"{where}: no consortium member is named {ref!r}")
        accounts = view.member_accounts(member)
        if not accounts:
            raise InvalidParams(f"{where}: member {ref!r} has no account")
        return member, bytes(accounts[0])

    def _node_key(self, view: Any, member: int, where: str) -> bytes:
        found = view.node_of_member(member)
        if found is None or not found[1]:
            raise InvalidParams(f"{where}: member {_name(view, member)!r} has no "
                                "registered privacy node (consortium privacy register-node)")
        return bytes(found[1])

    def _height(self, reader: Any, ref: BlockRef, where: str) -> int:
        latest = int(reader.latest_height())
        if ref.hash is not None:
            raise InvalidParams(f"{where}: private reads take a block number or tag")
        if ref.number is None:
            return 0 if ref.tag == "earliest" else latest
        if ref.number > latest:
            raise RpcError(f"{where}: block {ref.number} is not processed in this group yet "
                           f"(processed up to {latest})", code=-32000)
        return ref.number

    # --- the node and its groups -------------------------------------------------------------

    def priv_get_node_key(self, p: Params) -> dict[str, Any]:
        """{publicKey, address (the node account), member, memberName, registered}."""
        p.at_most(0)
        submitter = self._submitter()
        view = self._view()
        member = submitter.my_member(view)
        return {
            "publicKey": hx(submitter.public_key), "address": hx(submitter.node_account),
            "member": member or None, "memberName": _name(view, member) if member else None,
            "registered": member != 0}

    def priv_prove_node_key(self, p: Params) -> dict[str, Any]:
        """priv_getNodeKey's answer plus {account, signature}: the node key's proof of
        possession for `account` to send `Privacy.registerNode(publicKey, signature)` with.
        The `submit` scope: whoever obtains a proof may register this node for its member."""
        from consortium.system.privacy_payload import prove_node

        p.at_most(1)
        account = p.required(0, enc.address)
        submitter = self._submitter()
        out = self.priv_get_node_key(Params([], p.method))
        chain_id = int(submitter.ledger.eth_chain_id)
        out["account"] = account
        out["signature"] = hx(prove_node(submitter.node.key, chain_id,
                                         bytes.fromhex(account[2:])))
        return out

    def priv_create_privacy_group(self, p: Params) -> dict[str, Any]:
        """Calldata of `Privacy.createGroup` for the founder's account to sign and send:
        a fresh epoch-0 key wrapped for each founding member's registered node."""
        from consortium.system.privacy_payload import key_commitment
        from consortium.system.sealing import new_key, wrap_key

        p.at_most(1)
        spec = p.required(0, _object)
        _known_keys(spec, {"name", "members", "privacyGroupId"}, "params[0]")
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.encode()) > 64:
            raise InvalidParams("params[0].name: a group name of 1 to 64 bytes is needed")
        refs = enc.list_of(_member_ref)(spec.get("members"), "params[0].members")
        if not 2 <= len(refs) <= 64:
            raise InvalidParams("params[0].members: a group has 2 to 64 members")
        view = self._view()
        submitter = self._submitter()
        group_id = (group_id_param(spec["privacyGroupId"], "params[0].privacyGroupId")
                    if spec.get("privacyGroupId") is not None else os.urandom(32))
        if not any(group_id):
            raise InvalidParams("params[0].privacyGroupId: a privacy group id cannot be zero")
        if view.group(group_id) is not None and int(view.group(group_id).status) != 0:
            raise InvalidParams(f"params[0].privacyGroupId: group {hx(group_id)} exists")
        accounts: list[bytes] = []
        node_keys: list[bytes] = []
        seen: set[int] = set()
        for i, ref in enumerate(refs):
            where = f"params[0].members[{i}]"
            member, account = self._member(view, ref, where)
            if member in seen:
                raise InvalidParams(f"{where}: member {_name(view, member)!r} is named "
                                    "twice")
            seen.add(member)
            accounts.append(account)
            node_keys.append(self._node_key(view, member, where))
        # the node that makes the key sees it: only a founding member's own node may (as
        # only a member's node may propose a change, which makes the next epoch's key)
        mine = submitter.my_member(view)
        if mine == 0:
            raise RpcError("this node is not any member's registered privacy node "
                           "(consortium privacy register-node): it does not make group keys",
                           code=NOT_A_GROUP)
        if mine not in seen:
            # "the node of member 'Bank C'" (a quoted name then 's read 'Bank C''s)
            raise RpcError(f"this node is the node of member {_name(view, mine)!r}, which is "
                           "not among the group's members: the node that makes a group's key "
                           "sees it, so ask a founding member's own node", code=NOT_A_GROUP)
        key = new_key()
        wrapped = [wrap_key(key, node_key) for node_key in node_keys]
        data = CREATE_GROUP + abi_encode(
            ["bytes32", "string", "address[]", "bytes[]", "bytes32"],
            [group_id, name.strip(), accounts, wrapped, key_commitment(group_id, 0, key)])
        return {"privacyGroupId": hx(group_id),
                "chainId": hex(submitter.group_chain_id(group_id)),
                "to": _privacy_address(), "data": hx(data)}

    def priv_propose_members_change(self, p: Params) -> dict[str, Any]:
        """Calldata of `Privacy.proposeChange` for a member's account to sign and send: the
        next epoch's key wrapped for every member after the change, and the earlier epochs'
        keys for each added member (history re-encrypted)."""
        from consortium.system.privacy_payload import key_commitment, pack_history
        from consortium.system.sealing import new_key, wrap_key

        p.at_most(1)
        spec = p.required(0, _object)
        _known_keys(spec, {"privacyGroupId", "add", "remove"}, "params[0]")
        group_id = group_id_param(spec.get("privacyGroupId"), "params[0].privacyGroupId")
        submitter = self._submitter()
        view = self._view()
        group = self._group(view, group_id)
        if submitter.my_member(view) not in tuple(group.members):
            raise RpcError(f"this node is not a member's node of privacy group {hx(group_id)}",
                           code=NOT_A_GROUP)
        add = [self._member(view, r, f"params[0].add[{i}]")
               for i, r in enumerate(enc.list_of(_member_ref)(spec.get("add") or [],
                                                              "params[0].add"))]
        remove = [self._member(view, r, f"params[0].remove[{i}]")
                  for i, r in enumerate(enc.list_of(_member_ref)(spec.get("remove") or [],
                                                                 "params[0].remove"))]
        if not add and not remove:
            raise InvalidParams("params[0]: add or remove at least one member")
        current = tuple(int(m) for m in group.members)
        for member, _ in add:
            if member in current:
                raise InvalidParams(f"params[0].add: {_name(view, member)!r} is "
                                    "already in the group")
        removed = {m for m, _ in remove}
        for member in removed:
            if member not in current:
                raise InvalidParams(f"params[0].remove: {_name(view, member)!r} is "
                                    "not in the group")
        after = [m for m in current if m not in removed] + [m for m, _ in add]
        if len(after) < 2:
            raise InvalidParams("params[0]: a group keeps at least 2 members")
        epochs = [submitter.groups.epoch_key(group_id, e) for e in range(int(group.epoch) + 1)]
        if any(k is None for k in epochs):
            raise RpcError(f"this node cannot open every earlier key of group {hx(group_id)}",
                           code=NOT_A_GROUP)
        history = [bytes(k) for k in epochs if k is not None]
        key = new_key()
        added = dict(add)
        holders = [added.get(m) or _account_of(view, m) for m in after]
        wrapped = [wrap_key(key, self._node_key(view, m, "keyHolders")) for m in after]
        histories = [pack_history(history, self._node_key(view, m, "params[0].add"))
                     for m, _ in add]
        # the epoch the change begins: the current one + 1 (one open change at a time)
        commitment = key_commitment(group_id, int(group.epoch) + 1, key)
        data = PROPOSE_CHANGE + abi_encode(
            ["bytes32", "address[]", "address[]", "address[]", "bytes[]", "bytes[]", "bytes32"],
            [group_id, [a for _, a in add], [a for _, a in remove], holders, wrapped,
             histories, commitment])
        return {"privacyGroupId": hx(group_id), "to": _privacy_address(),
                "data": hx(data)}

    def priv_get_privacy_group(self, p: Params) -> dict[str, Any]:
        p.at_most(1)
        group_id = p.required(0, group_id_param)
        view = self._view()
        return self._group_json(view, self._group(view, group_id))

    def priv_find_privacy_group(self, p: Params) -> list[dict[str, Any]]:
        """The groups holding every member of the given accounts (or member names)."""
        p.at_most(1)
        refs = p.required(0, enc.list_of(_member_ref))
        view = self._view()
        members = {self._member(view, r, f"params[0][{i}]")[0] for i, r in enumerate(refs)}
        out = []
        for group_id in view.groups():
            group = view.group(group_id)
            if group is not None and members <= {int(m) for m in group.members}:
                out.append(self._group_json(view, group))
        return out

    def _group_json(self, view: Any, group: Any) -> dict[str, Any]:
        submitter = self._submitter()
        group_id = bytes(group.group_id)
        processed = (submitter.groups.processed_height(group_id)
                     if group_id in [bytes(g) for g in submitter.groups.group_ids()] else None)
        member = submitter.my_member(view) in tuple(int(m) for m in group.members)
        mismatch = bool(member and submitter.groups.key_mismatch(group_id))
        change_mismatch = bool(member and not mismatch
                               and submitter.groups.change_key_mismatch(group_id))
        return {
            "privacyGroupId": hx(group_id), "name": group.name,
            "status": STATUS.get(int(group.status), str(group.status)),
            "epoch": int(group.epoch),
            "members": [{"id": int(m), "name": _name(view, int(m)),
                         "account": hx(_account_of(view, int(m)))}
                        for m in group.members],
            "createdAt": int(group.created_at), "activeAt": int(group.active_at) or None,
            "chainId": hex(submitter.group_chain_id(group_id)),
            "thisNodeIsMember": member,
            "processedHeight": processed,
            # whether this node opens the current epoch's key and it is the committed one
            "keyOpens": bool(member and not mismatch and submitter.groups.key_opens(group_id)),
            "keyProblem": ("the key this node opened does not match the group's key "
                           "commitment: do not join or approve" if mismatch else
                           "the key the open change wrapped for this node does not match "
                           "the change's key commitment: do not approve" if change_mismatch
                           else None),
        }

    # --- private transactions ----------------------------------------------------------------

    async def priv_distribute_raw_transaction(self, p: Params) -> str:
        """Queue a signed private transaction for its group's next marker; its hash."""
        p.at_most(2)
        raw = p.required(0, lambda v, w: enc.data(v, w, what="raw transaction"))
        if not raw:
            raise InvalidParams("params[0]: raw transaction is empty")
        group_id = p.required(1, group_id_param)
        return hx(await self._submitter().distribute(raw, group_id))

    def priv_get_transaction_status(self, p: Params) -> dict[str, Any]:
        """{status: committed|pending|queued|rejected|unknown, privacyGroupId, markerHash,
        blockNumber, reason}."""
        p.at_most(1)
        tx_hash = p.required(0, lambda v, w: enc.data(v, w, size=32, what="transaction hash"))
        return self._submitter().status(tx_hash)

    def priv_get_transaction_receipt(self, p: Params) -> dict[str, Any] | None:
        """eth_getTransactionReceipt's shape plus privacyGroupId and markerHash; null while
        not processed; an error naming the reason for a rejected one."""
        p.at_most(1)
        tx_hash = p.required(0, lambda v, w: enc.data(v, w, size=32, what="transaction hash"))
        submitter = self._submitter()
        group_id = submitter.group_of(tx_hash)
        if group_id is None:
            return None
        reader = submitter.groups.reader(group_id)
        receipt = None if reader is None else EthReads(reader).get_receipt(hx(tx_hash))
        if receipt is None:
            status = submitter.status(tx_hash)
            if status["status"] == "rejected":
                raise RpcError(f"private transaction {hx(tx_hash)} was rejected: "
                               f"{status['reason']}", code=-32000)
            return None
        marker = submitter.marker_of(group_id, tx_hash)
        return {**receipt, "privacyGroupId": hx(group_id),
                "markerHash": hx(marker) if marker else None}

    # --- private state -----------------------------------------------------------------------

    def priv_call(self, p: Params) -> str:
        p.at_most(3)
        group_id = p.required(0, group_id_param)
        tx = p.required(1, enc.call_object)
        reader = self._reader(group_id)
        height = self._height(reader, p.optional(2, enc.block_ref, enc.LATEST), "params[2]")
        return call_answer(reader.call(tx, height, budget=current_budget.get(),
                                       gas_cap=self.gate.limits.rpc_gas_cap))

    def priv_get_logs(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(2)
        group_id = p.required(0, group_id_param)
        spec = p.required(1, self._log_filter_param)
        if spec.block_hash is not None:
            raise InvalidParams("params[1]: private logs take fromBlock/toBlock, not blockHash")
        reader = self._reader(group_id)
        latest = int(reader.latest_height())
        start = self._height(reader, spec.from_block, "params[1].fromBlock") \
            if spec.from_block.number is None or spec.from_block.number <= latest else latest + 1
        end = min(self._height(reader, spec.to_block, "params[1].toBlock")
                  if spec.to_block.number is None or spec.to_block.number <= latest
                  else latest, latest)
        return list(self._logs(spec.criteria, start, end, reader))

    def priv_get_transaction_count(self, p: Params) -> str:
        """The sender's next private nonce, counting what waits on this node (Besu's
        parameter order: address, group)."""
        p.at_most(2)
        address = p.required(0, enc.address)
        group_id = p.required(1, group_id_param)
        reader = self._reader(group_id)
        committed = int(reader.get_nonce(address))
        return hex(self._submitter().queued_nonce(
            group_id, bytes.fromhex(address[2:]), committed))

    def priv_get_code(self, p: Params) -> str:
        p.at_most(3)
        group_id = p.required(0, group_id_param)
        address = p.required(1, enc.address)
        reader = self._reader(group_id)
        height = self._height(reader, p.optional(2, enc.block_ref, enc.LATEST), "params[2]")
        return hx(reader.get_code(address, height))

    def priv_get_state_root(self, p: Params) -> dict[str, Any]:
        """{height, root, attested: {root, attestations, mismatch}}: this node's private root
        at a height and what the members attested on chain for it."""
        p.at_most(2)
        group_id = p.required(0, group_id_param)
        reader = self._reader(group_id)
        height = self._height(reader, p.optional(1, enc.block_ref, enc.LATEST), "params[1]")
        root = _private_root(reader, group_id, height)
        return {"height": height, "root": hx(root) if root is not None else None,
                "attested": _attested(self._view(), group_id, height)}

    def priv_get_chain_id(self, p: Params) -> str:
        p.at_most(1)
        group_id = p.required(0, group_id_param)
        self._group(self._view(), group_id)
        return hex(self._submitter().group_chain_id(group_id))


# --- helpers ---------------------------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParams(f"{where}: expected an object")
    return value


def _known_keys(spec: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(spec) - known)
    if unknown:
        raise InvalidParams(f"{where}: unknown field {unknown[0]} (known: "
                            f"{', '.join(sorted(known))})")


def _privacy_address() -> str:
    from consortium.system.privacy import PRIVACY_ADDRESS

    return hx(bytes(PRIVACY_ADDRESS))


def _name(view: Any, member: int) -> str:
    try:
        return str(view.member_name(member))
    except ConsortiumError:
        return f"member {member}"


def _not_a_member(view: Any, group: Any, member: int) -> str:
    """Why a node whose member is not in a group serves none of its private state: it never
    was, or its member left at some height (its copy stops there)."""
    group_id = bytes(group.group_id)
    head = f"this node is not a member's node of privacy group {hx(group_id)}"
    if member:
        # the last epoch whose key was wrapped for the member: it left when the next began
        for epoch in range(int(group.epoch) - 1, -1, -1):
            if view.epoch_key(group_id, epoch, member):
                left = int(view.epoch_start(group_id, epoch + 1))
                return (f"{head} ({group.name!r}): its member {_name(view, member)!r} left "
                        f"it at height {left} (epoch {epoch + 1}), so the private state this "
                        f"node kept stops there and is not served")
    return f"{head}: it holds none of its private state"


def _account_of(view: Any, member: int) -> bytes:
    accounts = view.member_accounts(member)
    return bytes(accounts[0]) if accounts else b"\x00" * 20


def _private_root(reader: Any, group_id: bytes, height: int) -> bytes | None:
    root_at = getattr(reader, "root_at", None)
    if root_at is not None:
        try:
            found = root_at(height)
        except ConsortiumError:  # no private state at that height
            return None
        return None if found is None else bytes(found)
    block = reader.block_record(height)
    return None if block is None else bytes(block[0].state_root)


def _attested(view: Any, group_id: bytes, height: int) -> dict[str, Any]:
    """Privacy.rootAt(group, height) in the public state: the first root attested, how
    many members attested, whether one differed."""
    found = view.root_at(group_id, height)
    if not found.attestations:
        return {"root": None, "attestations": 0, "mismatch": False}
    return {"root": hx(bytes(found.first)), "attestations": int(found.attestations),
            "mismatch": bool(found.mismatch)}


__all__ = ["PRIVATE_HEAVY_METHODS", "PRIVATE_METHODS", "PRIVATE_SUBMIT_METHODS",
           "PrivateMethods"]
