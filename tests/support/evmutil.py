"""Helpers for tests that talk to nodes as Ethereum clients do."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.providers.rpc.utils import REQUEST_RETRY_ALLOWLIST, ExceptionRetryConfiguration

import consortium.contracts
from consortium.contracts.compiler import CompiledContract, compile_file
from tests.support.localnet import LocalNet, wait_for

CONTRACTS = Path(__file__).parent.parent / "contracts"
EXAMPLES = Path(consortium.contracts.__file__).parent / "examples"


@cache
def compiled(name: str) -> CompiledContract:
    path = CONTRACTS / name
    return compile_file(path if path.is_file() else EXAMPLES / name)


def transfer_hex(acct: Any, to: str, nonce: int, *, value: int = 1,
                 chain_id: int = 20251) -> str:
    """A signed, free plain transfer as eth_sendRawTransaction takes it (0x hex)."""
    raw = acct.sign_transaction({"to": to, "value": value, "gas": 21_000, "maxFeePerGas": 0,
                                 "maxPriorityFeePerGas": 0, "nonce": nonce,
                                 "chainId": chain_id}).raw_transaction
    return "0x" + bytes(raw).hex()


def dev_accounts(net: LocalNet) -> dict[str, LocalAccount]:
    data = json.loads((net.root / "dev-accounts.json").read_text())
    return {name: Account.from_key(a["private_key"]) for name, a in data["accounts"].items()}


# A pooled keep-alive connection the node closes after 5 s idle can be reset just as the
# client sends on it (HTTP/1.1's race; it failed a privacy test's receipt read once in CI).
# web3's default retries only the builtin ConnectionError, not requests': reads are retried
# on requests' connection errors; a send is not (a second one would be "already known").
READ_RETRY = ExceptionRetryConfiguration(
    errors=(requests.ConnectionError,), retries=3, backoff_factor=0.1,
    method_allowlist=[m for m in REQUEST_RETRY_ALLOWLIST if m != "eth_sendRawTransaction"])


def web3_for(net: LocalNet, node: str) -> Web3:
    return Web3(Web3.HTTPProvider(net.node(node).api_url, request_kwargs={"timeout": 30},
                                  exception_retry_configuration=READ_RETRY))


def send(w3: Web3, acct: LocalAccount, tx: dict[str, Any], nonce: int | None = None) -> bytes:
    tx = dict(tx)
    tx.setdefault("chainId", w3.eth.chain_id)
    tx.setdefault(
        "nonce",
        nonce if nonce is not None else w3.eth.get_transaction_count(acct.address, "pending"),
    )
    tx.setdefault("gas", 3_000_000)
    tx.setdefault("maxFeePerGas", 0)
    tx.setdefault("maxPriorityFeePerGas", 0)
    signed = acct.sign_transaction(tx)
    return w3.eth.send_raw_transaction(signed.raw_transaction)


def receipt(w3: Web3, tx_hash: bytes, timeout: float = 60) -> Any:
    from web3.exceptions import TransactionNotFound

    def get() -> Any:
        try:
            return w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    return wait_for(get, timeout, f"receipt of {tx_hash.hex()}")


def constructor_data(w3: Web3, contract: CompiledContract, *args: Any) -> str:
    factory = w3.eth.contract(abi=contract.abi, bytecode=contract.bytecode)
    tx = factory.constructor(*args).build_transaction(
        {
            "gas": 5_000_000,
            "nonce": 0,
            "chainId": 1,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            "from": "0x" + "00" * 20,
        }
    )
    return tx["data"]


def deploy(w3: Web3, acct: LocalAccount, contract: CompiledContract, *args: Any) -> Any:
    data = constructor_data(w3, contract, *args)
    rcpt = receipt(w3, send(w3, acct, {"data": data, "gas": 5_000_000}))
    assert rcpt["status"] == 1, f"deploy of {contract.name} failed"
    return rcpt["contractAddress"]
