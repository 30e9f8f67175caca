"""Private execution of privacy groups on a member's node (issue 22): `PrivateGroups`
follows the committed public chain, off the consensus path, and for every group whose keys
this node opens executes the group's private transactions against the group's own state.

Per committed public block, in order: its *markers* (transactions to the Privacy contract
that succeeded and call `submit(groupId, epoch, payload)`) are decrypted with the group's
epoch key (this node's envelope, or the history a later member receives), each private
transaction is decoded with the group's chain id and checked — sent by an account of one of
the group's current members (and allowed to send at all: active, not frozen, may deploy),
no fee, gas within the block gas limit, the private next nonce, not to a system contract —
and executed with the ledger's engine and native contracts over the group's trie, in the
public block's environment, the system contracts read from the public state of that block
(`consortium.evm.public_reads`). A refused transaction leaves a rejection record with the
reason. Every public height from the group's creation on gets one private block (empty ones
carry the root), written with the public store's records (`StateStore`, `write_block`) into
the group's LMDB environment `<ledger dir>/private/<group id hex>/` in one write transaction,
its `meta height` being the public height processed: after a crash the processor resumes
from there (the public chain keeps every marker). Nothing is written to the public store.

A member whose node cannot open a marker's epoch key (it was removed: no envelope for the
new epoch) stops before that block; a node that gets the key later (added with history)
continues. Deterministic: every member's node computes the same private roots.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lmdb
from eth.abc import AtomicDatabaseAPI
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from consortium.errors import ConsortiumError, MalformedTx, NotPermitted
from consortium.evm.abc import WorldFactory, WorldStateAPI
from consortium.evm.engine import EMPTY_ROOT, WorldState
from consortium.evm.header import BlockEnv
from consortium.evm.native import NATIVE_STUB_CODE, registered_natives
from consortium.evm.public_reads import PublicReader, cached, public_reads
from consortium.evm.revm_engine import transaction_batch_parser, transaction_parser
from consortium.ledger.chain_store import BlockRecord, write_block
from consortium.ledger.executor import BlockExecutor, PendingBlock
from consortium.ledger.ledger import Ledger
from consortium.ledger.private_ledger import (
    GROUP_KEY,
    MARKERS_DB,
    PUBLIC_SYSTEM,
    PrivateLedger,
)
from consortium.ledger.snapshots import restored_height
from consortium.ledger.state_store import StateStore, u64
from consortium.ledger.transactions import Permission, SenderCache, SignedTx, check_admission
from consortium.ledger.types import BlockContext
from consortium.system.access import AccessView
from consortium.system.privacy import PRIVACY_ADDRESS, Privacy, PrivacyView
from consortium.system.privacy_payload import (
    group_chain_id,
    key_commitment,
    open_batch,
    unpack_history,
)
from consortium.system.sealing import SealError, public_key_of, unwrap_key

log = logging.getLogger("consortium.privacy")

SUBMIT_SELECTOR = keccak(b"submit(bytes32,uint32,bytes)")[:4]
FOLLOW_INTERVAL = 1.0  # seconds between two looks at the chain when not notified
# A catch-up (a replay of a group's history above all: more than PACE_LAG heights behind)
# uses at most this share of one core: after each PACE_BURST seconds of the thread's CPU it
# sleeps as long as the share leaves. Following the tip is not paced.
REPLAY_SHARE = 0.5
PACE_BURST = 0.05
PACE_LAG = 32
# Heights without markers written in one LMDB transaction at most (a member added later
# replays from the group's creation: mostly empty heights, one fsync per batch of them)
CARRY_BATCH = 1024
# on_block(group id, public height, private root, whether the group had markers there)
OnBlock = Callable[[bytes, int, bytes, bool], None]


@dataclass(frozen=True, slots=True)
class Marker:
    """A committed `Privacy.submit`: one sealed batch of a group's private transactions."""

    tx_hash: bytes
    group_id: bytes
    epoch: int
    payload: bytes


class Pacer:
    """Keeps a thread's long run of work to `share` of one core: `step()` after each piece
    sleeps, once the thread's CPU since the last rest reaches `burst` seconds, as long as
    the share leaves. Sleeping lets go of the GIL, so the node's ABCI and API threads run
    meanwhile. (Why not a lower priority for the thread: a thread niced below the node that
    holds the GIL is itself preempted on a busy machine, and every thread of the node then
    waits for it: the replay that was to yield stalls the node instead.)"""

    def __init__(self, share: float = REPLAY_SHARE, burst: float = PACE_BURST,
                 cpu: Callable[[], float] = time.thread_time,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], not {share}")
        self.share, self.burst, self._cpu, self._sleep = share, burst, cpu, sleep
        self._mark = cpu()

    def start(self) -> None:
        """A run of work begins: what came before it does not count."""
        self._mark = self._cpu()

    def step(self) -> None:
        used = self._cpu() - self._mark
        if used >= self.burst:
            if self.share < 1:
                self._sleep(used * (1 - self.share) / self.share)
            self._mark = self._cpu()


def block_markers(ledger: Ledger, height: int) -> list[Marker]:
    """The markers of committed public block `height`, in block order."""
    out = []
    for rec in ledger.chain.txs_of_block(height):
        if rec.status != 1 or PRIVACY_ADDRESS not in rec.raw or SUBMIT_SELECTOR not in rec.raw:
            continue  # cheap filters: most transactions are not markers
        tx = PragueTransactionBuilder.decode(rec.raw)  # committed: it decodes
        data = bytes(tx.data)
        if bytes(tx.to) != PRIVACY_ADDRESS or data[:4] != SUBMIT_SELECTOR:
            continue
        try:
            group_id, epoch, payload = abi_decode(["bytes32", "uint32", "bytes"], data[4:])
        except Exception:  # accepted by the contract, so not expected: skipped on every node
            log.warning("marker 0x%s at height %d does not decode: skipped", rec.hash.hex(),
                        height)
            continue
        out.append(Marker(rec.hash, bytes(group_id), int(epoch), bytes(payload)))
    return out


class _PrivateExecutor(BlockExecutor):
    """Block execution with the private admission rules: the sender's permission comes from
    the public state (`permission`, set per block), and private transactions pay no fee.
    A native the public state has an account for (`natives`, set per block) and the private
    state not yet (a service a software upgrade added after the group began) gets its stub
    account first, as genesis gives one, so it can hold state here too."""

    permission: Permission
    natives: tuple[bytes, ...] = ()

    def __init__(self, store: StateStore, senders: SenderCache, chain_id: int,
                 gas_limit: int, world: WorldFactory) -> None:
        super().__init__(store, senders, chain_id, gas_limit, self._stubbed)
        self._factory = world

    def _stubbed(self, db: AtomicDatabaseAPI, state_root: bytes,
                 env: BlockEnv) -> WorldStateAPI:
        world = self._factory(db, state_root, env)
        for address in self.natives:
            if not world.get_code(address):
                world.set_nonce(address, 1)
                world.set_code(address, NATIVE_STUB_CODE)
        return world

    def _admit(self, stx: SignedTx, world: WorldStateAPI, access: AccessView,
               cumulative: int) -> None:
        tx = stx.tx
        if tx.max_fee_per_gas or tx.max_priority_fee_per_gas:
            raise MalformedTx(f"a private transaction pays no fee: its gas price / "
                              f"maxFeePerGas must be 0, not {tx.max_fee_per_gas}")
        if bytes(tx.to) in PUBLIC_SYSTEM:
            raise NotPermitted(f"0x{bytes(tx.to).hex()} is a public system contract: send "
                               "this transaction on the public chain")
        # a group's private block of one public height uses at most the block gas limit,
        # as a public block: a marker pays for its bytes, not for the private gas it
        # carries (120 KiB of looping transactions would each ask for the whole limit and
        # stall every member's processor); what does not fit is refused, naming it
        check_admission(
            stx, permission=self.permission, block_gas_limit=self.gas_limit,
            block_gas_used=cumulative, next_nonce=world.get_nonce(stx.sender),
            balance=world.get_balance(stx.sender),
            sender_has_code=bool(world.get_code(stx.sender)),
        )


class _Group:
    """One group's store on this node, its reads and its executor."""

    def __init__(self, group_id: bytes, path: Path, ledger: Ledger, readonly: bool = False
                 ) -> None:
        app = ledger._app_state
        assert app is not None
        self.group_id = group_id
        self.chain_id = group_chain_id(app.eth_chain_id, group_id)
        self.store = StateStore(path, readonly=readonly)
        try:
            self.markers = self.store.env.open_db(MARKERS_DB, create=not readonly)
        except BaseException:
            self.store.close()
            raise
        self.senders = SenderCache(capacity=4096, parse=transaction_parser(ledger.engine),
                                   parse_many=transaction_batch_parser(ledger.engine))
        self.executor = _PrivateExecutor(self.store, self.senders, self.chain_id,
                                         app.block_gas_limit, ledger._world)
        self.app_state = replace(app, eth_chain_id=self.chain_id)
        self.reader: PrivateLedger | None = None
        self.stuck_at = 0  # a height whose marker this node cannot open (0: none)
        self.told = 0  # the height the log last said it stops at
        self.created: int | None = None
        # heights without markers processed, not yet written: (private block, had markers)
        self.carried: list[tuple[BlockRecord, bool]] = []

    def created_at(self) -> int | None:
        """The group's creation height, where its store starts (None: not started)."""
        if self.created is None:
            raw = self.store.get("meta", GROUP_KEY)
            if raw is not None:
                self.created = int.from_bytes(raw[32:40], "big")
        return self.created

    def processed(self) -> int:
        """The last height processed (written, or carried and about to be)."""
        return self.carried[-1][0].number if self.carried else self.written()

    def written(self) -> int:
        """The last height in the store."""
        return self.store.committed()[0]

    def close(self) -> None:
        self.store.close()


class PrivateGroups:
    """The privacy groups this node is in: their stores, kept up to date with the committed
    public chain by `follow()` (a thread of its own with `start()`)."""

    def __init__(self, ledger: Ledger, home_dir: Path, privacy_key: bytes,
                 on_block: OnBlock | None = None, *, readonly: bool = False) -> None:
        """`home_dir`: the node's home (the group stores live beside the ledger's own store,
        in `<ledger dir>/private/`, wherever that is); `privacy_key`: this node's 32-byte
        secp256k1 privacy key; `on_block(group id, height, private root, had markers)` after
        each height a group's store processed (from this object's thread). `readonly`: the
        reads of the stores the node's own processor writes, from another process (the
        node's API in a process of its own, over a `LedgerView`): it never follows the
        chain, and finds the groups the processor started as they appear."""
        self.ledger = ledger
        self.readonly = readonly
        self.home_dir = Path(home_dir)
        self.root = Path(ledger.store.env.path()) / "private"
        self._key = bytes(privacy_key)
        public_key = public_key_of(self._key)
        self.node_account = keccak(public_key)[12:]
        self.on_block = on_block
        self._groups: dict[bytes, _Group] = {}
        self._keys: dict[tuple[bytes, int], bytes] = {}
        self._mismatched: set[tuple[bytes, int]] = set()  # opened, not the committed key
        self._member = 0
        self._unreachable: set[bytes] = set()  # groups older than this node's history
        self._looked = (0, 0)  # (height, member) up to which every group was looked at
        self._lock = threading.RLock()  # one follow() at a time
        self._groups_lock = threading.Lock()  # the dict of groups: reads never wait on follow()
        self._wake = threading.Event()
        self._closed = False
        self._opened = False
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()  # set by stop(): ends the loops and a pacing sleep
        self._pacer = Pacer(sleep=self._halt.wait)  # the thread's catch-ups
        if ledger._app_state is not None:  # else at the first follow(), after InitChain
            self._open_existing()

    # --- the interface ---------------------------------------------------------------------

    def follow(self, pace: bool = False) -> None:
        """Process every committed public block up to the ledger's height, for every group
        this node is in (thread-safe; does nothing when up to date). With `pace`, a
        catch-up takes at most `REPLAY_SHARE` of a core (`Pacer`): the processor's thread."""
        with self._lock:
            if self._closed or self.ledger._app_state is None or self.readonly:
                return
            if not self._opened:
                self._open_existing()
            target = self.ledger.store.committed()[0]
            if target == 0:
                return
            latest = self._view(target)
            self._member = latest.member_of_node(self.node_account)
            self._discover(latest, target)
            with self._groups_lock:
                groups = [g for g in self._groups.values() if g.created_at() is not None]
            for group in groups:
                group.stuck_at = 0  # a key may have come: try again
            self._pacer.start()
            try:
                while not self._halt.is_set():
                    behind = [(g.processed(), g) for g in groups
                              if not g.stuck_at and g.processed() < target]
                    if not behind:
                        return
                    height = min(done for done, _ in behind) + 1
                    self._process(height, [g for done, g in behind if done == height - 1])
                    if pace and target - height > PACE_LAG:
                        self._pacer.step()
            finally:
                for group in groups:
                    self._flush(group)

    def start(self) -> None:
        """Follow the chain in a daemon thread: on `notify()`, and every second."""
        if self._thread is not None or self.readonly:
            return
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, name="private-groups", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """A public block was committed (the node calls this after each Commit)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread (after the block it is processing) and close the stores."""
        self._halt.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=60)
        with self._lock, self._groups_lock:
            self._closed = True
            for group in self._groups.values():
                group.close()
            self._groups = {}

    close = stop

    def group_ids(self) -> list[bytes]:
        """The groups this node has a store for (it is or was in them)."""
        self._find_new()
        with self._groups_lock:
            return sorted(self._groups)

    def _find_new(self, group_id: bytes | None = None) -> None:
        """Read-only: open the stores the node's processor started since (all, or the one
        of `group_id` if it is not open yet)."""
        if not self.readonly or self._closed or self.ledger._app_state is None:
            return
        if group_id is not None:
            with self._groups_lock:
                if bytes(group_id) in self._groups:
                    return
        self._open_existing()

    def reader(self, group_id: bytes) -> PrivateLedger | None:
        """The reads of one group's private store, or None if this node has none."""
        self._find_new(group_id)
        with self._groups_lock:
            group = self._groups.get(bytes(group_id))
            if group is None:
                return None
            if group.reader is None:
                created = group.created_at()
                if created is None:
                    return None
                group.reader = PrivateLedger(group.group_id, group.store, group.app_state,
                                             created, self.ledger._world, self._public_reader,
                                             group.markers)
            return group.reader

    def processed_height(self, group_id: bytes) -> int:
        """The last public height this node's store of the group has processed (0: none)."""
        self._find_new(group_id)
        with self._groups_lock:
            group = self._groups.get(bytes(group_id))
            return 0 if group is None else group.written()

    def key_opens(self, group_id: bytes) -> bool:
        """Whether this node opens the group's current epoch key (and it is the committed
        one)."""
        height = self.ledger.store.committed()[0]
        if not height:
            return False
        info = self._view(height).group(bytes(group_id))
        return info is not None and self.epoch_key(group_id, info.epoch) is not None

    def key_mismatch(self, group_id: bytes) -> bool:
        """Whether a key this node opened for the group's current epoch is not the one the
        chain's commitment names (a founder or proposer gave this member another key)."""
        height = self.ledger.store.committed()[0]
        info = self._view(height).group(bytes(group_id)) if height else None
        if info is None:
            return False
        self.epoch_key(group_id, info.epoch)
        return (bytes(group_id), int(info.epoch)) in self._mismatched

    def change_key_mismatch(self, group_id: bytes) -> bool:
        """Whether the key the group's open change wrapped for this node does not open or is
        not the one the change committed to (approving it would make the group part)."""
        height = self.ledger.store.committed()[0]
        view = self._view(height) if height else None
        info = view.group(bytes(group_id)) if view is not None else None
        pending = view.pending_change(bytes(group_id)) if view is not None else None
        member = view.member_of_node(self.node_account) if view is not None else 0
        if view is None or info is None or pending is None or not member:
            return False
        gid, number = bytes(group_id), pending[0]
        wrapped = view.state.keys[gid, number, member]
        if not wrapped:
            return False
        try:
            key = unwrap_key(wrapped, self._key)
        except SealError:
            return True
        return bool(view.state.commitments[gid, number]
                    != key_commitment(gid, int(info.epoch) + 1, key))

    def epoch_key(self, group_id: bytes, epoch: int) -> bytes | None:
        """This node's key of a group's epoch (to seal a batch), or None if it has none."""
        group_id = bytes(group_id)
        found = self._keys.get((group_id, epoch))
        if found is not None:
            return found
        height = self.ledger.store.committed()[0]
        if not height:
            return None
        view = self._view(height)
        member = view.member_of_node(self.node_account)
        if not member:
            return None
        wrapped = view.epoch_key(group_id, epoch, member)
        if wrapped:
            try:
                key = unwrap_key(wrapped, self._key)
            except SealError:
                key = None
            if key is not None and self._committed(view, group_id, epoch, key):
                self._keys[(group_id, epoch)] = key
                return key
        history = view.history_key(group_id, member)
        if history is not None:
            try:
                keys = unpack_history(history[1], self._key)
            except SealError:
                keys = []
            for i, key in enumerate(keys):
                if (group_id, i) not in self._keys and self._committed(view, group_id, i, key):
                    self._keys[(group_id, i)] = key
        return self._keys.get((group_id, epoch))

    def _committed(self, view: Any, group_id: bytes, epoch: int, key: bytes) -> bool:
        """Whether `key` is the one the group's epoch committed to on chain; if not, it is
        never used (logged once): a node that executed under another key than its fellow
        members would part from them."""
        if view.epoch_commitment(group_id, epoch) == key_commitment(group_id, epoch, key):
            self._mismatched.discard((group_id, epoch))
            return True
        if (group_id, epoch) not in self._mismatched:
            self._mismatched.add((group_id, epoch))
            log.warning("privacy group 0x%s: the key of epoch %d this node opened does not "
                        "match the key commitment on chain: it is not used (the group stops "
                        "here on this node)", group_id.hex(), epoch)
        return False

    # --- the work ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._halt.is_set():
            self._wake.clear()
            try:
                self.follow(pace=True)
            except Exception:  # logged, retried: the next block may be readable
                log.exception("private groups: following the chain failed")
            self._wake.wait(FOLLOW_INTERVAL)

    def _open_existing(self) -> None:
        """Open the stores a previous run made (before anything else reads them)."""
        self._opened = True
        if not self.root.is_dir():
            return
        for path in sorted(self.root.iterdir()):
            try:
                group_id = bytes.fromhex(path.name)
            except ValueError:
                continue
            if len(group_id) == 32 and path.is_dir():
                if not self.readonly:
                    self._open(group_id)
                    continue
                if (path / "data.mdb").is_file():
                    try:  # read-only: a store the processor is still making waits
                        self._open(group_id)
                    except lmdb.Error:
                        continue

    def _open(self, group_id: bytes) -> _Group:
        with self._groups_lock:
            group = self._groups.get(group_id)
            if group is None:
                group = self._groups[group_id] = _Group(
                    group_id, self.root / group_id.hex(), self.ledger, self.readonly)
            return group

    def _discover(self, latest: Any, target: int) -> None:
        """Open a store for every active group this node's member is in (at `latest`, the
        public state after `target`). Once every group was looked at, only those a block
        since activated or changed the members of: any member may found any number of
        groups, and reading them all at every block would grow without bound."""
        if not self._member:
            return
        height, member = self._looked
        ids = (self._changed_groups(height + 1, target) if height and member == self._member
               else [bytes(g) for g in latest.groups()])
        for group_id in ids:
            if group_id in self._groups and self._groups[group_id].created_at() is not None:
                continue
            info = latest.group(group_id)
            # pending groups too wait (no markers before): any member may found any number
            # naming this one, and each store takes an LMDB environment and processor time
            if info is None or self._member not in info.members or int(info.status) != 2:
                continue
            first = restored_height(self.ledger.store)
            if info.created_at < first:  # state-synced: the group's markers are not here
                if group_id not in self._unreachable:
                    self._unreachable.add(group_id)
                    log.warning("privacy group 0x%s began at height %d, before the snapshot "
                                "this node started from (%d): it cannot replay the group",
                                group_id.hex(), info.created_at, first)
                continue
            group = self._open(group_id)
            self._genesis(group, info.created_at)
            log.info("privacy group 0x%s: following from height %d", group_id.hex(),
                     info.created_at)
        self._looked = (target, self._member)

    def _changed_groups(self, lo: int, hi: int) -> list[bytes]:
        """The groups that became active or changed members in public blocks lo..hi (the
        Privacy contract's GroupActivated and MembersChanged events)."""
        chain = self.ledger.chain
        positions = [pos for topic in (Privacy.GroupActivated.topic0,
                                       Privacy.MembersChanged.topic0)
                     for pos in chain.log_positions_by_topic(0, topic, lo, hi)]
        return sorted({bytes(entry.topics[1]) for entry in chain.logs_at(positions)
                       if bytes(entry.address) == PRIVACY_ADDRESS and len(entry.topics) > 1})

    def _genesis(self, group: _Group, created_at: int) -> None:
        """The group's first private block, at its creation height: an empty state but for
        the native contracts' stub accounts that the public state has at that height (so a
        private contract calling a native sees code there, as on the public chain)."""
        if group.created_at() is not None:
            return
        public = self._public_world(created_at)
        block = self.ledger.chain.block(created_at)
        if block is None:
            raise ConsortiumError(f"public block {created_at} is missing")
        trie_db = group.store.trie_db(write_height=created_at)
        env = BlockEnv(created_at, block.timestamp, block.miner, block.prevrandao,
                       block.gas_limit, group.chain_id)
        world = WorldState(trie_db, EMPTY_ROOT, env)
        for address in sorted(registered_natives()):
            if public.get_code(address):
                world.set_nonce(address, 1)
                world.set_code(address, NATIVE_STUB_CODE)
        root = world.persist()
        record = replace(block, state_root=root, gas_used=0, bloom=b"\x00" * 256,
                         tx_hashes=())
        with group.store.write() as txn:
            trie_db.flush_into(txn, group.store)
            write_block(group.store, txn, record, (), ())
            self._write_head(group, txn, created_at, root, trie_db.location(root))
            txn.put(GROUP_KEY, group.group_id + u64(created_at), db=group.store.dbs["meta"])
        group.created = created_at

    def _process(self, height: int, groups: Sequence[_Group]) -> None:
        """Public block `height` for each of `groups` (all processed up to height - 1)."""
        block = self.ledger.chain.block(height)
        if block is None:
            raise ConsortiumError(f"public block {height} is missing")
        markers = block_markers(self.ledger, height)
        for group in groups:
            mine = [m for m in markers if m.group_id == group.group_id]
            batches = self._open_markers(group, height, mine)
            if batches is None:
                group.stuck_at = height
                continue
            if not batches:
                self._carry(group, block, bool(mine))
                continue
            self._flush(group)
            self._announce(group, height, self._execute(group, block, batches), True)

    def _announce(self, group: _Group, height: int, root: bytes, had_markers: bool) -> None:
        if self.on_block is not None:
            try:
                self.on_block(group.group_id, height, root, had_markers)
            except Exception:
                log.exception("private groups: on_block failed")

    def _open_markers(self, group: _Group, height: int, markers: list[Marker],
                      ) -> list[tuple[Marker, list[bytes]]] | None:
        """Each marker with its raw private transactions; None if a key is missing."""
        out = []
        for marker in markers:
            key = self.epoch_key(group.group_id, marker.epoch)
            if key is None:
                if group.told != height:  # once, not at every retry
                    group.told = height
                    log.info("privacy group 0x%s: this node has no key of epoch %d (height "
                             "%d): it stops here", group.group_id.hex(), marker.epoch, height)
                return None
            try:
                raws = open_batch(key, group.group_id, marker.epoch, marker.payload)
            except SealError as exc:  # sealed wrongly by a member: the same on every node
                log.warning("privacy group 0x%s: marker 0x%s at height %d does not open (%s): "
                            "skipped", group.group_id.hex(), marker.tx_hash.hex(), height, exc)
                continue
            out.append((marker, raws))
        return out

    def _carry(self, group: _Group, block: BlockRecord, had_markers: bool) -> None:
        """A height without markers (that open): its private block repeats the previous
        root; written with the next ones (`_flush`)."""
        group.carried.append((block, had_markers))
        if len(group.carried) >= CARRY_BATCH:
            self._flush(group)

    def _flush(self, group: _Group) -> None:
        """Write the carried heights in one transaction, then announce them."""
        carried, group.carried = group.carried, []
        if not carried:
            return
        first = carried[0][0].number
        ref = group.store.root_ref(first - 1)
        if ref is None:
            raise ConsortiumError(f"group store has no root at {first - 1}")
        root, root_at = ref
        with group.store.write() as txn:
            for block, _ in carried:
                write_block(group.store, txn, replace(
                    block, state_root=root, gas_used=0, bloom=b"\x00" * 256, tx_hashes=()),
                    (), ())
                group.store.put_root(txn, block.number, root, root_at)
            self._write_head(group, txn, carried[-1][0].number, root, root_at)
        for block, had_markers in carried:
            self._announce(group, block.number, root, had_markers)

    def _execute(self, group: _Group, block: BlockRecord,
                 batches: list[tuple[Marker, list[bytes]]]) -> bytes:
        height = block.number
        raws = [raw for _, batch in batches for raw in batch]
        carriers = [m.tx_hash for m, batch in batches for _ in batch]
        parent = group.store.root_ref(height - 1)
        previous = group.store.get("blocks", u64(height - 1))
        if parent is None or previous is None:
            raise ConsortiumError(f"group store has no block at {height - 1}")
        parent_block = BlockRecord.decode(previous)
        ctx = BlockContext(height=height, time_ns=block.timestamp * 1_000_000_000,
                           proposer=block.miner, block_hash=block.hash,
                           prevrandao=block.prevrandao)
        public = self._public_world(height)
        read = cached(public.get_storage)
        view = PrivacyView(read)
        info = view.group(group.group_id)
        members = frozenset(info.members if info is not None else ())
        access = AccessView(read)

        def permission(sender: bytes, creates: bool, to: bytes = b"") -> str | None:
            if view.member_of_account(sender) not in members:
                return (f"sender 0x{sender.hex()} is not an account of a member of privacy "
                        f"group 0x{group.group_id.hex()}")
            return access.refusal(sender, creates)  # active, not frozen, may deploy

        group.executor.permission = permission
        group.executor.natives = tuple(
            address for address in sorted(registered_natives()) if public.get_code(address))
        group.senders.prime(raws, group.chain_id)  # signatures recovered with the GIL released
        recent = self.ledger.chain.recent_hashes(height - 1, 256)
        with public_reads(PUBLIC_SYSTEM, read):
            pending = group.executor.execute(ctx, raws, parent_block, recent)
        self._commit(group, pending, raws, carriers)
        return pending.state_root

    def _commit(self, group: _Group, pending: PendingBlock, raws: list[bytes],
                carriers: list[bytes]) -> None:
        carrier_of = {keccak(raw): carrier for raw, carrier in zip(raws, carriers, strict=True)}
        with group.store.write() as txn:
            pending.trie_db.flush_into(txn, group.store)
            write_block(group.store, txn, pending.block, pending.txs, pending.logs,
                        pending.rejections)
            self._write_head(group, txn, pending.height, pending.state_root,
                             pending.trie_db.location(pending.state_root))
            for rejected in pending.rejections:  # a hash's first marker is kept
                if txn.get(rejected.hash, db=group.markers) is None:
                    txn.put(rejected.hash, carrier_of[rejected.hash], db=group.markers)
            for rec in pending.txs:
                txn.put(rec.hash, carrier_of[rec.hash], db=group.markers)
        pending.keep()
        for raw in raws:
            group.senders.pop(raw)

    @staticmethod
    def _write_head(group: _Group, txn: lmdb.Transaction, height: int, root: bytes,
                    root_at: int) -> None:
        """The root and processed height of one private block (its records written)."""
        group.store.put_root(txn, height, root, root_at)
        meta = group.store.dbs["meta"]
        txn.put(b"height", u64(height), db=meta)
        txn.put(b"app_hash", root, db=meta)

    # --- the public state ---------------------------------------------------------------------

    def _public_world(self, height: int) -> WorldStateAPI:
        """A read-only world at the public state after block `height`."""
        ledger = self.ledger
        app = ledger._app_state
        root = ledger.store.root_at(height)
        if app is None or root is None:
            raise ConsortiumError(f"no public state at height {height}")
        env = BlockEnv(height, 0, b"\x00" * 20, b"\x00" * 32, app.block_gas_limit,
                       app.eth_chain_id)
        return ledger._world(ledger.store.trie_db(height), root, env)

    def _public_reader(self, height: int) -> PublicReader:
        return cached(self._public_world(height).get_storage)

    def _view(self, height: int) -> Any:
        return PrivacyView(self._public_reader(height))
