"""Issue 19: the stored layouts are consensus-critical. A chain recorded on a real network
(tests/fixtures/recorded-chain.json.gz, made by scripts/record_chain.py: governance, invoices,
securities, credit, registry, forum and EVM transactions) is replayed block by block through
the ABCI application over a fresh ledger; after every block the app hash must be the one the
network committed, and each transaction's result (code, data, gas) the one CometBFT hashed into
the next header. A change to how any record is stored shows here as the first height that
differs, with the transactions of that block."""

from __future__ import annotations

import base64
import functools
import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_hash.auto import keccak
from google.protobuf.timestamp_pb2 import Timestamp
from hexbytes import HexBytes

from consortium.abci.protocol import types_pb2 as abci
from consortium.ledger.application import ConsortiumApp
from consortium.ledger.ledger import Ledger
from consortium.natives import chain_natives

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "recorded-chain.json.gz"


@functools.cache
def recorded() -> dict[str, Any]:
    with gzip.open(FIXTURE, "rb") as f:
        doc: dict[str, Any] = json.loads(f.read())
    return doc


def _timestamp(rfc3339: str) -> Timestamp:
    """CometBFT's header time (nanoseconds, 'Z') as the protobuf Timestamp it sent."""
    whole, _, frac = rfc3339.removesuffix("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp())
    return Timestamp(seconds=seconds, nanos=int((frac + "000000000")[:9]))


def _init_chain(app: ConsortiumApp, genesis: dict[str, Any]) -> bytes:
    from tendermint.crypto import keys_pb2  # type: ignore[import-not-found]

    validators = [
        abci.ValidatorUpdate(
            pub_key=keys_pb2.PublicKey(ed25519=base64.b64decode(v["pub_key"]["value"])),
            power=int(v["power"]))
        for v in genesis["validators"]
    ]
    answer = app.init_chain(abci.RequestInitChain(
        chain_id=genesis["chain_id"],
        app_state_bytes=json.dumps(genesis["app_state"]).encode(),
        validators=validators,
        initial_height=int(genesis.get("initial_height") or 1),
    ))
    return bytes(answer.app_hash)


def _describe(raw: bytes) -> str:
    """One transaction, as a reader of a failure wants it: hash, sender, recipient, method."""
    text = "0x" + keccak(raw).hex()
    try:
        sender = Account.recover_transaction(raw)
        if raw[0] < 0x80:  # EIP-2718 typed
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            to, data = fields.get("to") or b"", bytes(fields.get("data") or b"")
        else:  # legacy: nonce, gas price, gas, to, value, data, v, r, s
            to, data = rlp.decode(raw)[3], rlp.decode(raw)[5]
        to_text = "0x" + bytes(to).hex() if to else "(create)"
        return f"{text} from {sender} to {to_text} selector 0x{data[:4].hex()}"
    except Exception:  # an undecodable transaction is still named by its hash
        return text


# One block's outcome as compared: the app hash after it, and per transaction what CometBFT
# hashes into the next header's last_results_hash (code, data, gas wanted, gas used).
Outcome = tuple[str, list[list[Any]]]


def replay(path: Path, engine: str) -> list[tuple[int, Outcome, Outcome]]:
    """Replay the recorded chain; answers (height, recorded, replayed) per block (height 0:
    the genesis), up to the first block that differs."""
    doc = recorded()
    ledger = Ledger(path, engine=engine, natives=chain_natives())  # as a node starts it
    try:
        app = ConsortiumApp(ledger)
        genesis = _init_chain(app, doc["genesis"]).hex()
        out = [(0, (doc["genesis_app_hash"], []), (genesis, []))]
        for block in doc["blocks"]:
            answer = app.finalize_block(abci.RequestFinalizeBlock(
                height=block["height"],
                time=_timestamp(block["time"]),
                proposer_address=bytes.fromhex(block["proposer_address"]),
                hash=bytes.fromhex(block["hash"]),
                txs=[base64.b64decode(tx) for tx in block["txs"]],
            ))
            app.commit(abci.RequestCommit())
            results = [[r.code, base64.b64encode(r.data).decode(), r.gas_wanted, r.gas_used]
                       for r in answer.tx_results]
            out.append((block["height"], (block["app_hash"], block["results"]),
                        (bytes(answer.app_hash).hex(), results)))
            if out[-1][1] != out[-1][2]:
                break  # every later block differs too: the first one is the finding
        return out
    finally:
        ledger.close()


def _first_difference(replayed: list[tuple[int, Outcome, Outcome]]) -> str | None:
    for height, (want, want_results), (got, got_results) in replayed:
        if height == 0:
            if want != got:
                return f"the genesis app hash differs: recorded {want}, replayed {got}"
            continue
        if (want, want_results) == (got, got_results):
            continue
        block = next(b for b in recorded()["blocks"] if b["height"] == height)
        txs = [base64.b64decode(tx) for tx in block["txs"]]
        lines = []
        for i, tx in enumerate(txs):
            a = want_results[i] if i < len(want_results) else None
            b = got_results[i] if i < len(got_results) else None
            changed = "" if a == b else (f" — result (code, data, gas wanted, gas used) "
                                         f"recorded {a}, replayed {b}")
            lines.append(f"\n  {_describe(tx)}{changed}")
        what = (f"app hash recorded {want}, replayed {got}" if want != got
                else "same app hash, but transaction results differ (the next header's "
                     "last_results_hash)")
        return (f"block {height} first differs from the chain recorded at "
                f"{recorded()['commit'][:12]}: {what}; its {len(txs)} transactions:"
                + ("".join(lines) or " (none: an empty block)"))
    return None


def test_the_fixture_covers_every_service_and_is_whole() -> None:
    """The fixture is what its README says: contiguous blocks from 1, real transactions to
    every service's contract, governance and a user contract, and some that reverted."""
    doc = recorded()
    heights = [b["height"] for b in doc["blocks"]]
    assert heights == list(range(1, len(heights) + 1))
    assert all(len(b["results"]) == len(b["txs"]) for b in doc["blocks"])
    assert sum(1 for b in doc["blocks"] for r in b["results"] if r[0]) >= 3  # reverted
    assert doc["commit"] and doc["recorded_from_clean_tree"]
    txs = [base64.b64decode(tx) for b in doc["blocks"] for tx in b["txs"]]
    assert len(txs) == doc["transactions"] >= 150
    recipients = {_describe(tx).split(" to ")[1].split(" ")[0] for tx in txs}
    assert "(create)" in recipients  # contract deployments, then calls to them
    # Governance, and the services: cash tokens, securities, credit, registry, invoices, forum
    natives = {"0x" + n.to_bytes(20, "big").hex()
               for n in (0x1000, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005)}
    assert natives <= recipients
    assert len(recipients - natives) >= 3  # user contracts and plain transfers


Replayed = Callable[[str], list[tuple[int, Outcome, Outcome]]]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """The chain replayed once per engine in this module."""

    @functools.cache
    def run(engine: str) -> list[tuple[int, Outcome, Outcome]]:
        return replay(tmp_path_factory.mktemp(f"replay-{engine}") / "app", engine)

    return run


@pytest.mark.parametrize("engine", ["revm", "py-evm"])
def test_the_recorded_chain_replays_to_the_same_app_hash(replayed: Replayed, engine: str) -> None:
    hashes = replayed(engine)
    problem = _first_difference(hashes)
    assert problem is None, f"{engine}: {problem}"
    assert len(hashes) == len(recorded()["blocks"]) + 1


def test_a_changed_layout_is_named_by_its_first_height(replayed: Replayed) -> None:
    """The check can fail: a recorded app hash altered at one height is reported there, with
    that block's transactions."""
    blocks = recorded()["blocks"]
    busy = next(b for b in blocks[len(blocks) // 2:] if b["txs"])
    altered = [(h, ("00" * 32 if h == busy["height"] else want[0], want[1]), got)
               for h, want, got in replayed("revm")]
    problem = _first_difference(altered)
    assert problem is not None
    assert problem.startswith(f"block {busy['height']} first differs") and "app hash" in problem
    first_tx = "0x" + keccak(base64.b64decode(busy["txs"][0])).hex()
    assert first_tx in problem and " from 0x" in problem


def test_a_changed_gas_or_result_is_named_too(replayed: Replayed) -> None:
    """Results are consensus as well (CometBFT hashes them into the next header): a gas used
    that differs is reported at its transaction, even under the same app hash."""
    busy = next(b for b in recorded()["blocks"] if len(b["txs"]) == 1 and b["results"][0][0])
    altered = [(h, want, (got[0], [[*r[:3], r[3] + 1] for r in got[1]])
                if h == busy["height"] else got) for h, want, got in replayed("revm")]
    problem = _first_difference(altered)
    assert problem is not None
    assert problem.startswith(f"block {busy['height']} first differs")
    assert "transaction results differ" in problem and "gas used) recorded [" in problem
