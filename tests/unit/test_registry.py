"""The Registry native contract on a real Ledger: classes created by vote, registration and
retirement by k distinct registrars, unique external ids, transfers, pledges and releases,
freezes by the authority, events and the ordered history of an asset."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.apps.registry.abi import ABI_FILE, render_abi
from consortium.apps.registry.external_id import external_id_hash, normalise_external_id
from consortium.apps.registry.model import REGISTRY_ADDRESS
from consortium.apps.registry.reader import CALLS, RegistryReader
from consortium.errors import ConfigError
from tests.support.services_testkit import (
    BANK_A,
    BANK_B,
    BANK_C,
    COURT,
    NOBODY,
    OWNER,
    OWNER_2,
    REGISTRAR_1,
    REGISTRAR_2,
    REGISTRAR_3,
    REGULATOR,
    ServiceChain,
    low,
    services_ledger,
)

KEY = bytes(range(32))
SCHEMA = hashlib.sha256(b'{"parcel": "string", "area_m2": "integer"}').digest()
REGISTRARS = [REGISTRAR_1, REGISTRAR_2, REGISTRAR_3]


class RegistryChain(ServiceChain):
    def __init__(self, ledger: object) -> None:
        super().__init__(ledger, REGISTRY_ADDRESS, CALLS)  # type: ignore[arg-type]
        self.read = RegistryReader(self._call, self.logs)

    def land(self, k: int = 2, name: str = "Land title") -> int:
        proposal = self.by_vote("createClass", name, SCHEMA,
                                [r.address for r in REGISTRARS], k)
        assert proposal["status"] == "executed", proposal
        found = self.read.asset_class(name)
        assert found is not None
        return int(found["id"])

    def apply(self, class_id: int, external_id: str, owner: object = OWNER) -> int:
        return int(self.ok(owner, "apply", class_id, external_id_hash(KEY, external_id),
                           hashlib.sha256(external_id.encode()).digest(),
                           owner.address))  # type: ignore[attr-defined]

    def registered(self, class_id: int, external_id: str, owner: object = OWNER) -> int:
        asset = self.apply(class_id, external_id, owner)
        self.ok(REGISTRAR_1, "approveRegistration", asset)
        self.ok(REGISTRAR_2, "approveRegistration", asset)
        return asset

    def state(self, asset: int) -> str:
        found = self.read.asset(asset, history=False)
        assert found is not None
        return str(found["state"])


@pytest.fixture(params=(1, 2), ids=("layout1", "layout2"))
def chain(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RegistryChain]:
    """Every rule on both storage layouts (a chain made before `registry-layout-2`, and one
    made at it)."""
    ledger = services_ledger(tmp_path, {"Registry": request.param})
    yield RegistryChain(ledger)
    ledger.close()


def test_shipped_abi_matches_the_contract() -> None:
    assert ABI_FILE.read_text() == render_abi(), (
        "Registry.json is stale: run python -m consortium.apps.registry.abi"
    )
    names = {e["name"] for e in json.loads(ABI_FILE.read_text())}
    assert {"createClass", "apply", "approveRegistration", "pledge", "release", "freeze",
            "AssetTransition"} <= names


def test_external_ids_are_normalised_and_keyed() -> None:
    assert normalise_external_id("  parcel\u3000 0042 ") == "PARCEL 0042"
    assert external_id_hash(KEY, "parcel 0042") == external_id_hash(KEY, " PARCEL  0042")
    assert external_id_hash(KEY, "P-1") != external_id_hash(bytes(32), "P-1")
    with pytest.raises(ConfigError, match="empty"):
        normalise_external_id("  ")


def test_classes_are_created_by_vote_only(chain: RegistryChain) -> None:
    args = ("Land title", SCHEMA, [r.address for r in REGISTRARS], 2)
    assert "only the Governance contract may create an asset class" in chain.refused(
        BANK_A, "createClass", *args)
    # A proposal whose class could not be created is refused when proposed, with the reason.
    bad = chain.propose("createClass", "Land title", SCHEMA, [NOBODY.address], 1)
    assert bad.code != 0 and "does not hold the registrar role" in bad.log
    bad = chain.propose("createClass", "Land title", SCHEMA, [REGISTRAR_1.address], 2)
    assert "k must be 1 to 1" in bad.log
    class_id = chain.land()
    cls = chain.read.asset_class(class_id)
    assert cls == {"id": 1, "name": "Land title", "schemaHash": "0x" + SCHEMA.hex(),
                   "registrars": [low(r) for r in REGISTRARS], "k": 2,
                   "createdAt": cls["createdAt"]}  # type: ignore[index]
    assert "already exists" in chain.propose("createClass", "land TITLE", SCHEMA,
                                             [REGISTRAR_1.address], 1).log
    history = chain.read.history("class", class_id)
    assert [(h["from"], h["to"]) for h in history] == [("", "active")]
    # Registrars change by vote too.
    chain.by_vote("setClassRegistrars", class_id, [REGISTRAR_1.address, BANK_C.address], 1)
    cls = chain.read.asset_class("Land title")
    assert cls is not None and cls["k"] == 1 and cls["registrars"][1] == low(BANK_C)


def test_story_6_two_of_three_register_and_the_external_id_is_unique(
    chain: RegistryChain,
) -> None:
    land = chain.land()
    asset = chain.apply(land, "PARCEL-0042")
    assert chain.state(asset) == "applied"
    chain.ok(REGISTRAR_1, "approveRegistration", asset)
    # The same registrar approving twice counts once: k - 1 approvals leave it applied.
    reason = chain.refused(REGISTRAR_1, "approveRegistration", asset)
    assert "already approved the registration of asset 1 (1 of 2): each registrar counts " \
        "once" in reason
    found = chain.read.asset(asset)
    assert found is not None
    assert (found["state"], found["approvals"], found["approvedBy"]) == (
        "applied", 1, [low(REGISTRAR_1)])
    # Only the class's registrars approve.
    assert "does not hold the registrar role" in chain.refused(
        BANK_A, "approveRegistration", asset)
    assert "is not a registrar of class 'Land title'" in chain.refused(
        BANK_C, "approveRegistration", asset)
    chain.ok(REGISTRAR_3, "approveRegistration", asset)
    assert chain.state(asset) == "registered"
    # A second registration with the same external id (typed another way) is refused.
    same = external_id_hash(KEY, " parcel-0042 ")
    reason = chain.refused(OWNER_2, "apply", land, same, SCHEMA, OWNER_2.address)
    assert f"external id 0x{same.hex()} is already registered in class 'Land title' " \
        "(asset 1, registered)" in reason
    # ... while another class may hold the same id.
    cars = chain.land(name="Vehicles")
    chain.ok(OWNER_2, "apply", cars, same, SCHEMA, OWNER_2.address)
    steps = [(h["actor"], h["from"], h["to"]) for h in chain.read.history("asset", asset)]
    assert steps == [(low(OWNER), "", "applied"), (low(REGISTRAR_1), "applied", "applied"),
                     (low(REGISTRAR_3), "applied", "registered")]


def test_applications_by_registrars_and_rejection(chain: RegistryChain) -> None:
    land = chain.land()
    ext = external_id_hash(KEY, "PARCEL-7")
    assert "may not apply for" in chain.refused(BANK_A, "apply", land, ext, SCHEMA,
                                                OWNER.address)
    asset = int(chain.ok(REGISTRAR_2, "apply", land, ext, SCHEMA, OWNER.address))
    found = chain.read.asset(asset)
    assert found is not None and (found["owner"], found["applicant"]) == (
        low(OWNER), low(REGISTRAR_2))
    chain.ok(REGISTRAR_3, "rejectApplication", asset, "title deed not provided")
    assert chain.state(asset) == "rejected"
    # A rejected application frees its external id.
    again = int(chain.ok(OWNER, "apply", land, ext, SCHEMA, OWNER.address))
    assert chain.read.asset_by_external_id(land, ext) == again
    assert "is rejected: it cannot be registered" in chain.refused(
        REGISTRAR_1, "approveRegistration", asset)


def test_story_7_a_pledged_asset_moves_only_after_release(chain: RegistryChain) -> None:
    asset = chain.registered(chain.land(), "PARCEL-1")
    assert "only asset 1's owner" in chain.refused(BANK_A, "pledge", asset, BANK_A.address)
    assert int(chain.ok(OWNER, "pledge", asset, BANK_A.address)) == 0
    assert chain.state(asset) == "encumbered"
    reason = chain.refused(OWNER, "requestTransfer", asset, OWNER_2.address)
    assert f"is encumbered (pledged to {low(BANK_A)}): it cannot be transferred until the " \
        "secured party releases it" in reason
    # Only the secured party releases.
    assert f"only the secured party {low(BANK_A)}" in chain.refused(OWNER, "release", asset, 0)
    assert "only the secured party" in chain.refused(BANK_B, "release", asset, 0)
    # Two pledges: the asset stays encumbered until both are released.
    assert int(chain.ok(OWNER, "pledge", asset, BANK_B.address)) == 1
    chain.ok(BANK_A, "release", asset, 0)
    assert chain.state(asset) == "encumbered"
    assert "pledge 0 of asset 1 is released" in chain.refused(BANK_A, "release", asset, 0)
    chain.ok(BANK_B, "release", asset, 1)
    assert chain.state(asset) == "registered"
    # Now it transfers: requested by the owner, accepted by the new owner only.
    chain.ok(OWNER, "requestTransfer", asset, OWNER_2.address)
    assert "only it may accept" in chain.refused(BANK_A, "acceptTransfer", asset)
    assert "is transfer_pending: it cannot be pledged" in chain.refused(
        OWNER, "pledge", asset, BANK_A.address)
    chain.ok(OWNER_2, "acceptTransfer", asset)
    found = chain.read.asset(asset)
    assert found is not None
    assert (found["owner"], found["state"], found["pendingOwner"]) == (
        low(OWNER_2), "registered", None)
    assert [p["state"] for p in found["pledges"]] == ["released", "released"]
    assert [a["id"] for a in chain.read.assets(owner=OWNER_2.address)] == [asset]
    assert chain.read.assets(owner=OWNER.address) == []
    assert [a["id"] for a in chain.read.assets(secured_party=BANK_A.address)] == [asset]
    # The full history, in order.
    steps = [(h["actor"], h["from"], h["to"]) for h in found["history"]]
    assert steps[3:] == [
        (low(OWNER), "registered", "encumbered"), (low(OWNER), "encumbered", "encumbered"),
        (low(BANK_A), "encumbered", "encumbered"), (low(BANK_B), "encumbered", "registered"),
        (low(OWNER), "registered", "transfer_pending"),
        (low(OWNER_2), "transfer_pending", "registered")]
    # A transfer can be cancelled by either side.
    chain.ok(OWNER_2, "requestTransfer", asset, OWNER.address)
    chain.ok(OWNER, "cancelTransfer", asset, "price not agreed")
    assert chain.state(asset) == "registered"


def test_freeze_blocks_everything_until_unfrozen_and_only_the_authority_freezes(
    chain: RegistryChain,
) -> None:
    asset = chain.registered(chain.land(), "PARCEL-2")
    for who in (REGULATOR, OWNER, REGISTRAR_1, BANK_A):
        assert "does not hold the court role needed to freeze an asset" in chain.refused(
            who, "freeze", asset, "court order 17")
    chain.ok(COURT, "freeze", asset, "court order 17")
    assert "is already frozen" in chain.refused(COURT, "freeze", asset, "again")
    frozen = "is frozen by the authority: it cannot"
    assert frozen in chain.refused(OWNER, "requestTransfer", asset, OWNER_2.address)
    assert frozen in chain.refused(OWNER, "pledge", asset, BANK_A.address)
    assert frozen in chain.refused(REGISTRAR_1, "approveRetirement", asset)
    assert "does not hold the court role" in chain.refused(REGULATOR, "unfreeze", asset, "x")
    chain.ok(COURT, "unfreeze", asset, "order lifted")
    assert chain.state(asset) == "registered"
    # Frozen from any state, and back to it: here from encumbered, keeping the pledge.
    chain.ok(OWNER, "pledge", asset, BANK_A.address)
    chain.ok(COURT, "freeze", asset, "seizure")
    found = chain.read.asset(asset, history=False)
    assert found is not None and (found["state"], found["frozenFrom"]) == ("frozen", "encumbered")
    assert frozen in chain.refused(BANK_A, "release", asset, 0)
    chain.ok(COURT, "unfreeze", asset, "released by the court")
    assert chain.state(asset) == "encumbered"
    chain.ok(BANK_A, "release", asset, 0)
    # An application can be frozen too.
    pending = chain.apply(1, "PARCEL-3")
    chain.ok(COURT, "freeze", pending, "disputed title")
    assert frozen in chain.refused(REGISTRAR_1, "approveRegistration", pending)
    chain.ok(COURT, "unfreeze", pending, "resolved")
    assert chain.state(pending) == "applied"


def test_retirement_needs_k_fresh_approvals(chain: RegistryChain) -> None:
    asset = chain.registered(chain.land(), "PARCEL-4")
    # Registration approvals never count toward retirement: each state starts a new round.
    chain.ok(REGISTRAR_1, "approveRetirement", asset)
    assert chain.state(asset) == "registered"
    assert "already approved the retirement" in chain.refused(
        REGISTRAR_1, "approveRetirement", asset)
    chain.ok(REGISTRAR_2, "approveRetirement", asset)
    assert chain.state(asset) == "retired"
    assert "is retired: it cannot be transferred" in chain.refused(
        OWNER, "requestTransfer", asset, OWNER_2.address)
    # The retired asset's external id stays taken.
    assert "already registered" in chain.refused(
        OWNER_2, "apply", 1, external_id_hash(KEY, "PARCEL-4"), SCHEMA, OWNER_2.address)
    assert [a["id"] for a in chain.read.assets(state="retired")] == [asset]
    assert [a["id"] for a in chain.read.assets(asset_class=1)] == [asset]
    with pytest.raises(ValueError, match="unknown asset state"):
        chain.read.assets(state="gone")
