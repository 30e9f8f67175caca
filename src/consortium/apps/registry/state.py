"""Where the Registry contract keeps its state: a typed view over its EVM storage slots
(`consortium.evm.host.Storage`), so the state root covers every class, asset and pledge.

Layout (slots of 0x…2003; `at(s, k…)` is Solidity's mapping slot; a set keeps its count at s,
item i at at(s, i) and item k's position + 1 at at(s + 1, k); ids count from 1):

  0  class count        1  class id -> name (string), schema hash, k, created at,
                           registrars (set, +4/+5)
  2  lower-case class name -> class id
  3  asset count        4  asset id -> class, external id hash, metadata hash, owner, state,
                           frozen from, pending owner, approval round, pledge count,
                           applicant, created at, updated at
  5  (class, external id hash) -> asset id (while claimed)
  6  (asset, round) -> registrars who approved in that round (set)
  7  (asset, i) -> pledge i: secured party, state, pledged at, released at
  8  owner -> asset ids (set)            9  class -> asset ids (set)
  10 state number -> asset ids (set)     11 secured party -> asset ids ever pledged (set)

Approvals count within one round: every change of state starts a new one, so approvals to
register never count toward retiring, nor approvals given before a freeze after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortium.apps.registry.model import ASSET_STATES, PLEDGE_STATES
from consortium.evm.host import Storage
from consortium.system.state import WordSet, address_word, word_address


@dataclass(frozen=True)
class ClassRecord:
    id: int
    name: str
    schema_hash: bytes
    k: int
    created_at: int
    registrars: tuple[bytes, ...]


@dataclass(frozen=True)
class AssetRecord:
    id: int
    class_id: int
    external_id_hash: bytes
    metadata_hash: bytes
    owner: bytes
    state: str
    frozen_from: str
    pending_owner: bytes
    round: int
    pledge_count: int
    applicant: bytes
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class PledgeRecord:
    index: int
    secured_party: bytes
    state: str
    pledged_at: int
    released_at: int


def _state_name(raw: int) -> str:
    return ASSET_STATES[raw - 1] if raw else ""


class RegistryState:
    CLASS_COUNT, CLASSES, CLASS_BY_NAME = 0, 1, 2
    ASSET_COUNT, ASSETS, BY_EXTERNAL_ID, APPROVALS, PLEDGES = 3, 4, 5, 6, 7
    BY_OWNER, BY_CLASS, BY_STATE, BY_SECURED_PARTY = 8, 9, 10, 11

    # class fields
    K_NAME, K_SCHEMA, K_K, K_CREATED, K_REGISTRARS = 0, 1, 2, 3, 4
    # asset fields
    CLASS, EXTERNAL, METADATA, OWNER, STATE, FROZEN_FROM, PENDING_OWNER = range(7)
    ROUND, PLEDGE_COUNT, APPLICANT, CREATED, UPDATED = 7, 8, 9, 10, 11

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    def _set(self, mapping: int, *keys: bytes | int) -> WordSet:
        return WordSet(self.s, Storage.at(mapping, *keys))

    # --- classes -----------------------------------------------------------------------------

    def class_count(self) -> int:
        return self.s.get_uint(self.CLASS_COUNT)

    def class_named(self, name: str) -> int:
        return self.s.get_uint(Storage.at(self.CLASS_BY_NAME, name.strip().lower()))

    def class_k(self, class_id: int) -> int:
        return self.s.get_uint(Storage.at(self.CLASSES, class_id) + self.K_K)

    def registrars(self, class_id: int) -> WordSet:
        return WordSet(self.s, Storage.at(self.CLASSES, class_id) + self.K_REGISTRARS)

    def asset_class(self, class_id: int) -> ClassRecord:
        b = Storage.at(self.CLASSES, class_id)
        return ClassRecord(
            id=class_id,
            name=self.s.get_string(b + self.K_NAME),
            schema_hash=self.s.get_bytes32(b + self.K_SCHEMA),
            k=self.s.get_uint(b + self.K_K),
            created_at=self.s.get_uint(b + self.K_CREATED),
            registrars=tuple(word_address(w) for w in self.registrars(class_id)),
        )

    def add_class(self, name: str, schema_hash: bytes, height: int) -> int:
        class_id = self.class_count() + 1
        self.s.set_uint(self.CLASS_COUNT, class_id)
        b = Storage.at(self.CLASSES, class_id)
        self.s.set_string(b + self.K_NAME, name)
        self.s.set_bytes32(b + self.K_SCHEMA, schema_hash)
        self.s.set_uint(b + self.K_CREATED, height)
        self.s.set_uint(Storage.at(self.CLASS_BY_NAME, name.strip().lower()), class_id)
        return class_id

    def set_registrars(self, class_id: int, registrars: list[bytes], k: int) -> None:
        current = self.registrars(class_id)
        current.clear()
        for r in registrars:
            current.add(address_word(r))
        self.s.set_uint(Storage.at(self.CLASSES, class_id) + self.K_K, k)

    # --- assets ------------------------------------------------------------------------------

    def asset_count(self) -> int:
        return self.s.get_uint(self.ASSET_COUNT)

    def by_owner(self, owner: bytes) -> WordSet:
        return self._set(self.BY_OWNER, owner)

    def by_class(self, class_id: int) -> WordSet:
        return self._set(self.BY_CLASS, class_id)

    def by_state(self, state: str) -> WordSet:
        return self._set(self.BY_STATE, ASSET_STATES.index(state) + 1)

    def by_secured_party(self, party: bytes) -> WordSet:
        return self._set(self.BY_SECURED_PARTY, party)

    def claimant(self, class_id: int, external_id_hash: bytes) -> int:
        """The asset holding an external id in a class (0: none)."""
        return self.s.get_uint(Storage.at(self.BY_EXTERNAL_ID, class_id, external_id_hash))

    def set_claimant(self, class_id: int, external_id_hash: bytes, asset_id: int) -> None:
        self.s.set_uint(Storage.at(self.BY_EXTERNAL_ID, class_id, external_id_hash), asset_id)

    def get(self, asset_id: int, field: int) -> int:
        return self.s.get_uint(Storage.at(self.ASSETS, asset_id) + field)

    def set(self, asset_id: int, field: int, value: int) -> None:
        self.s.set_uint(Storage.at(self.ASSETS, asset_id) + field, value)

    def set_address(self, asset_id: int, field: int, value: bytes) -> None:
        self.s.set_address(Storage.at(self.ASSETS, asset_id) + field, value)

    def asset(self, asset_id: int) -> AssetRecord:
        b = Storage.at(self.ASSETS, asset_id)
        g, a = self.s.get_uint, self.s.get_address
        return AssetRecord(
            id=asset_id,
            class_id=g(b + self.CLASS),
            external_id_hash=self.s.get_bytes32(b + self.EXTERNAL),
            metadata_hash=self.s.get_bytes32(b + self.METADATA),
            owner=a(b + self.OWNER),
            state=_state_name(g(b + self.STATE)),
            frozen_from=_state_name(g(b + self.FROZEN_FROM)),
            pending_owner=a(b + self.PENDING_OWNER),
            round=g(b + self.ROUND),
            pledge_count=g(b + self.PLEDGE_COUNT),
            applicant=a(b + self.APPLICANT),
            created_at=g(b + self.CREATED),
            updated_at=g(b + self.UPDATED),
        )

    def add_asset(self, class_id: int, external_id_hash: bytes, metadata_hash: bytes,
                  owner: bytes, applicant: bytes, height: int) -> int:
        asset_id = self.asset_count() + 1
        self.s.set_uint(self.ASSET_COUNT, asset_id)
        b = Storage.at(self.ASSETS, asset_id)
        self.s.set_uint(b + self.CLASS, class_id)
        self.s.set_bytes32(b + self.EXTERNAL, external_id_hash)
        self.s.set_bytes32(b + self.METADATA, metadata_hash)
        self.s.set_address(b + self.OWNER, owner)
        self.s.set_address(b + self.APPLICANT, applicant)
        self.s.set_uint(b + self.CREATED, height)
        self.set_claimant(class_id, external_id_hash, asset_id)
        self.by_owner(owner).add(asset_id)
        self.by_class(class_id).add(asset_id)
        self.set_state(asset_id, "", "applied", height)
        return asset_id

    def set_state(self, asset_id: int, old: str, new: str, height: int) -> None:
        """Move an asset to `new`: a new approval round starts."""
        if old:
            self.by_state(old).remove(asset_id)
        self.by_state(new).add(asset_id)
        self.set(asset_id, self.STATE, ASSET_STATES.index(new) + 1)
        self.set(asset_id, self.ROUND, self.get(asset_id, self.ROUND) + 1)
        self.set(asset_id, self.UPDATED, height)

    def set_owner(self, asset_id: int, old: bytes, new: bytes) -> None:
        self.by_owner(old).remove(asset_id)
        self.by_owner(new).add(asset_id)
        self.set_address(asset_id, self.OWNER, new)

    # --- approvals ---------------------------------------------------------------------------

    def approvals(self, asset_id: int, round_: int) -> WordSet:
        return self._set(self.APPROVALS, asset_id, round_)

    # --- pledges -----------------------------------------------------------------------------

    def pledge(self, asset_id: int, i: int) -> PledgeRecord:
        b = Storage.at(self.PLEDGES, asset_id, i)
        state = self.s.get_uint(b + 1)
        return PledgeRecord(
            index=i,
            secured_party=self.s.get_address(b),
            state=PLEDGE_STATES[state - 1] if state else "",
            pledged_at=self.s.get_uint(b + 2),
            released_at=self.s.get_uint(b + 3),
        )

    def add_pledge(self, asset_id: int, party: bytes, height: int) -> int:
        i = self.get(asset_id, self.PLEDGE_COUNT)
        b = Storage.at(self.PLEDGES, asset_id, i)
        self.s.set_address(b, party)
        self.s.set_uint(b + 1, PLEDGE_STATES.index("active") + 1)
        self.s.set_uint(b + 2, height)
        self.set(asset_id, self.PLEDGE_COUNT, i + 1)
        self.by_secured_party(party).add(asset_id)
        return i

    def release_pledge(self, asset_id: int, i: int, height: int) -> None:
        b = Storage.at(self.PLEDGES, asset_id, i)
        self.s.set_uint(b + 1, PLEDGE_STATES.index("released") + 1)
        self.s.set_uint(b + 3, height)

    def active_pledges(self, asset_id: int) -> list[PledgeRecord]:
        count = self.get(asset_id, self.PLEDGE_COUNT)
        return [p for p in (self.pledge(asset_id, i) for i in range(count))
                if p.state == "active"]
