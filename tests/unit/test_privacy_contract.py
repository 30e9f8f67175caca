"""Privacy groups (issue 22), the consensus side: the marker payload's sealing and the
Privacy native contract, its Python view and the admission of node accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from consortium.errors import ExecutionReverted, NotPermitted
from consortium.evm.native import NATIVE_STUB_CODE, NativeCalls
from consortium.ledger.executor import decode_revert_reason
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import TxOutcome
from consortium.natives import chain_natives
from consortium.system.model import GOVERNANCE_ADDRESS
from consortium.system.privacy import PRIVACY_ADDRESS, Privacy, PrivacyView
from consortium.system.privacy_payload import (
    group_chain_id,
    key_commitment,
    marker_aad,
    node_proof_signer,
    open_batch,
    pack_history,
    prove_node,
    seal_batch,
    unpack_history,
)
from consortium.system.sealing import SealError, new_key, public_key_of, unwrap_key, wrap_key
from tests.support.ledger_testkit import CHAIN_ID, GAS_LIMIT, run_block, sign
from tests.support.services_testkit import ServiceChain, low

GROUP = bytes.fromhex("11" * 32)
OTHER = bytes.fromhex("22" * 32)
NODE_KEY = bytes.fromhex("0a" * 32)


def test_batch_opens_only_for_its_key_group_and_epoch() -> None:
    key = new_key()
    raws = [b"\x02\xf8raw-one", b"raw-two" * 50, b""]
    payload = seal_batch(key, GROUP, 3, raws)
    assert open_batch(key, GROUP, 3, payload) == raws
    assert b"raw-two" not in payload
    for wrong in ((new_key(), GROUP, 3), (key, OTHER, 3), (key, GROUP, 4)):
        with pytest.raises(SealError):
            open_batch(wrong[0], wrong[1], wrong[2], payload)
    altered = payload[:-1] + bytes([payload[-1] ^ 1])
    with pytest.raises(SealError):
        open_batch(key, GROUP, 3, altered)
    assert marker_aad(GROUP, 3) == b"consortium-privacy" + GROUP + b"\x00\x00\x00\x03"


def test_group_chain_id_is_per_chain_and_group_and_fits_31_bits() -> None:
    ids = {group_chain_id(c, g) for c in (1, 2) for g in (GROUP, OTHER)}
    assert len(ids) == 4
    assert all(0 < i < 2**31 for i in ids)
    assert group_chain_id(1, GROUP) == group_chain_id(1, GROUP)


def test_history_key_round_trip_and_refuses_a_foreign_key() -> None:
    keys = [new_key() for _ in range(3)]
    wrapped = pack_history(keys, public_key_of(NODE_KEY))
    assert unpack_history(wrapped, NODE_KEY) == keys
    with pytest.raises(SealError):
        unpack_history(wrapped, bytes.fromhex("0b" * 32))
    with pytest.raises(ValueError):
        pack_history([b"short"], public_key_of(NODE_KEY))


# --- the contract on an in-process ledger ----------------------------------------------------

def _acct(n: int) -> Any:
    return Account.from_key(bytes([n]) * 32)


A1, A2, B1, C1, D1 = _acct(0x71), _acct(0x72), _acct(0x73), _acct(0x74), _acct(0x75)
NODE_A, NODE_B, NODE_C, NODE_D = (bytes([n]) * 32 for n in (0xA1, 0xB1, 0xC1, 0xD1))
STRANGER = _acct(0x7F)
CALLS = NativeCalls(Privacy)
G1 = keccak(b"group one")


def _state(privacy: bool = True) -> AppState:
    return AppState.from_json({
        "eth_chain_id": CHAIN_ID,
        "block_gas_limit": GAS_LIMIT,
        "members": [
            {"name": "Bank A", "accounts": [low(A1), low(A2)]},
            {"name": "Bank B", "accounts": [low(B1)]},
            {"name": "Bank C", "accounts": [low(C1)]},
            {"name": "Bank D", "accounts": [low(D1)]},
        ],
        "alloc": {},
        **({"native_versions": {"Nodes": 2, "Privacy": 1}} if privacy else {}),
    })


def _chain(path: Path, engine: str = "revm", privacy: bool = True) -> ServiceChain:
    ledger = Ledger(path, engine=engine, natives=chain_natives())
    ledger.init_chain(_state(privacy), 1)
    return ServiceChain(ledger, PRIVACY_ADDRESS, CALLS)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ServiceChain]:
    chain = _chain(tmp_path)
    yield chain
    chain.ledger.close()


def node_account(node_key: bytes) -> Any:
    return Account.from_key(node_key)


def view(chain: ServiceChain) -> PrivacyView:
    def get(address: bytes, slot: int) -> int:
        return int.from_bytes(chain.ledger.get_storage_at("0x" + address.hex(), slot), "big")

    return PrivacyView(get)


def proof(node_key: bytes, account: Any) -> bytes:
    """`node_key`'s proof of possession for `account` (what priv_getNodeKey gives)."""
    return prove_node(node_key, CHAIN_ID, bytes.fromhex(account.address[2:]))


def register(chain: ServiceChain, *pairs: tuple[Any, bytes]) -> None:
    for account, node_key in pairs:
        chain.ok(account, "registerNode", public_key_of(node_key), proof(node_key, account))


def send_node(chain: ServiceChain, node_key: bytes, name: str, *args: Any) -> TxOutcome:
    return chain.raw(node_account(node_key), PRIVACY_ADDRESS, CALLS.encode(name, *args))


def reason(result: TxOutcome) -> str:
    assert result.code == ExecutionReverted.abci_code, f"not reverted: {result}"
    return decode_revert_reason(result.data) or ""


def active_group(chain: ServiceChain, keys: dict[bytes, bytes] | None = None) -> bytes:
    """Banks A and B registered and in group G1 (epoch 0), C and D registered, not in it."""
    register(chain, (A1, NODE_A), (B1, NODE_B), (C1, NODE_C), (D1, NODE_D))
    key = new_key()
    if keys is not None:
        keys[b"0"] = key
    wrapped = [wrap_key(key, public_key_of(n)) for n in (NODE_A, NODE_B)]
    chain.ok(A1, "createGroup", G1, "deal desk", [A1.address, B1.address], wrapped,
             key_commitment(G1, 0, key))
    chain.ok(B1, "joinGroup", G1)
    return key


def test_node_keys_register_replace_and_refuse(chain: ServiceChain) -> None:
    register(chain, (A1, NODE_A))
    node_a = node_account(NODE_A).address
    assert chain.ok(A2, "nodeOf", A1.address) == (node_a.lower(), public_key_of(NODE_A))
    assert chain.ok(A1, "memberOfNode", node_a) == 1
    assert view(chain).node_of_member(1) == (bytes.fromhex(node_a[2:]), public_key_of(NODE_A))
    assert view(chain).node_of_member(2) is None
    # a node key is someone's only once; the member's own may be replaced
    # (node A's operator signing for B1: the proof holds, the key is taken)
    assert "already 'Bank A''s privacy node" in chain.refused(
        B1, "registerNode", public_key_of(NODE_A), proof(NODE_A, B1))
    assert "64 bytes" in chain.refused(B1, "registerNode", b"\x04" + public_key_of(NODE_B),
                                       proof(NODE_B, B1))
    assert "not a point of secp256k1" in chain.refused(B1, "registerNode", bytes(64),
                                                       proof(NODE_B, B1))
    assert "an account of 'Bank B'" in chain.refused(
        A1, "registerNode", public_key_of(bytes([0x73]) * 32), proof(bytes([0x73]) * 32, A1))
    chain.ok(A2, "registerNode", public_key_of(NODE_C), proof(NODE_C, A2))
    assert chain.ok(A1, "memberOfNode", node_a) == 0
    assert view(chain).member_of_node(bytes.fromhex(node_account(NODE_C).address[2:])) == 1
    # a node account is admitted for Privacy only, and is no member's account there
    result = send_node(chain, NODE_C, "registerNode", public_key_of(NODE_D),
                       proof(NODE_D, node_account(NODE_C)))
    assert "is not a consortium member's account" in reason(result)


def test_a_member_cannot_register_another_members_node_key(chain: ServiceChain) -> None:
    """Hijack: Bank B registers Bank A's node key as its own, with no proof or A's own
    proof (for A1's account), or a proof for another chain: refused, and A then registers."""
    hijack = public_key_of(NODE_A)
    for signature in (bytes(65), proof(NODE_A, A1), proof(NODE_B, B1),
                      prove_node(NODE_A, CHAIN_ID + 1, bytes.fromhex(B1.address[2:]))):
        assert "the signature does not prove possession of this node key" in chain.refused(
            B1, "registerNode", hijack, signature)
    assert "is 65 bytes (r ‖ s ‖ v), not 64" in chain.refused(
        B1, "registerNode", hijack, proof(NODE_A, B1)[:64])
    assert view(chain).member_of_node(bytes.fromhex(node_account(NODE_A).address[2:])) == 0
    register(chain, (A1, NODE_A))  # the rightful owner is not refused
    assert view(chain).node_of_member(1) is not None
    assert node_proof_signer(proof(NODE_A, B1), CHAIN_ID,
                             bytes.fromhex(B1.address[2:])) == public_key_of(NODE_A)
    # the same proof in another sender's transaction proves nothing for it
    assert "does not prove possession" in chain.refused(
        A2, "registerNode", public_key_of(NODE_C), proof(NODE_C, A1))


def test_group_creation_join_and_activation(chain: ServiceChain) -> None:
    register(chain, (A1, NODE_A), (B1, NODE_B), (C1, NODE_C))
    key = new_key()
    wrapped = [wrap_key(key, public_key_of(n)) for n in (NODE_A, NODE_B, NODE_C)]
    members = [A1.address, B1.address, C1.address]
    def refused(*args: Any) -> str:
        return chain.refused(A1, "createGroup", *args, key_commitment(G1, 0, key))

    assert "1 to 64 bytes" in refused(G1, "", members, wrapped)
    assert "2 to 64 members, not 1" in refused(G1, "x", members[:1], wrapped[:1])
    assert "3 members but 2 wrapped keys" in refused(G1, "x", members, wrapped[:2])
    assert "'Bank A' is listed twice" in refused(G1, "x", [A1.address, A2.address], wrapped[:2])
    assert "'Bank D' has registered no privacy node key" in refused(
        G1, "x", [A1.address, D1.address], wrapped[:2])
    assert "must be one of the group's members" in refused(G1, "x", members[1:], wrapped[1:])
    assert "is not a consortium member's account" in refused(
        G1, "x", [A1.address, STRANGER.address], wrapped[:2])
    assert "cannot be zero" in refused(bytes(32), "x", members, wrapped)
    assert "the key commitment is zero" in chain.refused(A1, "createGroup", G1, "deal desk",
                                                         members, wrapped, bytes(32))
    chain.ok(A1, "createGroup", G1, "deal desk", members, wrapped, key_commitment(G1, 0, key))
    created = chain.height
    assert chain.ok(A1, "epochCommitment", G1, 0) == key_commitment(G1, 0, key)
    assert view(chain).epoch_commitment(G1, 0) == key_commitment(G1, 0, key)
    assert view(chain).epoch_commitment(G1, 1) is None
    assert "already exists (group 'deal desk')" in refused(G1, "again", members, wrapped)
    name, status, epoch, ids, created_at, active_at = chain.ok(A1, "group", G1)
    assert (name, status, epoch, ids, created_at, active_at) == (
        "deal desk", 1, 0, (1, 2, 3), created, 0)
    assert "'Bank D' is not a member of group 'deal desk'" in chain.refused(D1, "joinGroup", G1)
    assert "'Bank A' has already joined" in chain.refused(A2, "joinGroup", G1)
    chain.ok(B1, "joinGroup", G1)
    assert chain.ok(A1, "group", G1)[1] == 1  # C has not joined yet
    assert "is pending, not active" in reason(
        send_node(chain, NODE_A, "submit", G1, 0, b"sealed"))
    chain.ok(C1, "joinGroup", G1)
    activated = chain.height
    info = view(chain).group(G1)
    assert info is not None and info.status_name == "active"
    assert (info.members, info.created_at, info.active_at) == ((1, 2, 3), created, activated)
    (log,) = chain.logs(PRIVACY_ADDRESS, [Privacy.GroupActivated.topic0, G1])
    assert log["block"] == activated
    assert "is active, not pending" in chain.refused(C1, "joinGroup", G1)
    assert view(chain).groups() == [G1] and chain.ok(A1, "groupCount") == 1
    assert chain.ok(A1, "groupAt", 0) == G1
    assert "no privacy group at index 1" in chain.refused(A1, "groupAt", 1)
    # every member's node opens its envelope of epoch 0
    for member_id, node_key in ((1, NODE_A), (2, NODE_B), (3, NODE_C)):
        envelope = view(chain).epoch_key(G1, 0, member_id)
        assert envelope is not None and unwrap_key(envelope, node_key) == key
    assert view(chain).epoch_key(G1, 0, 4) is None
    assert view(chain).epoch_key(G1, 1, 1) is None
    assert view(chain).group(OTHER) is None


def test_submit_counts_markers_from_member_nodes_only(chain: ServiceChain) -> None:
    key = active_group(chain)
    payload = seal_batch(key, G1, 0, [b"raw tx"])
    for seq in (1, 2):
        assert send_node(chain, NODE_A, "submit", G1, 0, payload).code == 0
        (log,) = chain.logs(PRIVACY_ADDRESS, [Privacy.PrivateBatch.topic0])[-1:]
        assert log["data"][-32:] == seq.to_bytes(32, "big")
    assert view(chain).batches(G1) == 2
    assert "at epoch 0, the batch is sealed for epoch 1" in reason(
        send_node(chain, NODE_B, "submit", G1, 1, payload))
    assert "1 to 122880 bytes, not 0" in reason(send_node(chain, NODE_B, "submit", G1, 0, b""))
    assert "'Bank C' is not a member of group 'deal desk'" in reason(
        send_node(chain, NODE_C, "submit", G1, 0, payload))
    assert "not a registered privacy node account" in chain.refused(
        A1, "submit", G1, 0, payload)
    assert "no privacy group 0x" in reason(send_node(chain, NODE_A, "submit", OTHER, 0, payload))
    assert view(chain).batches(G1) == 2


def test_membership_changes_new_epochs_envelopes_and_history(chain: ServiceChain) -> None:
    epoch0 = active_group(chain)
    epoch1 = new_key()
    holders = [A1.address, B1.address, C1.address]
    wrapped = [wrap_key(epoch1, public_key_of(n)) for n in (NODE_A, NODE_B, NODE_C)]
    history = [pack_history([epoch0], public_key_of(NODE_C))]
    commit1 = key_commitment(G1, 1, epoch1)

    def propose(*args: Any) -> str:
        return chain.refused(A1, "proposeChange", G1, *args, commit1)
    assert "'Bank D' is not a member of group 'deal desk'" in chain.refused(
        D1, "proposeChange", G1, [C1.address], [], holders, wrapped, history, commit1)
    assert "the key commitment is zero" in chain.refused(
        A1, "proposeChange", G1, [C1.address], [], holders, wrapped, history, bytes(32))
    assert "already in group" in propose([B1.address], [], holders, wrapped, [])
    assert "adds and removes no member" in propose([], [], holders[:2], wrapped[:2], [])
    assert "exactly the group's members after the change" in propose(
        [C1.address], [], holders[:2], wrapped[:2], history)
    assert "1 added members but 2 history keys" in propose(
        [C1.address], [], holders, wrapped, history * 2)
    assert "leaves 1" in propose([], [B1.address], [A1.address], wrapped[:1], [])
    assert chain.ok(A1, "proposeChange", G1, [C1.address], [], holders, wrapped,
                    history, commit1) == 1
    assert chain.ok(A1, "epochCommitment", G1, 1) == bytes(32)  # not begun yet
    assert chain.ok(A1, "pendingChange", G1) == (1, 1, (3,), (), (1,))
    assert "already has an open change (1)" in propose([D1.address], [], holders, wrapped, [])
    assert "does not stay" in chain.refused(C1, "approveChange", G1)
    assert "only 'Bank A', who proposed change 1" in chain.refused(B1, "cancelChange", G1)
    assert "'Bank A' has already approved change 1" in chain.refused(A2, "approveChange", G1)
    # old epoch still in force until every staying member approved
    assert chain.ok(A1, "group", G1)[2] == 0
    chain.ok(B1, "approveChange", G1)
    applied = chain.height
    v = view(chain)
    info = v.group(G1)
    assert info is not None and (info.epoch, info.members) == (1, (1, 2, 3))
    assert v.epoch_start(G1, 1) == applied and v.epoch_start(G1, 0) == info.created_at
    assert v.pending_change(G1) is None
    assert v.epoch_commitment(G1, 1) == commit1
    assert v.epoch_commitment(G1, 0) == key_commitment(G1, 0, epoch0)
    assert unwrap_key(v.epoch_key(G1, 1, 3) or b"", NODE_C) == epoch1
    assert v.epoch_key(G1, 0, 3) is None  # C had no envelope of epoch 0 …
    upto, wrapped_history = v.history_key(G1, 3) or (None, b"")
    assert upto == 0 and unpack_history(wrapped_history, NODE_C) == [epoch0]  # … but history
    assert chain.ok(A1, "historyKey", G1, 3) == (0, wrapped_history)
    (changed,) = chain.logs(PRIVACY_ADDRESS, [Privacy.MembersChanged.topic0, G1])
    assert changed["block"] == applied
    # remove B: A and C keep a new key; B's node can no longer submit, nor gets epoch 2
    epoch2 = new_key()
    wrapped2 = [wrap_key(epoch2, public_key_of(n)) for n in (NODE_C, NODE_A)]
    assert chain.ok(C1, "proposeChange", G1, [], [B1.address], [C1.address, A2.address],
                    wrapped2, [], key_commitment(G1, 2, epoch2)) == 2
    assert "does not stay" in chain.refused(B1, "approveChange", G1)
    chain.ok(A1, "approveChange", G1)
    info = view(chain).group(G1)
    assert info is not None and (info.epoch, info.members) == (2, (1, 3))
    assert view(chain).epoch_key(G1, 2, 2) is None
    assert view(chain).epoch_key(G1, 1, 2) is not None  # what B could read before stays
    assert unwrap_key(view(chain).epoch_key(G1, 2, 1) or b"", NODE_A) == epoch2
    assert "'Bank B' is not a member" in reason(
        send_node(chain, NODE_B, "submit", G1, 2, seal_batch(epoch2, G1, 2, [b"x"])))
    assert send_node(chain, NODE_C, "submit", G1, 2, seal_batch(epoch2, G1, 2, [b"x"])).code == 0
    # a proposal can be cancelled by its proposer's member
    chain.ok(A1, "proposeChange", G1, [D1.address], [], [A1.address, C1.address, D1.address],
             [b"k"] * 3, [], keccak(b"k"))
    chain.ok(A2, "cancelChange", G1)
    assert chain.ok(A1, "pendingChange", G1)[0] == 0
    assert chain.ok(A1, "group", G1)[2] == 2


def test_attested_roots_keep_the_first_and_flag_a_mismatch(chain: ServiceChain) -> None:
    active_group(chain)
    epoch1 = new_key()
    chain.ok(A1, "proposeChange", G1, [C1.address], [], [A1.address, B1.address, C1.address],
             [wrap_key(epoch1, public_key_of(n)) for n in (NODE_A, NODE_B, NODE_C)], [],
             key_commitment(G1, 1, epoch1))
    chain.ok(B1, "approveChange", G1)
    height = chain.height - 1
    good, bad = keccak(b"root"), keccak(b"other")
    assert send_node(chain, NODE_A, "attestRoot", G1, height, good).code == 0
    assert send_node(chain, NODE_B, "attestRoot", G1, height, good).code == 0
    assert chain.ok(A1, "rootAt", G1, height) == (good, 2, False)
    assert send_node(chain, NODE_C, "attestRoot", G1, height, bad).code == 0
    assert chain.ok(A1, "rootAt", G1, height) == (good, 3, True)
    (mismatch,) = chain.logs(PRIVACY_ADDRESS, [Privacy.RootMismatch.topic0, G1])
    assert mismatch["data"][:32] == height.to_bytes(32, "big")
    assert mismatch["data"][-64:] == bad + good
    assert len(chain.logs(PRIVACY_ADDRESS, [Privacy.RootAttested.topic0, G1])) == 3
    assert "'Bank A' has already attested height" in reason(
        send_node(chain, NODE_A, "attestRoot", G1, height, good))
    assert "is not between group 'deal desk''s creation" in reason(
        send_node(chain, NODE_A, "attestRoot", G1, chain.height + 1, good))
    assert "'Bank D' is not a member" in reason(
        send_node(chain, NODE_D, "attestRoot", G1, height, good))
    assert view(chain).root_at(G1, height).mismatch


def test_a_chain_whose_genesis_does_not_name_privacy(tmp_path: Path) -> None:
    """No account at 0x…1004 (older genesis files keep their root) and every call reverts."""
    chain = _chain(tmp_path, privacy=False)
    try:
        assert chain.ledger.get_code("0x" + PRIVACY_ADDRESS.hex()) == b""
        assert "not enabled on this chain" in chain.refused(A1, "registerNode",
                                                            public_key_of(NODE_A),
                                                            proof(NODE_A, A1))
        assert not view(chain).enabled()
        without_root = chain.ledger.info()[1]
    finally:
        chain.ledger.close()
    with_privacy = _chain(tmp_path / "with", privacy=True)
    try:
        assert with_privacy.ledger.get_code("0x" + PRIVACY_ADDRESS.hex()) == NATIVE_STUB_CODE
        assert view(with_privacy).enabled()
        assert with_privacy.ledger.info()[1] != without_root
    finally:
        with_privacy.ledger.close()


@pytest.mark.parametrize("engine", ["revm", "py-evm"])
def test_node_accounts_may_only_call_privacy(tmp_path: Path, engine: str) -> None:
    chain = _chain(tmp_path, engine)
    ledger = chain.ledger
    try:
        node = node_account(NODE_A)
        submit = CALLS.encode("submit", G1, 0, b"x")
        to_privacy = sign(node, nonce=0, to="0x" + PRIVACY_ADDRESS.hex(), data=submit)
        out = ledger.check_tx(to_privacy)
        assert out.code == NotPermitted.abci_code
        assert "is not a consortium account" in out.log  # not registered yet
        register(chain, (A1, NODE_A))
        assert ledger.check_tx(to_privacy).code == 0  # admitted (it reverts: no such group)
        for raw, what in (
            (sign(node, nonce=0, to=B1.address, value=0), "a transfer"),
            (sign(node, nonce=0, to="0x" + GOVERNANCE_ADDRESS.hex(), data=b"\x00" * 4),
             "another system contract"),
            (sign(node, nonce=0, data=b"\x60\x00"), "a deployment"),
        ):
            out = ledger.check_tx(raw)
            assert out.code == NotPermitted.abci_code, what
            assert out.log == (f"{node.address.lower()} is the privacy node account of "
                               "'Bank A': it may only call the Privacy contract"), what
            (result,) = run_block(ledger, [raw]).tx_results
            assert (result.code, result.log) == (out.code, out.log), what
        (result,) = run_block(ledger, [to_privacy]).tx_results
        assert "no privacy group" in reason(result)
        # registered under another key: the old node account is a stranger again
        register(chain, (A1, NODE_B))
        again = sign(node, nonce=1, to="0x" + PRIVACY_ADDRESS.hex(), data=submit)
        assert "is not a consortium account" in ledger.check_tx(again).log
    finally:
        ledger.close()
