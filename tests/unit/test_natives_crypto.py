"""The Crypto native contract at 0x…1003: known vectors, through a signed transaction and
through eth_call."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak
from gmssl import sm2

from consortium.api.eth_json import EthReads
from consortium.errors import ExecutionReverted
from consortium.evm.native import error_data
from consortium.ledger.ledger import Ledger
from consortium.system.crypto import (
    CRYPTO_ADDRESS,
    Crypto,
    gmssl_sm3_digest,
    sm2_digest,
    sm2_verify_digest,
    sm3_digest,
)
from tests.support.ledger_testkit import ALICE, calldata, new_ledger, run_block, sign

CRYPTO = "0x" + CRYPTO_ADDRESS.hex()
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
# GB/T 32918 sample on sm2p256v1: key, message "message digest", id "1234567812345678"
SM2_PRIVATE = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
SM2_PUBLIC = bytes.fromhex(
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
SM2_E = "f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640"
SM2_SIGNATURE = bytes.fromhex(
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = new_ledger(tmp_path)
    yield ledger
    ledger.close()


def call(ledger: Ledger, signature: str, types: list[str], args: list, out: str):
    result = ledger.call({"to": CRYPTO, "data": calldata(signature, types, args)})
    assert result.success, result.error
    return abi_decode([out], result.output)[0]


def test_sm3_vectors() -> None:
    assert sm3_digest(b"abc").hex() == SM3_ABC
    assert sm3_digest(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")
    for data in (b"", b"a" * 55, b"a" * 56, b"a" * 64, bytes(range(256)) * 3):
        assert sm3_digest(data) == gmssl_sm3_digest(data)


def test_sm2_standard_vector() -> None:
    assert sm2_digest(SM2_PUBLIC, b"message digest").hex() == SM2_E
    assert sm2_verify_digest(SM2_PUBLIC, bytes.fromhex(SM2_E), SM2_SIGNATURE)
    # the signature is the standard's for k = 59276E27…: gmssl reproduces it
    signer = sm2.CryptSM2(private_key=SM2_PRIVATE, public_key=SM2_PUBLIC.hex())
    again = signer.sign(bytes.fromhex(SM2_E),
                        "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21")
    assert bytes.fromhex(again) == SM2_SIGNATURE


def test_crypto_through_eth_call(ledger: Ledger) -> None:
    assert call(ledger, "sm3(bytes)", ["bytes"], [b"abc"], "bytes32").hex() == SM3_ABC
    assert call(ledger, "keccak(bytes)", ["bytes"], [b"abc"], "bytes32") == keccak(b"abc")
    args = [SM2_PUBLIC, b"message digest", SM2_SIGNATURE]
    assert call(ledger, "sm2Verify(bytes,bytes,bytes)", ["bytes", "bytes", "bytes"], args,
                "bool") is True
    prefixed = [b"\x04" + SM2_PUBLIC, b"message digest", SM2_SIGNATURE]
    assert call(ledger, "sm2Verify(bytes,bytes,bytes)", ["bytes", "bytes", "bytes"],
                prefixed, "bool") is True
    tampered = [SM2_PUBLIC, b"message digesT", SM2_SIGNATURE]
    assert call(ledger, "sm2Verify(bytes,bytes,bytes)", ["bytes", "bytes", "bytes"],
                tampered, "bool") is False
    with_id = [SM2_PUBLIC, b"1234567812345678", b"message digest", SM2_SIGNATURE]
    assert call(ledger, "sm2VerifyWithId(bytes,bytes,bytes,bytes)",
                ["bytes", "bytes", "bytes", "bytes"], with_id, "bool") is True
    other_id = [SM2_PUBLIC, b"ALICE123@YAHOO.COM", b"message digest", SM2_SIGNATURE]
    assert call(ledger, "sm2VerifyWithId(bytes,bytes,bytes,bytes)",
                ["bytes", "bytes", "bytes", "bytes"], other_id, "bool") is False
    digest = [SM2_PUBLIC, bytes.fromhex(SM2_E), SM2_SIGNATURE]
    assert call(ledger, "sm2VerifyDigest(bytes,bytes32,bytes)", ["bytes", "bytes32", "bytes"],
                digest, "bool") is True
    off_curve = [SM2_PUBLIC[:-1] + b"\x00", b"message digest", SM2_SIGNATURE]
    assert call(ledger, "sm2Verify(bytes,bytes,bytes)", ["bytes", "bytes", "bytes"],
                off_curve, "bool") is False
    zero_sig = [SM2_PUBLIC, b"message digest", b"\x00" * 64]
    assert call(ledger, "sm2Verify(bytes,bytes,bytes)", ["bytes", "bytes", "bytes"],
                zero_sig, "bool") is False


def test_wrong_lengths_revert_with_a_reason(ledger: Ledger) -> None:
    bad = ledger.call({"to": CRYPTO, "data": calldata(
        "sm2Verify(bytes,bytes,bytes)", ["bytes", "bytes", "bytes"],
        [SM2_PUBLIC, b"m", b"\x01" * 63])})
    assert not bad.success
    assert bad.output == error_data("signature must be 64 bytes (r || s)")


def test_crypto_through_signed_transactions(ledger: Ledger) -> None:
    txs = [
        sign(ALICE, nonce=0, to=CRYPTO, data=calldata("sm3(bytes)", ["bytes"], [b"abc"])),
        sign(ALICE, nonce=1, to=CRYPTO, data=calldata("keccak(bytes)", ["bytes"], [b"abc"])),
        sign(ALICE, nonce=2, to=CRYPTO, gas=1_000_000, data=calldata(
            "sm2Verify(bytes,bytes,bytes)", ["bytes", "bytes", "bytes"],
            [SM2_PUBLIC, b"message digest", SM2_SIGNATURE])),
        sign(ALICE, nonce=3, to=CRYPTO, value=1, data=calldata("sm3(bytes)", ["bytes"],
                                                                [b"abc"])),
    ]
    results = run_block(ledger, txs).tx_results
    assert results[0].code == 0 and results[0].data.hex() == SM3_ABC
    assert results[1].code == 0 and results[1].data == keccak(b"abc")
    assert results[2].code == 0 and abi_decode(["bool"], results[2].data) == (True,)
    assert results[2].gas_used > 500_000  # the SM2 price
    assert results[3].code == ExecutionReverted.abci_code  # not payable
    assert EthReads(ledger).get_receipt("0x" + keccak(txs[0]).hex())["status"] == "0x1"


def test_abi() -> None:
    names = {f["name"]: f for f in Crypto.abi()}
    assert set(names) == {"sm3", "keccak", "sm2Verify", "sm2VerifyWithId", "sm2VerifyDigest"}
    assert names["sm2VerifyDigest"]["inputs"][1]["type"] == "bytes32"
    assert all(f["stateMutability"] == "view" for f in names.values())
