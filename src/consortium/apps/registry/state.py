"""The Registry contract's state over the EVM storage of 0x…2003 (slots: `RegistryState`;
a set keeps its count at s, item i at at(s, i) and item k's position + 1 at at(s + 1, k)).
Approvals count within one round (APPROVALS is keyed by asset and round): every change of
state starts a new one, so approvals to register never count toward retiring, nor approvals
given before a freeze after it."""

from __future__ import annotations

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
    WordSet,
    field,
    key,
)


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


class RegistryState(StateView):
    CLASS_COUNT, CLASSES, CLASS_BY_NAME = 0, 1, 2
    ASSET_COUNT, ASSETS, BY_EXTERNAL_ID, APPROVALS, PLEDGES = 3, 4, 5, 6, 7
    BY_OWNER, BY_CLASS, BY_STATE, BY_SECURED_PARTY = 8, 9, 10, 11
    claimant = Mapped(UINT, BY_EXTERNAL_ID)  # [class, external id hash]: its asset (0: none)

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
        return int(Asset.get(self.s, self.base(asset_id), field))

    def set(self, asset_id: int, field: str, value: object) -> None:
        """One stored field of an asset (a number, a state name, an address)."""
        Asset.put(self.s, self.base(asset_id), field, value)

    def asset(self, asset_id: int) -> Asset:
        return Asset.load(self.s, self.base(asset_id), id=asset_id, **NOT_ANSWERED)

    def add_asset(self, class_id: int, external_id_hash: bytes, metadata_hash: bytes,
                  owner: bytes, applicant: bytes, height: int) -> int:
        asset_id = self.next_id(self.ASSET_COUNT)
        base = self.base(asset_id)
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
        return Pledge.load(self.s, Storage.at(self.PLEDGES, asset_id, i), index=i)

    def add_pledge(self, asset_id: int, party: bytes, height: int) -> int:
        i = self.get(asset_id, "pledge_count")
        Pledge.put_fields(self.s, Storage.at(self.PLEDGES, asset_id, i), secured_party=party,
                          state="active", pledged_at=height)
        self.set(asset_id, "pledge_count", i + 1)
        self.index(self.BY_SECURED_PARTY, party).add(asset_id)
        return i

    def release_pledge(self, asset_id: int, i: int, height: int) -> None:
        Pledge.put_fields(self.s, Storage.at(self.PLEDGES, asset_id, i), state="released",
                          released_at=height)

    def active_pledges(self, asset_id: int) -> list[Pledge]:
        count = self.get(asset_id, "pledge_count")
        return [p for p in (self.pledge(asset_id, i) for i in range(count))
                if p.state == "active"]
