"""Hostile arguments for the priv_ JSON-RPC methods of privacy groups (docs/privacy.md):
(method, params, a word the error must contain). Made for one group (`group`, its chain id)
of a node that is in it; tests/unit/test_privacy_hostile.py sends them, beside the markers a
malicious member's node crafts."""

from __future__ import annotations

from typing import Any

from consortium.system.model import GOVERNANCE_ADDRESS
from tests.support.ledger_testkit import ALICE, BOB, CHAIN_ID, GAS_LIMIT, sign

UNKNOWN_GROUP = "0x" + "ab" * 32
GOVERNANCE = "0x" + GOVERNANCE_ADDRESS.hex()


def _raw(chain_id: int, **fields: Any) -> str:
    fields.setdefault("nonce", 0)
    fields.setdefault("to", BOB.address)
    return "0x" + sign(ALICE, chain_id=chain_id, **fields).hex()


def privacy_rpc_cases(group: str, chain_id: int) -> list[tuple[str, list[Any], str]]:
    """Every priv_ method with wrong types, missing or extra parameters, huge values, bad
    hex, unknown groups; each with what its error names."""
    good = _raw(chain_id)
    call = {"to": BOB.address}
    return [
        ("priv_getNodeKey", [ALICE.address], "too many arguments"),
        ("priv_proveNodeKey", [ALICE.address, 1], "too many arguments"),
        ("priv_proveNodeKey", [], "params[0]"),  # the account to prove the node key for
        ("priv_proveNodeKey", [1], "params[0]"),
        ("priv_proveNodeKey", ["0x1234"], "address"),
        ("priv_createPrivacyGroup", [], "param"),
        ("priv_createPrivacyGroup", ["deals"], "object"),
        ("priv_createPrivacyGroup", [{"name": 5, "members": ["Bank A", "Bank B"]}], "name"),
        ("priv_createPrivacyGroup", [{"name": "x" * 65, "members": ["Bank A", "Bank B"]}],
         "64 bytes"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": "Bank A"}], "members"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": [1, 2]}], "account"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A"] * 1000}], "2 to 64"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A", "Nobody"]}],
         "no consortium member"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A", "Bank A"]}], "twice"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A", "0x" + "11" * 20]}],
         "not a consortium member"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A", "0x12"]}], "account"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A", "Bank B"],
                                      "privacyGroupId": "0xzz"}], "hex"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A", "Bank B"],
                                      "privacyGroupId": group}], "exists"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A", "Bank B"],
                                      "admin": True}], "unknown field"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A", "Bank B"],
                                      "privacyGroupId": "0x" + "00" * 32}], "cannot be zero"),
        ("priv_createPrivacyGroup", [{"name": "g", "members": ["Bank A", "Bank B"]}, 1],
         "too many arguments"),
        ("priv_proposeMembersChange", [{"privacyGroupId": UNKNOWN_GROUP, "add": ["Bank C"]}],
         "unknown privacy group"),
        ("priv_proposeMembersChange", [{"privacyGroupId": group}], "at least one"),
        ("priv_proposeMembersChange", [{"privacyGroupId": group, "add": {"x": 1}}], "add"),
        ("priv_proposeMembersChange", [{"privacyGroupId": group, "add": ["Bank A"]}],
         "already in"),
        ("priv_proposeMembersChange", [{"privacyGroupId": group, "remove": ["Bank C"]}],
         "not in the group"),
        ("priv_proposeMembersChange", [{"privacyGroupId": group, "remove": ["Bank B"]}],
         "at least 2"),
        ("priv_proposeMembersChange", [{"privacyGroupId": 5, "add": ["Bank C"]}], "hex"),
        ("priv_getPrivacyGroup", [], "param"),
        ("priv_getPrivacyGroup", [123], "hex"),
        ("priv_getPrivacyGroup", ["0x"], "32 bytes"),
        ("priv_getPrivacyGroup", ["0x" + "gg" * 32], "hex"),
        ("priv_getPrivacyGroup", [UNKNOWN_GROUP], "unknown privacy group"),
        ("priv_getPrivacyGroup", [group, group], "too many arguments"),
        ("priv_findPrivacyGroup", [7], "account"),
        ("priv_findPrivacyGroup", [[5]], "account"),
        ("priv_findPrivacyGroup", [["Nobody"]], "no consortium member"),
        ("priv_distributeRawTransaction", [], "param"),
        ("priv_distributeRawTransaction", [good], "param"),
        ("priv_distributeRawTransaction", ["0x", group], "empty"),
        ("priv_distributeRawTransaction", ["0x00", group], "decode"),
        ("priv_distributeRawTransaction", ["0xzz", group], "hex"),
        ("priv_distributeRawTransaction", [5, group], "hex"),
        ("priv_distributeRawTransaction", ["0x" + "00" * 200_000, group], "limit"),
        ("priv_distributeRawTransaction", [good, UNKNOWN_GROUP], "unknown privacy group"),
        ("priv_distributeRawTransaction", [good, group, 1], "too many arguments"),
        ("priv_distributeRawTransaction", [_raw(CHAIN_ID), group], "chain"),
        ("priv_distributeRawTransaction", [_raw(chain_id ^ 1), group], "chain"),
        ("priv_distributeRawTransaction", [_raw(chain_id, gas=GAS_LIMIT + 1), group],
         "block gas limit"),
        ("priv_distributeRawTransaction", [_raw(chain_id, gas_price=1), group], "gas price"),
        ("priv_distributeRawTransaction", [_raw(chain_id, value=1), group], "value"),
        ("priv_distributeRawTransaction", [_raw(chain_id, gas=20_000), group], "intrinsic"),
        ("priv_distributeRawTransaction", [_raw(chain_id, nonce=2**64 - 1), group], "nonce"),
        ("priv_distributeRawTransaction", [_raw(chain_id, to=GOVERNANCE, data=b"\x01"), group],
         "public system contract"),
        ("priv_distributeRawTransaction", [_raw(chain_id, to=None, data=b"\x00" * 49_153,
                                                gas=GAS_LIMIT), group], "initcode"),
        ("priv_getTransactionStatus", ["0x12"], "32 bytes"),
        ("priv_getTransactionStatus", [7], "hex"),
        ("priv_getTransactionReceipt", [None], "hex"),
        ("priv_getTransactionReceipt", ["0x" + "zz" * 32], "hex"),
        ("priv_call", [UNKNOWN_GROUP, call, "latest"], "unknown privacy group"),
        ("priv_call", [group, "to bob", "latest"], "object"),
        ("priv_call", [group, call, "0x" + "f" * 30], "out of range"),
        ("priv_call", [group, call, "0x" + "00" * 32], "block number"),
        ("priv_call", [group, {"to": BOB.address, "gas": "0x" + "f" * 80}, "latest"], "gas"),
        ("priv_getLogs", [group, {"blockHash": "0x" + "00" * 32}], "blockhash"),
        ("priv_getLogs", [group, "all"], "object"),
        ("priv_getLogs", [UNKNOWN_GROUP, {}], "unknown privacy group"),
        ("priv_getTransactionCount", ["0x1234", group], "address"),
        ("priv_getTransactionCount", [BOB.address, UNKNOWN_GROUP], "unknown privacy group"),
        ("priv_getCode", [group, "bob", "latest"], "address"),
        ("priv_getCode", [group, BOB.address, hex(2**62)], "not processed"),
        ("priv_getStateRoot", [group, hex(2**62)], "not processed"),
        ("priv_getStateRoot", [group, "later"], "block"),
        ("priv_getChainId", [UNKNOWN_GROUP], "unknown privacy group"),
        ("priv_getChainId", [], "param"),
    ]


PRIVACY_RPC_CASES = 75  # len(privacy_rpc_cases(...)): docs/reliability.md counts them
