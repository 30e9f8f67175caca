"""The ABCI application: every call CometBFT makes, in the order it makes them.

Each method says when the engine calls it and what the application must guarantee there;
the real work (transaction checks, block execution, storage) is the `Ledger`'s. This module
only translates between protobuf and the ledger's plain values.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from consortium import __version__
from consortium.abci.protocol import types_pb2 as abci
from consortium.errors import ConfigError
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.snapshots import FORMAT as SNAPSHOT_FORMAT
from consortium.ledger.snapshots import NodeSnapshots, SnapshotRefused, SnapshotRestore
from consortium.ledger.types import BlockContext
from consortium.ledger.upgrades import UpgradeRequired

log = logging.getLogger("consortium.app")

APP_VERSION = 1
CODESPACE = "consortium"


def _keys_pb2() -> Any:
    from tendermint.crypto import keys_pb2  # type: ignore[import-not-found]

    return keys_pb2


class AbciObserver(Protocol):
    """Told what the application did, for the node's metrics (`consortium.api.metrics`);
    called on the consensus thread, so it must be quick."""

    def checked(self, code: int) -> None: ...  # a first CheckTx, 0: accepted

    def finalized(self, height: int, txs: int, time_ns: int, seconds: float) -> None: ...

    def committed(self, seconds: float) -> None: ...


class ConsortiumApp:
    """Maps ABCI 2.0 requests onto the ledger."""

    # The node's state-sync snapshots (set by the node; None: none taken, offered or
    # restored), and the restore in progress while this node state-syncs.
    snapshots: NodeSnapshots | None = None
    _restore: SnapshotRestore | None = None
    # Answered on the ABCI server's worker thread, beside CheckTx on its loop: the ledger
    # executes a block on pending state under its own lock, CheckTx reads the committed
    # state under the mempool lock (`Ledger`), and CometBFT sends Commit, which swaps
    # them, only after FinalizeBlock's answer.
    concurrent_calls = ("finalize_block",)

    def __init__(self, ledger: Ledger,
                 on_check: Callable[[bytes, int, str], None] | None = None,
                 on_halt: Callable[[str], None] | None = None) -> None:
        self.ledger = ledger
        # told why, when the node must stop for a software upgrade it lacks (the node
        # process then stops with consortium.ledger.upgrades.UPGRADE_EXIT_CODE)
        self.on_halt = on_halt
        # told (raw tx, code, log) of every first CheckTx: how this node's API learns the
        # answer to a transaction it forwarded with broadcast_tx_async
        self.on_check = on_check
        self.observer: AbciObserver | None = None  # the node's metrics, if any
        self._keys = _keys_pb2()

    # --- info connection ---------------------------------------------------------------------

    def echo(self, req: Any) -> Any:
        return abci.ResponseEcho(message=req.message)

    def flush(self, req: Any) -> Any:
        return abci.ResponseFlush()

    def info(self, req: Any) -> Any:
        """Handshake, on every start: report the last *committed* height and app hash, so the
        engine replays exactly the blocks this application has not persisted."""
        height, app_hash = self.ledger.info()
        log.info("info: last committed height %d app hash %s", height, app_hash.hex() or "-")
        return abci.ResponseInfo(
            data="consortium",
            version=__version__,
            app_version=APP_VERSION,
            last_block_height=height,
            last_block_app_hash=app_hash,
        )

    def query(self, req: Any) -> Any:
        """Reads through the engine. With `filter_peers = true` the engine asks here, for
        every connection, whether the peer's address and then its node id may connect."""
        path = req.path
        if path.startswith("/p2p/filter/addr/"):
            return abci.ResponseQuery(code=0)
        if path.startswith("/p2p/filter/id/"):
            node_id = path.removeprefix("/p2p/filter/id/").lower()
            if self.ledger.is_admitted_node(node_id):
                return abci.ResponseQuery(code=0, log="admitted")
            if self._bootstrap_peer(node_id):
                return abci.ResponseQuery(code=0, log="state-sync peer, until state is here")
            reason = f"peer {node_id} refused: not an admitted consortium node"
            log.warning(reason)
            return abci.ResponseQuery(code=1, log=reason, codespace=CODESPACE)
        if path == "/snapshots":
            return self._query_snapshots()
        return abci.ResponseQuery(code=1, log=f"unknown query path {path!r}", codespace=CODESPACE)

    # --- consensus connection, at genesis -------------------------------------------------

    def init_chain(self, req: Any) -> Any:
        """Once, at genesis: build the initial state from app_state. The validators the
        engine proposes (from genesis.json) are accepted as they are."""
        try:
            raw = json.loads(req.app_state_bytes or b"{}")
        except ValueError as exc:
            raise ConfigError(f"genesis app_state is not valid JSON: {exc}") from None
        app_state = AppState.from_json(raw)
        self._check_genesis_validators(app_state, req.validators)
        app_hash = self.ledger.init_chain(app_state, req.initial_height or 1)
        log.info(
            "init_chain: chain %s, %d members, app hash %s",
            req.chain_id,
            len(app_state.members),
            app_hash.hex(),
        )
        return abci.ResponseInitChain(app_hash=app_hash)

    @staticmethod
    def _check_genesis_validators(app_state: AppState, validators: Any) -> None:
        """The members' validators in app_state must be exactly genesis.json's validators,
        or a later governance vote could name a key the engine does not know and halt it."""
        listed = {(v.pub_key, v.power) for m in app_state.members for v in m.validators}
        if not listed:
            return  # an app_state that names no validators leaves the set to the engine
        engine = {
            (base64.b64encode(bytes(v.pub_key.ed25519)).decode(), v.power) for v in validators
        }
        if listed != engine:
            raise ConfigError(
                "genesis app_state validators do not match genesis.json validators "
                f"({len(listed)} vs {len(engine)} keys, or different powers)"
            )

    # --- mempool connection -------------------------------------------------------------------

    def check_tx(self, req: Any) -> Any:
        """Before a transaction enters the mempool, and again (recheck) after each block for
        those still waiting. Stateless and quick: checks, never executes contract code."""
        recheck = req.type == abci.RECHECK
        gas_wanted, tx_hash = 0, "-"
        try:
            out = self.ledger.check_tx(req.tx, recheck=recheck)
            code, text, gas_wanted, tx_hash = out.code, out.log, out.gas_wanted, out.tx_hash
        except Exception as exc:  # a bug must not take the mempool connection down
            log.exception("check_tx failed unexpectedly")
            code, text = 1, f"internal error: {type(exc).__name__}"
        if self.on_check is not None and not recheck:
            self.on_check(bytes(req.tx), code, text)
        if self.observer is not None and not recheck:
            self.observer.checked(code)
        if code:
            log.info("check_tx refused %s: %s", tx_hash or "-", text)
            return abci.ResponseCheckTx(code=code, log=text, codespace=CODESPACE)
        return abci.ResponseCheckTx(code=0, gas_wanted=gas_wanted)

    def check_tx_batch(self, txs: list[bytes]) -> None:
        """CheckTx requests that arrived together (transactions from peers, or sent to the
        engine directly), before they are answered one by one: their senders recovered in
        one call with the GIL released, instead of each CheckTx recovering its own with the
        lock held while a block executes beside it. Only an optimisation: each CheckTx still
        decodes and refuses what is wrong."""
        self.ledger.prime_senders(txs)

    def check_tx_wire(self, req: Any) -> bytes:
        """`check_tx`'s answer serialized (the ABCI server sends it without copying it into
        a Response)."""
        return bytes(self.check_tx(req).SerializeToString())

    # --- consensus connection, per block -----------------------------------------------------

    def prepare_proposal(self, req: Any) -> Any:
        """When this node proposes: take the mempool's transactions in order, up to the size
        limit the engine gives."""
        txs, total = [], 0
        for tx in req.txs:
            total += len(tx)
            if req.max_tx_bytes and total > req.max_tx_bytes:
                break
            txs.append(tx)
        return abci.ResponsePrepareProposal(txs=txs)

    def process_proposal(self, req: Any) -> Any:
        """Another validator's proposal: invalid transactions are skipped deterministically
        at execution, so every proposal is acceptable."""
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    def extend_vote(self, req: Any) -> Any:
        return abci.ResponseExtendVote()

    def verify_vote_extension(self, req: Any) -> Any:
        return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.ACCEPT)

    def finalize_block_wire(self, req: Any) -> bytes:
        """`finalize_block`'s answer serialized (the ABCI server sends it without copying a
        1,000-result message into a Response)."""
        return bytes(self.finalize_block(req).SerializeToString())

    def finalize_block(self, req: Any) -> Any:
        """A decided block: execute its transactions in order on pending state and return one
        result per transaction and the new app hash. The results carry no ABCI events: the
        ledger indexes transactions and logs itself (eth_getTransactionReceipt, eth_getLogs,
        eth_subscribe), the engine's indexer is off, and building protobuf events cost the
        node more than executing the transactions. Nothing is persisted until Commit; after
        a crash the engine calls this again for the same height."""
        ctx = BlockContext(
            height=req.height,
            time_ns=req.time.seconds * 1_000_000_000 + req.time.nanos,
            proposer=bytes(req.proposer_address),
            block_hash=bytes(req.hash),
            prevrandao=hashlib.sha256(b"prevrandao" + bytes(req.hash)).digest(),
        )
        started = time.perf_counter()
        try:
            outcome = self.ledger.finalize_block(ctx, list(req.txs))
        except UpgradeRequired as halt:
            # never answer this block: the engine stops, nothing is committed under the
            # old rules, and the node process exits (see on_halt)
            log.critical("%s", halt)
            if self.on_halt is not None:
                self.on_halt(str(halt))
            raise
        if self.observer is not None:
            self.observer.finalized(req.height, len(req.txs), ctx.time_ns,
                                    time.perf_counter() - started)
        # filled in place (`add`): kwargs-built results copied into the list cost half again
        answer = abci.ResponseFinalizeBlock(app_hash=outcome.app_hash)
        add = answer.tx_results.add
        for r in outcome.tx_results:
            add(code=r.code, data=r.data, log=r.log, gas_wanted=r.gas_wanted,
                gas_used=r.gas_used, codespace=CODESPACE if r.code else "")
        for u in outcome.validator_updates:
            update = answer.validator_updates.add(power=u.power)
            update.pub_key.ed25519 = u.pub_key_ed25519
        return answer

    def commit(self, req: Any) -> Any:
        """Persist the finalized block — state, receipts, indexes, height and app hash — in
        one database transaction. After this returns, a crash loses nothing."""
        started = time.perf_counter()
        self.ledger.commit()
        if self.observer is not None:
            self.observer.committed(time.perf_counter() - started)
        if self.snapshots is not None:
            self.snapshots.after_commit(self.ledger.info()[0])
        return abci.ResponseCommit(retain_height=0)

    # --- snapshot connection: state sync (consortium.ledger.snapshots) -------------------

    def list_snapshots(self, req: Any) -> Any:
        """The snapshots this node keeps, newest first, for peers that state-sync."""
        if self.snapshots is None:
            return abci.ResponseListSnapshots()
        return abci.ResponseListSnapshots(snapshots=[
            abci.Snapshot(height=s.height, format=s.format, chunks=s.chunks, hash=s.hash,
                          metadata=s.metadata)
            for s in self.snapshots.list()
        ])

    def load_snapshot_chunk(self, req: Any) -> Any:
        chunk = b""
        if self.snapshots is not None:
            chunk = self.snapshots.load_chunk(req.height, req.format, req.chunk)
        return abci.ResponseLoadSnapshotChunk(chunk=chunk)

    def offer_snapshot(self, req: Any) -> Any:
        """A peer's snapshot, with the app hash the light client verified for its height:
        accepted only by an empty ledger, in our format, whose metadata names that hash as
        its state root and matches the snapshot's hash."""
        result = abci.ResponseOfferSnapshot
        snap = req.snapshot
        if self.ledger.info()[0] and self._restore is None:
            log.warning("snapshot of height %d refused: this ledger already has state",
                        snap.height)
            return result(result=result.ABORT)
        if snap.format != SNAPSHOT_FORMAT:
            return result(result=result.REJECT_FORMAT)
        if hashlib.sha256(snap.metadata).digest() != bytes(snap.hash):
            log.warning("snapshot of height %d refused: its metadata does not match its hash",
                        snap.height)
            return result(result=result.REJECT)
        try:
            restore = SnapshotRestore(
                self.ledger.store, bytes(snap.metadata), bytes(req.app_hash),
                self.snapshots.genesis_app_state if self.snapshots is not None else None)
        except SnapshotRefused as err:
            log.warning("snapshot of height %d refused: %s", snap.height, err.message)
            return result(result=result.REJECT)
        except Exception:  # a local failure (the disk): state sync cannot go on here
            log.exception("snapshot of height %d: the ledger could not be prepared",
                          snap.height)
            return result(result=result.ABORT)
        if restore.height != snap.height or restore.chunks != snap.chunks:
            log.warning("snapshot of height %d refused: its metadata says height %d, %d "
                        "chunks", snap.height, restore.height, restore.chunks)
            return result(result=result.REJECT)
        self._restore = restore
        log.info("restoring snapshot of height %d (%d chunks, app hash %s)", snap.height,
                 restore.chunks, bytes(req.app_hash).hex())
        return result(result=result.ACCEPT)

    def apply_snapshot_chunk(self, req: Any) -> Any:
        """A chunk of the accepted snapshot, in order: a chunk that does not match its hash
        is fetched again from another peer; one whose content does not prove the verified
        app hash refuses the whole snapshot. After the last, the ledger opens the state."""
        result = abci.ResponseApplySnapshotChunk
        restore = self._restore
        if restore is None:
            return result(result=result.ABORT)
        try:
            finished = restore.apply(req.index, bytes(req.chunk))
        except SnapshotRefused as err:
            if getattr(err, "chunk_corrupt", False):
                log.warning("%s: fetching it again (refusing peer %s)", err.message, req.sender)
                return result(result=result.RETRY, refetch_chunks=[req.index],
                              reject_senders=[req.sender] if req.sender else [])
            log.warning("snapshot of height %d refused: %s", restore.height, err.message)
            self._restore = None
            return result(result=result.REJECT_SNAPSHOT)
        except Exception:  # a local failure (the disk): state sync cannot go on here
            log.exception("snapshot of height %d: chunk %d could not be stored",
                          restore.height, req.index)
            self._restore = None
            return result(result=result.ABORT)
        if finished:
            self._restore = None
            self.ledger.reload()
            log.info("state restored from the snapshot of height %d, app hash %s",
                     restore.height, restore.root.hex())
        return result(result=result.ACCEPT)

    def _bootstrap_peer(self, node_id: str) -> bool:
        """A ledger with no state yet cannot tell who is admitted: while it has none, the
        peers its config names (the node it trusts) may connect, so it can state-sync."""
        if self.snapshots is None or self.ledger.info() != (0, b""):
            return False
        return node_id in self.snapshots.bootstrap_peers

    def _query_snapshots(self) -> Any:
        """`/snapshots`: the snapshots this node offers (JSON), so a joining node can tell
        before it starts whether state sync will find one."""
        snaps = self.snapshots.list() if self.snapshots is not None else []
        doc = {"interval": self.snapshots.config.interval if self.snapshots else 0,
               "snapshots": [{"height": s.height, "format": s.format, "chunks": s.chunks,
                              "hash": s.hash.hex()} for s in snaps]}
        return abci.ResponseQuery(code=0, value=json.dumps(doc).encode())
