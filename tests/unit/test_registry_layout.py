"""Registry storage layout 2 (issue 23): new chains start at it; a chain made before keeps
layout 1, with the gas it recorded, until its members adopt the software upgrade
`registry-layout-2`, which rewrites every asset and pledge exactly at its height — every
answer the same before and after, on both engines, with one app hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from consortium.apps.registry.external_id import external_id_hash
from consortium.apps.registry.model import ASSET_STATES, REGISTRY_ADDRESS
from consortium.apps.registry.state import Asset, PackedAsset, PackedPledge, Pledge, RegistryState
from consortium.apps.registry.upgrade import REGISTRY_LAYOUT_UPGRADE
from consortium.evm.host import Storage
from consortium.ledger.ledger import Ledger
from consortium.ledger.upgrades import handler_for
from consortium.network.init import NEW_CHAIN_NATIVE_VERSIONS
from consortium.system.upgrade_plan import LATEST_NATIVE_VERSIONS, NATIVE_VERSION_SLOT
from tests.support.governance_testkit import Gov
from tests.support.services_testkit import (
    BANK_A,
    BANK_B,
    BANK_C,
    OWNER,
    OWNER_2,
    REGISTRAR_1,
    REGISTRAR_2,
    services_state,
)
from tests.unit.test_registry import KEY, RegistryChain

ENGINES = ("revm", "py-evm")
ADDRESS = "0x" + REGISTRY_ADDRESS.hex()


def open_chain(path: Path, layout: int, engine: str = "revm") -> RegistryChain:
    ledger = Ledger(path, engine=engine)
    ledger.init_chain(services_state({} if layout == 1 else {"Registry": layout}), 1)
    return RegistryChain(ledger)


def slot(chain: RegistryChain, number: int) -> int:
    return int.from_bytes(chain.ledger.get_storage_at(ADDRESS, number), "big")


def version(chain: RegistryChain) -> int:
    return slot(chain, NATIVE_VERSION_SLOT) or 1


def history(c: RegistryChain) -> int:
    """Assets in every kind of state (applied, registered, pledged twice and released once,
    transfer pending, transferred), in two classes; answers the first class."""
    land = c.land()
    cars = c.land(name="Vehicle")
    c.apply(land, "PARCEL-1")
    pledged = c.registered(land, "PARCEL-2")
    c.ok(OWNER, "pledge", pledged, BANK_A.address)
    c.ok(OWNER, "pledge", pledged, BANK_B.address)
    c.ok(BANK_A, "release", pledged, 0)
    moving = c.registered(cars, "VIN-1")
    c.ok(OWNER, "requestTransfer", moving, OWNER_2.address)
    moved = c.registered(cars, "VIN-2")
    c.ok(OWNER, "requestTransfer", moved, OWNER_2.address)
    c.ok(OWNER_2, "acceptTransfer", moved)
    return land


def answers(c: RegistryChain) -> dict[str, Any]:
    read = c.read
    return {
        "every": read.assets(),
        "one": [read.asset(n) for n in range(1, 5)],
        "class": [read.assets(asset_class=n) for n in (1, 2)],
        "owner": [read.assets(owner=a.address) for a in (OWNER, OWNER_2)],
        "party": [read.assets(secured_party=a.address) for a in (BANK_A, BANK_B)],
        "state": {s: read.assets(state=s) for s in ASSET_STATES},
    }


def test_new_chains_start_at_layout_2() -> None:
    assert NEW_CHAIN_NATIVE_VERSIONS["Registry"] == LATEST_NATIVE_VERSIONS["Registry"] == 2
    assert handler_for(REGISTRY_LAYOUT_UPGRADE) is not None
    for old, new, slots, words in ((Asset, PackedAsset, 12, 5), (Pledge, PackedPledge, 4, 2)):
        assert new.abi_type() == old.abi_type()
        assert slots == old.SLOTS and words == new.SLOTS


# The gas of an application, two approvals (the second registers) and a pledge on a layout-1
# chain (measured at commit ff5888b, before layout 2, on both engines): such a chain must
# replay them with exactly this gas.
LAYOUT_1_GAS = (469_405, 167_294, 338_050, 392_200)


@pytest.mark.parametrize("engine", ENGINES)
def test_layout_1_keeps_its_gas_and_layout_2_costs_less(tmp_path: Path, engine: str) -> None:
    used = {}
    for layout in (1, 2):
        c = open_chain(tmp_path / str(layout), layout, engine)
        try:
            assert version(c) == layout
            land = c.land()
            apply = c.send(OWNER, "apply", land, external_id_hash(KEY, "PARCEL-9"),
                           hashlib.sha256(b"PARCEL-9").digest(), OWNER.address)
            first = c.send(REGISTRAR_1, "approveRegistration", 1)
            second = c.send(REGISTRAR_2, "approveRegistration", 1)
            pledge = c.send(OWNER, "pledge", 1, BANK_A.address)
            used[layout] = tuple(r.gas_used for r in (apply, first, second, pledge))
            assert c.state(1) == "encumbered"
        finally:
            c.ledger.close()
    assert used[1] == LAYOUT_1_GAS
    assert used[1][0] - used[2][0] > 5 * 19_000  # 20 slots -> 15
    assert all(new < old for new, old in zip(used[2], used[1], strict=True)), used


def test_the_upgrade_repacks_every_asset_at_its_height_on_both_engines(tmp_path: Path) -> None:
    chains = [open_chain(tmp_path / engine, 1, engine) for engine in ENGINES]
    try:
        for c in chains:
            land = history(c)
        before = answers(chains[0])
        assert before["one"][1]["pledges"] and before["every"]
        at = chains[0].height + 8
        for c in chains:
            gov = Gov(c.ledger)
            proposal = gov.propose(BANK_A, "software-upgrade", REGISTRY_LAYOUT_UPGRADE, at,
                                   "0.1.0")
            for bank in (BANK_A, BANK_B, BANK_C):
                assert gov.vote(bank, proposal).code == 0
            assert gov.status(proposal) == "executed"
        assert len({c.ledger.info() for c in chains}) == 1
        for c in chains:
            assert answers(c) == before and version(c) == 1
            while c.height < at - 1:
                Gov(c.ledger).advance(1)
            # the block at the height: the migration runs before its transactions
            asset = c.apply(land, "PARCEL-3")
            assert c.height == at and version(c) == 2 and asset == 5
            after = answers(c)
            assert after["one"] == before["one"]
            assert [a["id"] for a in after["class"][0]] == [1, 2, 5]
            # nothing of layout 1 is left past the packed words, nor the class sets' positions
            for n in range(1, 5):
                base = RegistryState.base(n)
                assert [slot(c, base + i) for i in range(5, 12)] == [0] * 7
                class_id = after["one"][n - 1]["class"]
                assert slot(c, Storage.at(Storage.at(RegistryState.BY_CLASS, class_id) + 1,
                                          n)) == 0
            assert slot(c, Storage.at(RegistryState.PLEDGES, 2, 1) + 2) == 0
            # and it goes on in layout 2
            c.ok(BANK_B, "release", 2, 1)
            assert c.state(2) == "registered"
            assert [p["state"] for p in c.read.asset(2)["pledges"]] == ["released"] * 2
            applied = Gov(c.ledger).read.upgrades()["applied"]
            assert applied == [{"name": REGISTRY_LAYOUT_UPGRADE, "height": at}]
        assert len({c.ledger.info() for c in chains}) == 1  # the same app hash
    finally:
        for c in chains:
            c.ledger.close()
