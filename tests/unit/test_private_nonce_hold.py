"""Private transactions whose nonce is ahead of their sender's next private nonce are held by
the node until the gap fills (issue 22), as the public path's NonceQueue holds public ones:
out-of-order calls all commit in nonce order; a gap never filled is dropped with a reason;
the caps refuse with a clear error."""

from __future__ import annotations

from consortium.api.nonce_queue import NonceQueue
from consortium.api.private_submit import PrivateSubmitter
from tests.unit import test_private_api
from tests.unit.test_private_api import (
    ALICE,
    Net,
    in_marker,
    make_group,
    private,
    register_all,
    wait,
)

net = test_private_api.net  # the three-node fixture


def submitter(net: Net) -> PrivateSubmitter:
    [found] = [getattr(listener, "__self__", None) for listener in net.privacy["a"].listeners
               if isinstance(getattr(listener, "__self__", None), PrivateSubmitter)]
    assert isinstance(found, PrivateSubmitter)
    return found


def test_nonces_sent_backwards_in_separate_calls_all_commit_in_order(net: Net) -> None:
    a = net.apis["a"]
    register_all(net)
    group, chain_id = make_group(net)
    raws = {n: private("a", chain_id, n, data=bytes([n])) for n in range(3)}
    hashes = {}
    for n in (2, 1):  # ahead: answered at once, held
        hashes[n] = a.rpc("priv_distributeRawTransaction", raws[n], group)
        status = a.rpc("priv_getTransactionStatus", hashes[n])
        assert status["status"] == "queued", status
        assert status["reason"] == "held until nonce 0 arrives", status
    assert a.rpc("priv_getTransactionCount", ALICE.address, group) == hex(0)
    again = a.raw("priv_distributeRawTransaction", raws[2], group)
    assert "already known" in again["error"]["message"], again
    batch = a.client.post("/", json=[{"jsonrpc": "2.0", "id": 1, "method":
                                      "priv_distributeRawTransaction",
                                      "params": [raws[0], group]}]).json()
    hashes[0] = batch[0]["result"]
    in_marker(a, hashes[2])
    net.block()
    assert [a.rpc("priv_getTransactionStatus", hashes[n])["status"] for n in range(3)] == [
        "committed"] * 3
    order = [int(a.rpc("priv_getTransactionReceipt", hashes[n])["transactionIndex"], 16)
             for n in range(3)]
    assert order == sorted(set(order)), order  # executed in nonce order
    assert a.rpc("priv_getTransactionCount", ALICE.address, group) == hex(3)


def test_a_gap_never_filled_is_dropped_with_a_reason(net: Net) -> None:
    a = net.apis["a"]
    submitter(net).held = NonceQueue(hold_seconds=0.3)
    register_all(net)
    group, chain_id = make_group(net)
    ahead = a.rpc("priv_distributeRawTransaction", private("a", chain_id, 5), group)
    status = wait(lambda: (s := a.rpc("priv_getTransactionStatus", ahead))["status"]
                  == "rejected" and s, "the held transaction to be dropped")
    assert "dropped" in status["reason"] and "nonce 0" in status["reason"], status
    assert not a.engine.mempool  # never sealed
    # its nonce is free again afterwards, and the gap's own nonce goes as usual
    first = a.rpc("priv_distributeRawTransaction", private("a", chain_id, 0), group)
    in_marker(a, first)
    net.block()
    assert a.rpc("priv_getTransactionStatus", first)["status"] == "committed"


def test_hold_limits_refuse_with_a_clear_error(net: Net) -> None:
    a = net.apis["a"]
    submitter(net).held = NonceQueue(max_per_sender=2, max_held=3)
    register_all(net)
    group, chain_id = make_group(net)
    for n in (3, 4):
        a.rpc("priv_distributeRawTransaction", private("a", chain_id, n), group)
    error = a.error("priv_distributeRawTransaction", private("a", chain_id, 5), group)
    assert "txpool is full" in error and ALICE.address.lower() in error.lower(), error
    assert "at most 2" in error and "in group " + group.lower() in error.lower(), error
    a.rpc("priv_distributeRawTransaction", private("b", chain_id, 1), group)
    error = a.error("priv_distributeRawTransaction", private("b", chain_id, 2), group)
    assert "txpool is full" in error and "at most 3" in error, error
