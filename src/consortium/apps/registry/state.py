"""The Registry contract's state over the EVM storage of 0x…2003 (slots: `RegistryState`;
a set keeps its count at s, item i at at(s, i) and item k's position + 1 at at(s + 1, k)).
Approvals count within one round (APPROVALS is keyed by asset and round): every change of
state starts a new one, so approvals to register never count toward retiring, nor approvals
given before a freeze after it.

Layout 2 (the contract's version 2, issue 23): an asset packed into 5 words instead of 12, a
pledge into 2 instead of 4, and the assets of a class (an asset never changes class) an
append-only list: an application writes 15 slots instead of 20. New chains start at it;
older ones move to it by the software upgrade `registry-layout-2`
(`consortium.apps.registry.upgrade`)."""

from __future__ import annotations

from consortium.apps.layout import layout_version
from consortium.apps.registry.model import ASSET_STATES, PLEDGE_STATES
from consortium.apps.service import StateView
from consortium.evm.field_types import Address, Id, Uint
from consortium.evm.host import Storage
from consortium.evm.records import (
    ADDRESS,
    BYTES32,
    STRING,
    UINT,
    Choice,
    Mapped,
    Record,
    SetOf,
    WordList,
    WordSet,
    field,
    key,
    packed_copy,
)

# the contract's version whose storage is layout 2 (module docstring)
PACKED_LAYOUT = 2


class AssetClass(Record):
    """An asset class: declared in its answer's order, stored at the offsets its layout
    has always had."""

    id: Id
    name: str = field(STRING, at=0)
    schema_hash: bytes = field(BYTES32, at=1)
    registrars: tuple[bytes, ...] = field(SetOf(ADDRESS), at=4)
    k: int = field(UINT, at=2)
    created_at: int = field(UINT, at=3)


class Asset(Record):
    """An asset. `approvals`, `k` and `active_pledges` are the contract's to fill in for
    an answer (its current round's approvals, its class's k, its active pledges); `round`
    and `pledge_count` are stored, but not answered."""

    id: Id
    class_id: int = field(UINT, at=0, json="class")
    external_id_hash: bytes = field(BYTES32, at=1)
    metadata_hash: bytes = field(BYTES32, at=2)
    owner: bytes = field(ADDRESS, at=3)
    state: str = field(Choice(ASSET_STATES), at=4)
    frozen_from: str = field(Choice(ASSET_STATES), at=5, null_if_zero=True)
    pending_owner: bytes = field(ADDRESS, at=6, null_if_zero=True)
    approvals: int = field(UINT, stored=False)
    k: int = field(UINT, stored=False)
    active_pledges: int = field(UINT, stored=False)
    applicant: bytes = field(ADDRESS, at=9)
    created_at: int = field(UINT, at=10)
    updated_at: int = field(UINT, at=11)
    round: int = field(UINT, at=7, in_abi=False, in_json=False)
    pledge_count: int = field(UINT, at=8, in_abi=False, in_json=False)


class Pledge(Record):
    index: int = key(UINT, json="pledge")
    secured_party: Address
    state: str = field(Choice(PLEDGE_STATES))
    pledged_at: Uint
    released_at: int = field(UINT, null_if_zero=True)


NOT_ANSWERED = {"approvals": 0, "k": 0, "active_pledges": 0}

# layout 2's records: the same fields, answers and JSON; class ids and heights below 2**64,
# rounds and pledge counts below 2**32
PackedAsset = packed_copy(Asset, "PackedAsset", class_id=64, created_at=64, updated_at=64,
                          round=32, pledge_count=32)
PackedPledge = packed_copy(Pledge, "PackedPledge", pledged_at=64, released_at=64)


class RegistryState(StateView):
    CLASS_COUNT, CLASSES, CLASS_BY_NAME = 0, 1, 2
    ASSET_COUNT, ASSETS, BY_EXTERNAL_ID, APPROVALS, PLEDGES = 3, 4, 5, 6, 7
    BY_OWNER, BY_CLASS, BY_STATE, BY_SECURED_PARTY = 8, 9, 10, 11
    claimant = Mapped(UINT, BY_EXTERNAL_ID)  # [class, external id hash]: its asset (0: none)

    def __init__(self, storage: Storage, layout: int | None = None) -> None:
        super().__init__(storage)
        if layout is None:
            layout = layout_version(storage, PACKED_LAYOUT)
        self.packed = layout >= PACKED_LAYOUT
        self.record: type[Asset] = PackedAsset if self.packed else Asset
        self.pledge_record: type[Pledge] = PackedPledge if self.packed else Pledge

    def class_named(self, name: str) -> int:
        return self.s.get_uint(Storage.at(self.CLASS_BY_NAME, name.strip().lower()))

    def class_k(self, class_id: int) -> int:
        return int(AssetClass.get(self.s, Storage.at(self.CLASSES, class_id), "k"))

    def registrars(self, class_id: int) -> WordSet:
        return WordSet(self.s, AssetClass.slot(Storage.at(self.CLASSES, class_id), "registrars"))

    def asset_class(self, class_id: int) -> AssetClass:
        return AssetClass.load(self.s, Storage.at(self.CLASSES, class_id), id=class_id)

    def add_class(self, name: str, schema_hash: bytes, height: int) -> int:
        class_id = self.next_id(self.CLASS_COUNT)
        AssetClass.put_fields(self.s, Storage.at(self.CLASSES, class_id), name=name,
                              schema_hash=schema_hash, created_at=height)
        self.s.set_uint(Storage.at(self.CLASS_BY_NAME, name.strip().lower()), class_id)
        return class_id

    def set_registrars(self, class_id: int, registrars: list[bytes], k: int) -> None:
        AssetClass.put_fields(self.s, Storage.at(self.CLASSES, class_id),
                              registrars=registrars, k=k)

    def by_state(self, state: str) -> WordSet:
        return self.index(self.BY_STATE, ASSET_STATES.index(state) + 1)

    @staticmethod
    def base(asset_id: int) -> int:
        return Storage.at(RegistryState.ASSETS, asset_id)

    def get(self, asset_id: int, field: str) -> int:
        return int(self.record.get(self.s, self.base(asset_id), field))

    def set(self, asset_id: int, field: str, value: object) -> None:
        """One stored field of an asset (a number, a state name, an address)."""
        self.record.put(self.s, self.base(asset_id), field, value)

    def asset(self, asset_id: int) -> Asset:
        return self.record.load(self.s, self.base(asset_id), id=asset_id, **NOT_ANSWERED)

    def add_asset(self, class_id: int, external_id_hash: bytes, metadata_hash: bytes,
                  owner: bytes, applicant: bytes, height: int) -> int:
        asset_id = self.next_id(self.ASSET_COUNT)
        base = self.base(asset_id)
        if self.packed:  # the whole asset, applied, in its five words; then its indexes
            PackedAsset.put_fields(
                self.s, base, class_id=class_id, external_id_hash=external_id_hash,
                metadata_hash=metadata_hash, owner=owner, state="applied", frozen_from="",
                pending_owner=bytes(20), applicant=applicant, created_at=height,
                updated_at=height, round=1, pledge_count=0)
            self.claimant[class_id, external_id_hash] = asset_id
            self.index(self.BY_OWNER, owner).add(asset_id)
            WordList(self.s, Storage.at(self.BY_CLASS, class_id)).append(asset_id)
            self.restate(self.BY_STATE, ASSET_STATES, asset_id, "", "applied")
            return asset_id
        Asset.put_fields(self.s, base, class_id=class_id, external_id_hash=external_id_hash,
                         metadata_hash=metadata_hash, owner=owner, applicant=applicant,
                         created_at=height)
        self.claimant[class_id, external_id_hash] = asset_id
        self.index(self.BY_OWNER, owner).add(asset_id)
        self.index(self.BY_CLASS, class_id).add(asset_id)
        self._set_state_at(base, asset_id, "", "applied", height)
        return asset_id

    def set_state(self, asset_id: int, old: str, new: str, height: int) -> None:
        """Move an asset to `new`: a new approval round starts."""
        self._set_state_at(self.base(asset_id), asset_id, old, new, height)

    def _set_state_at(self, base: int, asset_id: int, old: str, new: str, height: int) -> None:
        """`set_state` of the asset at `base`: its state, round and update height written
        (the round read between), in that order."""
        s = self.s
        self.restate(self.BY_STATE, ASSET_STATES, asset_id, old, new)
        if self.packed:
            round_ = PackedAsset.get(s, base, "round")
            PackedAsset.put_fields(s, base, state=new, round=round_ + 1, updated_at=height)
            return
        Asset.put(s, base, "state", new)
        Asset.put(s, base, "round", Asset.get(s, base, "round") + 1)
        Asset.put(s, base, "updated_at", height)

    def set_owner(self, asset_id: int, old: bytes, new: bytes) -> None:
        self.index(self.BY_OWNER, old).remove(asset_id)
        self.index(self.BY_OWNER, new).add(asset_id)
        self.set(asset_id, "owner", new)

    def approvals(self, asset_id: int, round_: int) -> WordSet:
        return self.index(self.APPROVALS, asset_id, round_)

    def pledge(self, asset_id: int, i: int) -> Pledge:
        return self.pledge_record.load(self.s, Storage.at(self.PLEDGES, asset_id, i), index=i)

    def add_pledge(self, asset_id: int, party: bytes, height: int) -> int:
        i = self.get(asset_id, "pledge_count")
        self.pledge_record.put_fields(self.s, Storage.at(self.PLEDGES, asset_id, i),
                                      secured_party=party, state="active", pledged_at=height)
        self.set(asset_id, "pledge_count", i + 1)
        self.index(self.BY_SECURED_PARTY, party).add(asset_id)
        return i

    def release_pledge(self, asset_id: int, i: int, height: int) -> None:
        self.pledge_record.put_fields(self.s, Storage.at(self.PLEDGES, asset_id, i),
                                      state="released", released_at=height)

    def active_pledges(self, asset_id: int) -> list[Pledge]:
        count = self.get(asset_id, "pledge_count")
        return [p for p in (self.pledge(asset_id, i) for i in range(count))
                if p.state == "active"]
