"""User contracts upgraded by vote: an ERC-1967 proxy (contracts/examples/GovernedProxy.sol)
whose admin is Governance's address, upgraded from CounterV1 to CounterV2 by a
`contract-call` proposal; the state behind the proxy stays, only the code changes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi import encode
from eth_hash.auto import keccak

from consortium.contracts.compiler import CompiledContract, compile_file, node_modules
from consortium.system.model import GOVERNANCE_ADDRESS
from tests.support.governance_testkit import BANKS, GOV, Gov, governed_ledger
from tests.support.ledger_testkit import run_block, sign

EXAMPLES = Path(__file__).parents[2] / "src" / "consortium" / "contracts" / "examples"
COUNTERS = Path(__file__).parents[1] / "contracts" / "UpgradeableCounter.sol"
IMPLEMENTATION_SLOT = int.from_bytes(keccak(b"eip1967.proxy.implementation"), "big") - 1

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (node_modules() / "solc").is_dir(),
    reason="Solidity needs Node.js and solc-js",
)


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


@pytest.fixture
def gov(tmp_path: Path) -> Iterator[Gov]:
    ledger = governed_ledger(tmp_path)
    yield Gov(ledger)
    ledger.close()


def deploy(gov: Gov, contract: CompiledContract, args: bytes = b"") -> str:
    account = BANKS[0]
    raw = sign(account, nonce=gov.ledger.get_nonce(account.address),
               data=contract.bytecode + args, gas=3_000_000)
    (result,) = run_block(gov.ledger, [raw]).tx_results
    assert result.code == 0, result.log
    return "0x" + bytes(result.data).hex()


def call(gov: Gov, to: str, data: bytes) -> int:
    result = gov.ledger.call({"to": to, "data": "0x" + data.hex()})
    assert result.success, result.error
    return int.from_bytes(result.output, "big")


def send(gov: Gov, account: object, to: str, data: bytes) -> int:
    raw = sign(account, nonce=gov.ledger.get_nonce(account.address),  # type: ignore[attr-defined]
               to=to, data=data, gas=500_000)
    (result,) = run_block(gov.ledger, [raw]).tx_results
    return result.code


def test_a_proxy_upgraded_by_a_vote_keeps_its_state(gov: Gov) -> None:
    v1 = deploy(gov, compile_file(COUNTERS, "CounterV1"))
    v2 = deploy(gov, compile_file(COUNTERS, "CounterV2"))
    proxy = deploy(gov, compile_file(EXAMPLES / "GovernedProxy.sol"),
                   encode(["address", "address", "bytes"], [v1, GOVERNANCE_ADDRESS, b""]))
    for _ in range(3):
        assert send(gov, BANKS[1], proxy, selector("increment()")) == 0
    assert call(gov, proxy, selector("version()")) == 1
    assert call(gov, proxy, selector("count()")) == 3
    # no account can upgrade it: the call goes to the implementation, which has no such method
    upgrade = selector("upgradeToAndCall(address,bytes)") + encode(["address", "bytes"], [v2, b""])
    assert send(gov, BANKS[0], proxy, upgrade) != 0

    # an upgrade that would fail is refused when proposed, with the proxy's reason
    nowhere = "0x" + "00" * 19 + "99"
    bad = selector("upgradeToAndCall(address,bytes)") + encode(["address", "bytes"], [nowhere, b""])
    assert gov.refused(BANKS[0], GOV, "proposeContractCall", proxy, bad) == (
        "the call would fail: GovernedProxy: the implementation has no code")
    # and system contracts are not user contracts
    assert "is not a user contract" in gov.refused(
        BANKS[0], GOV, "proposeContractCall", GOV, selector("members()"))

    gov.pass_("contract-call", proxy, upgrade)
    assert call(gov, proxy, selector("version()")) == 2
    assert call(gov, proxy, selector("count()")) == 3  # the state behind the proxy stayed
    assert send(gov, BANKS[1], proxy, selector("decrement()")) == 0
    assert call(gov, proxy, selector("count()")) == 2
    stored = gov.ledger.get_storage_at(proxy, IMPLEMENTATION_SLOT)
    assert "0x" + bytes(stored)[-20:].hex() == v2
