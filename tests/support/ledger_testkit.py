"""Shared helpers for the ledger's unit tests: a genesis, signed transactions, blocks."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import rlp
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from consortium.evm.chain_rules import ChainRule
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import BlockContext, BlockOutcome

CHAIN_ID = 20251
GAS_LIMIT = 1_000_000_000


def parties_state(parties: dict[str, tuple[Any, list[str]]],
                  observers: frozenset[str] = frozenset()) -> AppState:
    """Genesis with one member per party (name -> (account, roles)), each holding its roles;
    `observers` join without a vote."""
    return AppState.from_json({
        "eth_chain_id": CHAIN_ID,
        "block_gas_limit": GAS_LIMIT,
        "members": [
            {"name": name, "accounts": [acct.address.lower()],
             **({"tier": "observer"} if name in observers else {})}
            for name, (acct, _) in parties.items()
        ],
        "alloc": {},
        "governance": {
            "roles": {acct.address.lower(): roles for acct, roles in parties.values() if roles}
        },
    })


def parties_ledger(path: Path, state: AppState) -> Ledger:
    """A fresh ledger at `path` with genesis `state`."""
    ledger = Ledger(path)
    ledger.init_chain(state, 1)
    return ledger
T0 = 1_700_000_000 * 10**9
KEYS = [Account.from_key(bytes([i]) * 32) for i in range(1, 5)]
ALICE, BOB, CAROL, MALLORY = KEYS  # MALLORY is not a member
NODE_ID = "ab" * 20


def app_state(**overrides: Any) -> AppState:
    doc: dict[str, Any] = {
        "eth_chain_id": CHAIN_ID,
        "block_gas_limit": GAS_LIMIT,
        "members": [
            {"name": "Bank A", "accounts": [ALICE.address.lower(), BOB.address.lower()],
             "nodes": [NODE_ID]},
            {"name": "Bank C", "tier": "ordinary", "accounts": [CAROL.address.lower()]},
        ],
        "alloc": {
            ALICE.address.lower(): {"balance": hex(10**24)},
            BOB.address.lower(): {"balance": hex(10**20)},
            MALLORY.address.lower(): {"balance": hex(10**20)},
        },
    }
    doc.update(overrides)
    return AppState.from_json(doc)


def new_ledger(path: Path, **overrides: Any) -> Ledger:
    ledger = Ledger(path)
    ledger.init_chain(app_state(**overrides), 1)
    return ledger


def ctx(height: int, *, seconds: float | None = None) -> BlockContext:
    time_ns = T0 + int((seconds if seconds is not None else height) * 10**9)
    return BlockContext(
        height=height,
        time_ns=time_ns,
        proposer=bytes([0xAA]) * 20,
        block_hash=height.to_bytes(32, "big"),
        prevrandao=bytes([height % 256]) * 32,
    )


def sign(account: Any, *, nonce: int, to: str | None = None, value: int = 0,
         data: bytes = b"", gas: int = 100_000, tx_type: int = 2,
         chain_id: int = CHAIN_ID, gas_price: int = 0, **extra: Any) -> bytes:
    tx: dict[str, Any] = {"nonce": nonce, "gas": gas, "value": value, "data": data,
                          "chainId": chain_id}
    if to is not None:
        tx["to"] = to_checksum_address(to)
    if tx_type == 2:
        tx.update(type=2, maxFeePerGas=gas_price, maxPriorityFeePerGas=gas_price)
    elif tx_type == 1:
        tx.update(type=1, gasPrice=gas_price, accessList=extra.pop("accessList", []))
    else:
        tx["gasPrice"] = gas_price
    tx.update(extra)
    return bytes(account.sign_transaction(tx).raw_transaction)


def run_block(ledger: Ledger, txs: list[bytes], *, commit: bool = True) -> BlockOutcome:
    height = ledger.info()[0] + 1
    out = ledger.finalize_block(ctx(height), txs)
    if commit:
        ledger.commit()
    return out


TOKEN_SOURCE = """
# pragma version ^0.4.0
event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

balanceOf: public(HashMap[address, uint256])
totalSupply: public(uint256)

@deploy
def __init__(supply: uint256):
    self.balanceOf[msg.sender] = supply
    self.totalSupply = supply
    log Transfer(sender=empty(address), receiver=msg.sender, value=supply)

@external
def transfer(to: address, amount: uint256) -> bool:
    assert self.balanceOf[msg.sender] >= amount, "insufficient balance"
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[to] += amount
    log Transfer(sender=msg.sender, receiver=to, value=amount)
    return True
"""


@functools.cache
def compile_vyper(source: str) -> tuple[bytes, list[dict[str, Any]]]:
    """Creation bytecode and ABI of a Vyper contract (cached per test session)."""
    import vyper

    out = vyper.compile_code(source, output_formats=["bytecode", "abi"])
    return bytes.fromhex(out["bytecode"].removeprefix("0x")), out["abi"]


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def calldata(signature: str, types: list[str], args: list[Any]) -> bytes:
    return selector(signature) + abi_encode(types, args)


def token_deploy_data(supply: int) -> bytes:
    code, _ = compile_vyper(TOKEN_SOURCE)
    return code + abi_encode(["uint256"], [supply])


def contract_address(sender: str, nonce: int) -> str:
    return "0x" + keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:].hex()


def new_chain_state() -> AppState:
    """The `app_state` `consortium init` and the ceremony write today, for one founder: what
    a chain made now starts with (its gas schedule, clock rule, contract versions)."""
    from consortium.network.init import FoundingMember, genesis_app_state

    founder = FoundingMember(name="Bank A", account="0x" + "11" * 20, node_ids=("ab" * 20,),
                             validator_pub_keys=())
    return genesis_app_state([founder], eth_chain_id=CHAIN_ID, roles={}, dev_balances=False)


def chain_rule(ledger: Ledger, rule: ChainRule) -> int:
    """The version of `rule` the ledger's latest state holds, read as any node's reader does."""
    return rule.read(lambda address, slot: int.from_bytes(
        ledger.get_storage_at("0x" + address.hex(), slot), "big"))
