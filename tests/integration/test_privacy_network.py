"""Issue 22: privacy groups on a real 4-node network (one network for the module), each
member through its own node: Bank A node0, Bank B node1, Bank C node2, Bank D node3. The
group "Deals" starts with Banks A and B; a private ERC-20 and an invoice live only in it.
Bank C's node holds only ciphertext until Bank C is added (history re-encrypted: its node
replays the group from its creation); then Bank B is removed and reads nothing after.
Bank D is never in the group: at the end its home holds none of the group's values.
Bank B's node serves its API from the node's own process (`[api] process = "node"`), the
others from a process of their own (the default), whose priv_ methods read the group's store
the node's processor writes, and attest its roots.

The tests build on each other in order (module-scoped network); the first covers the core.
The whole file takes about a minute on a quiet 2-core machine."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import decode as abi_decode

from consortium.apps.invoices.model import INVOICES_ADDRESS
from consortium.apps.invoices.reader import InvoiceReader, encode_call
from consortium.sdk.privacy import PrivacyClient
from tests.support.localnet import wait_for
from tests.support.privacy_testkit import (
    PrivacyNet,
    answer_or_error,
    calldata,
    new_privacy_net,
    quantity,
    search_named,
    unhex,
)

AMOUNT = 0x0A11CE5EED77771234ABCD  # each holder's opening private balance
V1 = 0x5AFEC0DE91372468ACE1  # A -> B, the core test's transfer
V2 = 0x7E1A7E2B3C4D5E6F7081  # A -> B after Bank B's removal
V_LOAD = 0x3C0FFEE0000  # base of the crash test's transfers
FACE = 0x1F2E3D4C5B6A  # the private invoice's face amount
TRANSFER = "transfer(address,uint256)"
INVOICES = "0x" + INVOICES_ADDRESS.hex()


class Group:
    """What the tests share: the network, the group, its token and what was sent."""

    def __init__(self, p: PrivacyNet) -> None:
        self.p = p
        self.id = ""
        self.chain_id = 0
        self.token = ""
        self.created = 0
        self.secrets: dict[str, bytes] = {}  # named values only group members may hold
        self.transfer_height = 0  # the public block whose marker carried V1's transfer
        self.invoice = b""  # test 2's invoice, financed by Bank C in test 4

    def marker_height(self, member: str, rcpt: dict[str, Any]) -> int:
        mined = self.p.w3(member).eth.get_transaction_receipt(rcpt["markerHash"])
        return int(mined["blockNumber"])

    def common_height(self, *members: str) -> int:
        return min(int(self.p.state_root(m, self.id)["height"]) for m in members)

    def roots_agree(self, members: tuple[str, ...], start: int, end: int) -> int:
        """Every height in [start, end]: the members' private roots are equal; their count."""
        for h in range(start, end + 1):
            roots = {m: self.p.state_root(m, self.id, h)["root"] for m in members}
            assert len(set(roots.values())) == 1, f"private roots differ at {h}: {roots}"
        return end - start + 1

    def attested_without_mismatch(self, start: int, end: int) -> int:
        """Every height in [start, end]: Privacy.rootAt on the public chain (read through
        Bank D's node, outside the group) shows no mismatch, and an attested root is Bank A's
        root there; how many heights were attested."""
        attested = 0
        for h in range(start, end + 1):
            first, count, mismatch = self.p.root_at("Bank D", self.id, h)
            assert not mismatch, f"attestations of height {h} mismatch"
            if count:
                attested += 1
                assert "0x" + first.hex() == self.p.state_root("Bank A", self.id, h)["root"], h
        return attested


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Group]:
    p = new_privacy_net(tmp_path_factory.mktemp("privacy") / "net")
    config = p.net.network.node_home(p.net.node("node1")) / "consortium.toml"
    config.write_text(config.read_text().replace("[api]\n", '[api]\nprocess = "node"\n', 1))
    assert 'process = "node"' in config.read_text()
    p.net.up()
    try:
        p.net.wait_height(2)
        wait_for(lambda: "in its own process" in p.net.log("node0"), 30,
                 "Bank A's node to serve its API from a process of its own")
        assert "in its own process" not in p.net.log("node1")  # Bank B's: in the node's
        # Formed with the CLI, as members would: each registers its node, A founds, B joins.
        for member in ("Bank A", "Bank B", "Bank C"):
            key = p.cli(member, "register-node")
            assert key["nodeAccount"] == p.rpc(member, "priv_getNodeKey")["address"]
        grp = Group(p)
        made = p.cli("Bank A", "create-group", "Deals", "--with", "Bank B")
        grp.id, grp.chain_id = made["privacyGroupId"], quantity(made["chainId"])
        p.cli("Bank B", "join", grp.id)
        name, status, epoch, members, created, active = p.group("Bank C", grp.id)
        assert (name, status, epoch, len(members)) == ("Deals", 2, 0, 2)
        grp.created = int(created)
        assert rpc_chain_id(p, grp.id) == grp.chain_id
        yield grp
    finally:
        p.net.cleanup()


def rpc_chain_id(p: PrivacyNet, group: str) -> int:
    return quantity(p.rpc("Bank A", "priv_getChainId", group))


def test_1_a_private_token_only_its_group_reads(g: Group) -> None:
    """Core: deploy and transfer in the group; both members' nodes agree on the private root
    at every height and on chain no attestation mismatches; Bank C's node answers nothing
    and its files hold none of the code, calldata or balance, while Bank A's do."""
    p = g.p
    g.token = p.deploy_token("Bank A", g.id, g.chain_id, ["Bank A", "Bank B"], AMOUNT)
    move = calldata(TRANSFER, p.addr("Bank B"), V1)
    sent = p.send_private("Bank A", g.id, g.chain_id, g.token, move)
    g.transfer_height = g.marker_height("Bank A", sent)
    back = p.send_private("Bank B", g.id, g.chain_id, g.token,
                          calldata(TRANSFER, p.addr("Bank A"), 7))
    for reader in ("Bank A", "Bank B"):  # B's node executed A's transfer and the reverse
        wait_for(lambda r=reader: p.private_nonce(r, g.id, of="Bank B") == 1, 60,
                 f"{reader}'s node to execute Bank B's transfer")
        assert p.balance(reader, g.id, g.token, "Bank B") == AMOUNT + V1 - 7
        assert p.balance(reader, g.id, g.token, "Bank A") == AMOUNT - V1 + 7
    assert sent["privacyGroupId"] == g.id and back["privacyGroupId"] == g.id

    # Bank C's node: nothing to read.
    c = p.url("Bank C")
    got, err = answer_or_error(c, "priv_getTransactionReceipt", sent["transactionHash"])
    assert got is None
    got, err = answer_or_error(c, "priv_call", g.id, {
        "to": g.token, "data": "0x" + calldata("balanceOf(address)", p.addr("Bank A")).hex()},
        "latest")
    assert err is not None or got in (None, "0x"), got
    code, err = answer_or_error(c, "priv_getCode", g.id, g.token, "latest")
    assert err is not None or code in (None, "0x")
    root, err = answer_or_error(c, "priv_getStateRoot", g.id, "latest")
    assert err is not None or not root
    assert p.w3("Bank C").eth.get_code(p.w3("Bank C").to_checksum_address(g.token)) == b""

    # The values only the group may hold, in the forms they would be stored.
    runtime = unhex(p.rpc("Bank A", "priv_getCode", g.id, g.token, "latest"))
    assert len(runtime) > 500
    g.secrets = {
        "runtime code": runtime,
        "runtime code (middle 64 bytes)": runtime[len(runtime) // 2:len(runtime) // 2 + 64],
        "transfer calldata": move,
        "transfer value": V1.to_bytes(32, "big"),
        "transfer value (minimal)": V1.to_bytes(10, "big"),
        "balance word": (AMOUNT + V1 - 7).to_bytes(32, "big"),
        "balance (minimal)": (AMOUNT + V1 - 7).to_bytes(11, "big"),
    }
    marker = p.w3("Bank C").eth.get_transaction(sent["markerHash"])
    _gid, _epoch, payload = abi_decode(["bytes32", "uint32", "bytes"], bytes(marker["input"])[4:])
    ciphertext = {"marker ciphertext": bytes(payload)[12:60]}
    wait_for(lambda: p.height("Bank C") >= g.transfer_height + 1, 30, "node2 to hold the marker")
    in_c = search_named(p.home("Bank C"), {**g.secrets, **ciphertext})
    assert in_c["marker ciphertext"], "the search found the public ciphertext nowhere in node2"
    leaked = {k: v for k, v in in_c.items() if v and k in g.secrets}
    assert not leaked, f"Bank C's node holds plaintext of the group: {leaked}"
    stores = {m: list(p.home(m).rglob(g.id[2:])) for m in ("Bank A", "Bank C")}
    assert stores["Bank A"] and all(d.is_dir() for d in stores["Bank A"]), stores
    assert stores["Bank C"] == [], f"Bank C's node has a store of the group: {stores}"
    in_a = search_named(p.home("Bank A"), g.secrets)
    for name in ("runtime code", "transfer calldata", "balance (minimal)"):
        assert in_a[name], f"{name} not found in Bank A's node: the search cannot see it"

    # Both group nodes agree at every height; the chain's attestations show no mismatch.
    top = wait_for(lambda: (h := g.common_height("Bank A", "Bank B")) > g.transfer_height and h,
                   60, "both group nodes past the transfer")
    assert g.roots_agree(("Bank A", "Bank B"), g.created, top) >= 3
    at = p.state_root("Bank A", g.id, g.transfer_height)
    first, count, mismatch = wait_for(
        lambda: (r := p.root_at("Bank C", g.id, g.transfer_height))[1] >= 2 and r, 60,
        "both members' attestations of the transfer's height")
    assert "0x" + first.hex() == at["root"] and not mismatch
    assert at["attested"]["root"] == at["root"] and not at["attested"]["mismatch"]
    assert g.attested_without_mismatch(g.created, top) >= 3  # deploy, and both transfers


def test_2_an_invoice_between_the_group_members(g: Group) -> None:
    """The invoices service in the group: Bank A (seller) issues to Bank B (buyer), B
    confirms, A asks for financing. Inside the group the contract checks the roles in the
    public Permissions state of each block: Bank A (no financing_bank role) and Bank B (a
    financing bank, but the buyer) are refused; Bank C finances it once added (test 4).
    Nothing of the invoice is on the public chain or in Bank C's files."""
    p = g.p
    g.invoice = fp = os.urandom(32)
    reader = InvoiceReader(lambda addr, data: p.priv_call("Bank B", g.id, INVOICES, data))
    today = reader.today()
    step(g, "Bank A", "issue", fp, p.addr("Bank A"), p.addr("Bank B"), FACE, "CNY", today)
    step(g, "Bank B", "confirm", fp)
    step(g, "Bank A", "requestFinancing", fp)
    for member, reason in (("Bank A", "does not hold the financing_bank role"),
                           ("Bank B", "cannot finance its own invoice")):
        _out, err = answer_or_error(p.url(member), "priv_call", g.id, {
            "from": p.addr(member), "to": INVOICES,
            "data": "0x" + encode_call("finance", fp, FACE // 2).hex()}, "latest")
        assert err is not None and reason in str(err.error), (member, err)
        refused = step(g, member, "finance", fp, FACE // 2, ok=False)
        assert int(refused["status"], 16) == 0
    inv = InvoiceReader(lambda addr, data: p.priv_call("Bank A", g.id, INVOICES, data)
                        ).invoice(fp)
    assert inv is not None and inv["state"] == "financing_requested"
    assert inv["amount"] == FACE and inv["tranches"] == []
    public = InvoiceReader(lambda addr, data: p.call("Bank C", INVOICES, data))
    assert not public.is_registered(fp)
    assert not search_named(p.home("Bank C"), {"fingerprint": fp})["fingerprint"]
    assert search_named(p.home("Bank B"), {"fingerprint": fp})["fingerprint"]


def step(g: Group, member: str, name: str, *args: Any, ok: bool = True) -> dict[str, Any]:
    """An Invoices call of `member` in the group: its private receipt."""
    data = encode_call(name, *args)
    if ok:
        return g.p.send_private(member, g.id, g.chain_id, INVOICES, data)
    nonce = g.p.private_nonce(member, g.id)
    raw = g.p.sign_private(member, g.chain_id, nonce, INVOICES, data)
    return g.p.private_receipt(member, g.p.distribute(member, g.id, raw))


def test_3_a_member_node_killed_under_private_load_catches_up(g: Group) -> None:
    """SIGKILL Bank B's node while Bank A keeps sending private transfers; restarted, it
    replays the markers it missed and its private root agrees with Bank A's."""
    p = g.p
    stop = threading.Event()
    sent: list[str] = []
    errors: list[str] = []
    start_nonce = p.private_nonce("Bank A", g.id)

    def load() -> None:
        nonce = start_nonce
        while not stop.is_set() and nonce < start_nonce + 200:
            raw = p.sign_private("Bank A", g.chain_id, nonce, g.token,
                                 calldata(TRANSFER, p.addr("Bank D"), V_LOAD + nonce))
            try:
                sent.append(p.distribute("Bank A", g.id, raw))
                nonce += 1
            except Exception as exc:  # noqa: BLE001 (reported below)
                errors.append(str(exc))
            stop.wait(0.1)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        wait_for(lambda: p.private_nonce("Bank B", g.id, of="Bank A") >= start_nonce + 5, 60,
                 "Bank B's node to execute some of the load")
        p.net.kill("node1")
        killed_at = p.private_nonce("Bank A", g.id)
        wait_for(lambda: p.private_nonce("Bank A", g.id) >= killed_at + 10, 90,
                 "the group to go on while node1 is down")
        p.net.up(["node1"])
        wait_for(lambda: p.height("Bank B") >= p.height("Bank A") - 1, 120, "node1 back")
    finally:
        stop.set()
        loader.join(timeout=30)
    assert not errors, errors[:3]
    total = start_nonce + len(sent)
    for member in ("Bank A", "Bank B"):
        wait_for(lambda m=member: p.private_nonce(m, g.id, of="Bank A") == total, 120,
                 f"{member}'s node to execute all {len(sent)} transfers of the load")
    top = wait_for(lambda: g.common_height("Bank A", "Bank B"), 60, "a common height")
    tail = max(g.created, top - 30)
    g.roots_agree(("Bank A", "Bank B"), tail, top)
    assert g.attested_without_mismatch(tail, top - 2) >= 5
    assert p.balance("Bank B", g.id, g.token, "Bank D") == sum(
        V_LOAD + n for n in range(start_nonce, total))


def test_4_a_member_added_later_replays_the_history(g: Group) -> None:
    """Bank C is added (Bank A proposes, Bank B approves): its node opens the history key,
    replays the group from its creation and agrees on the root at every height, and reads
    balances as they were before it joined."""
    p = g.p
    # Through the Python SDK this time (test 5 uses priv_proposeMembersChange directly).
    for member, act in (("Bank A", lambda c: c.propose_change(p.keys["Bank A"], g.id,
                                                              add=["Bank C"])),
                        ("Bank B", lambda c: c.approve(p.keys["Bank B"], g.id))):
        p.synced(member)
        done = act(PrivacyClient(p.url(member)))
        p.tip = max(p.tip, quantity(done["block"]))
    _name, _status, epoch, members, _c, _a = p.group("Bank C", g.id)
    assert epoch == 1 and len(members) == 3
    top = wait_for(lambda: g.common_height("Bank A", "Bank C") >= p.height("Bank A") - 2
                   and g.common_height("Bank A", "Bank C"), 120,
                   "Bank C's node to replay the group")
    assert g.roots_agree(("Bank A", "Bank C"), g.created, top) >= 5
    assert p.balance("Bank C", g.id, g.token, "Bank B", g.transfer_height) == AMOUNT + V1
    assert p.balance("Bank C", g.id, g.token, "Bank B", g.transfer_height - 1) == AMOUNT
    # and writes: its node seals under the new epoch's key, the others execute it. As a
    # financing bank it finances the invoice Banks A and B left open (if test 2 ran).
    mine = p.send_private("Bank C", g.id, g.chain_id, g.token,
                          calldata(TRANSFER, p.addr("Bank A"), 0))
    p.private_receipt("Bank B", mine["transactionHash"])
    if g.invoice:
        step(g, "Bank C", "finance", g.invoice, FACE // 2)
        inv = wait_for(lambda: InvoiceReader(
            lambda addr, data: p.priv_call("Bank B", g.id, INVOICES, data)).invoice(g.invoice),
            30, "the invoice on Bank B's node")
        assert inv["state"] == "financed" and inv["financed"] == FACE // 2, inv
        assert [t["bank"] for t in inv["tranches"]] == [p.addr("Bank C").lower()], inv


def test_5_a_removed_member_reads_nothing_after_and_d_never_held_anything(g: Group) -> None:
    """Bank B is removed (Bank A proposes, Bank C approves): a later transfer's value is
    absent from Bank B's node, whose private reads stop at the removal; Bank D, never a
    member, holds none of the group's values."""
    p = g.p
    p.propose_change("Bank A", g.id, remove=["Bank B"])
    p.approve("Bank C", g.id)
    _name, _status, epoch, members, _c, _a = p.group("Bank C", g.id)
    assert epoch == 2 and len(members) == 2
    late = p.send_private("Bank A", g.id, g.chain_id, g.token,
                          calldata(TRANSFER, p.addr("Bank C"), V2))
    late_height = g.marker_height("Bank A", late)
    wait_for(lambda: p.height("Bank B") > late_height + 1, 60, "node1 past the late transfer")
    assert p.balance("Bank C", g.id, g.token, "Bank C") == V2
    got, _err = answer_or_error(p.url("Bank B"), "priv_getTransactionReceipt",
                                late["transactionHash"])
    assert got is None
    b_root, err = answer_or_error(p.url("Bank B"), "priv_getStateRoot", g.id, "latest")
    assert err is not None or int(b_root["height"]) < late_height
    if err is None:  # what it still reads is the state before: Bank C held nothing
        assert p.balance("Bank B", g.id, g.token, "Bank C") == 0
    late_values = {"late value": V2.to_bytes(32, "big"),
                   "late value (minimal)": V2.to_bytes(10, "big"),
                   "late calldata": calldata(TRANSFER, p.addr("Bank C"), V2)}
    in_b = search_named(p.home("Bank B"), late_values)
    assert not any(in_b.values()), f"Bank B's node holds what followed its removal: {in_b}"
    assert any(search_named(p.home("Bank A"), late_values).values())
    in_d = search_named(p.home("Bank D"), {**g.secrets, **late_values})
    assert not any(in_d.values()), f"Bank D's node holds plaintext of the group: {in_d}"
