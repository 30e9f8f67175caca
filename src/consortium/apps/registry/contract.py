"""The Registry native contract (0x…2003); rules in docs/services/registry.md. Checked here,
each with a reason: k distinct approvals per round (a state change starts a new one),
external ids unique within a class, one owner, no transfer while encumbered or frozen.
Every write emits `AssetTransition` (or `ClassTransition`); reads are open to every caller.
"""

from __future__ import annotations

from typing import Any

from consortium.apps.registry.model import (
    ACTIVE,
    ASSET_STATES,
    COURT,
    MAX_NAME,
    MAX_REGISTRARS,
    REGISTRAR,
    REGISTRY_ADDRESS,
)
from consortium.apps.registry.state import Asset, AssetClass, Pledge, RegistryState
from consortium.apps.service import (
    ZERO_ADDRESS,
    ServiceContract,
    count_read,
    index_read,
    keyed_reads,
    state_read,
    transition,
)
from consortium.evm.native import StateOf, event, method, register, view
from consortium.evm.records import address_word, word_address
from consortium.system.permissions import as_address, hex_address, switch

S = RegistryState
CLASS, ASSET, PLEDGE = AssetClass.abi_type(), Asset.abi_type(), Pledge.abi_type()


@register
class Registry(ServiceContract):
    address = REGISTRY_ADDRESS

    AssetTransition = transition("uint256 asset")
    ClassTransition = transition("uint256 assetClass")
    ClassCreated = event("uint256 indexed assetClass", "string name", "bytes32 schemaHash",
                         "address[] registrars", "uint256 k")
    AssetApplied = event("uint256 indexed asset", "uint256 indexed assetClass",
                         "address indexed owner", "bytes32 externalIdHash", "bytes32 metadataHash")
    RegistrarApproval = event("uint256 indexed asset", "address indexed registrar", "string action",
                              "uint256 approvals", "uint256 k")
    OwnerChanged = event("uint256 indexed asset", "address indexed previousOwner",
                         "address indexed newOwner")
    Pledged = event("uint256 indexed asset", "address indexed securedParty", "uint256 pledge")
    Released = event("uint256 indexed asset", "address indexed securedParty", "uint256 pledge")

    state = StateOf(RegistryState)

    class_count = count_read("classCount()", S.CLASS_COUNT)

    asset_class = view("assetClass(uint256)", CLASS, ("class_id",),
                       lambda c, i: c._require_class(i).abi_tuple())
    classes = view("classes()", CLASS + "[]", (), lambda c: [
        c.state.asset_class(i).abi_tuple() for i in range(1, c.class_count() + 1)])
    class_by_name = view("classByName(string)", "uint256", ("name",),
                         lambda c, name: c.state.class_named(name))

    asset_count = count_read("assetCount()", S.ASSET_COUNT)

    asset, assets_of = keyed_reads("asset(uint256)", "assetsOf(uint256[])", ("asset_id", "ids"),
                                   ASSET, lambda c, i: c._asset_tuple(c._require_asset(i)),
                                   "assets")

    assets_by_owner = index_read("assetsByOwner(address)", "owner", S.BY_OWNER, sort=True)
    assets_by_class = index_read("assetsByClass(uint256)", "class_id", S.BY_CLASS)

    assets_by_state = state_read("assetsByState(string)", ASSET_STATES, "asset state")

    assets_by_secured_party = index_read("assetsBySecuredParty(address)", "party",
                                         S.BY_SECURED_PARTY)

    asset_by_external_id = view("assetByExternalId(uint256,bytes32)", "uint256",
                                ("class_id", "external_id_hash"),
                                lambda c, i, ext: c.state.claimant[i, bytes(ext)])

    @method("approvals(uint256)", returns="address[]", view=True)
    def approvals(self, asset_id: int) -> list[bytes]:
        a = self._require_asset(asset_id)
        return [word_address(w) for w in self.state.approvals(a.id, a.round)]

    @method("pledges(uint256)", returns=PLEDGE + "[]", view=True)
    def pledges(self, asset_id: int) -> list[tuple[Any, ...]]:
        a = self._require_asset(asset_id)
        st = self.state
        return [st.pledge(a.id, i).abi_tuple() for i in range(a.pledge_count)]

    @method("createClass(string,bytes32,address[],uint256)", returns="uint256")
    def create_class(self, name: str, schema_hash: bytes, registrars: list[str], k: int) -> int:
        self.require_governance("create an asset class")
        self.require_text(name, "class name", MAX_NAME)
        existing = self.state.class_named(name)
        self.require(existing == 0, f"an asset class named {name.strip()!r} already exists "
                                    f"(class {existing})")
        self.require_hash(schema_hash, "schema hash")
        raws = self._check_registrars(registrars, k)
        st = self.state
        class_id = st.add_class(name.strip(), bytes(schema_hash), self.height)
        st.set_registrars(class_id, raws, k)
        self.emit(self.ClassCreated, class_id, name.strip(), bytes(schema_hash), raws, k)
        self.emit(self.ClassTransition, class_id, self.caller, "", ACTIVE,
                  f"created by vote: {k} of {len(raws)} registrars")
        return class_id

    @method("setClassRegistrars(uint256,address[],uint256)")
    def set_class_registrars(self, class_id: int, registrars: list[str], k: int) -> None:
        self.require_governance("change a class's registrars")
        self._require_class(class_id)
        raws = self._check_registrars(registrars, k)
        self.state.set_registrars(class_id, raws, k)
        self.emit(self.ClassTransition, class_id, self.caller, ACTIVE, ACTIVE,
                  f"registrars set by vote: {k} of {len(raws)}")

    @method("apply(uint256,bytes32,bytes32,address)", returns="uint256")
    def apply(self, class_id: int, external_id_hash: bytes, metadata_hash: bytes,
              owner: str) -> int:
        cls = self._require_class(class_id)
        caller = self.caller
        owner_raw = self.require_account(owner, "an asset needs an owner")
        if caller != owner_raw:
            self.require(caller in cls.registrars and self.has_role(caller, REGISTRAR),
                         f"{hex_address(caller)} may not apply for {hex_address(owner_raw)}: an "
                         "asset is applied for by its owner, or by a registrar of class "
                         f"{cls.name!r}")
        ext = self.require_hash(external_id_hash, "external id hash")
        meta = self.require_hash(metadata_hash, "metadata hash")
        st = self.state
        holder = st.claimant[class_id, ext]
        if holder:
            self.revert(f"external id 0x{ext.hex()} is already registered in class "
                        f"{cls.name!r} (asset {holder}, {st.asset(holder).state})")
        asset_id = st.add_asset(class_id, ext, meta, owner_raw, caller, self.height)
        self.emit(self.AssetApplied, asset_id, class_id, owner_raw, ext, meta)
        by = "the owner" if caller == owner_raw else f"registrar {hex_address(caller)}"
        self.emit(self.AssetTransition, asset_id, caller, "", "applied",
                  f"applied for by {by} in class {cls.name!r}")
        return asset_id

    @method("approveRegistration(uint256)")
    def approve_registration(self, asset_id: int) -> None:
        a, cls = self._as_registrar(asset_id, "approve its registration")
        self._require_state(a, ("applied",), "be registered")
        self._approve(a, cls, "registration", "registered")

    @method("rejectApplication(uint256,string)")
    def reject_application(self, asset_id: int, reason: str) -> None:
        a, _ = self._as_registrar(asset_id, "reject its application")
        self._require_state(a, ("applied",), "be rejected")
        self.require_text(reason, "reason")
        self.state.claimant[a.class_id, a.external_id_hash] = 0
        self._move(a, "rejected", reason)

    @method("approveRetirement(uint256)")
    def approve_retirement(self, asset_id: int) -> None:
        a, cls = self._as_registrar(asset_id, "approve its retirement")
        self._require_state(a, ("registered",), "be retired")
        self._approve(a, cls, "retirement", "retired")

    @method("requestTransfer(uint256,address)")
    def request_transfer(self, asset_id: int, new_owner: str) -> None:
        a = self._as_owner(asset_id, "transfer it")
        self._require_state(a, ("registered",), "be transferred")
        to = self.require_account(new_owner, "a transfer needs a new owner")
        self.require(to != a.owner, f"{hex_address(to)} already owns asset {a.id}")
        self.state.set(a.id, "pending_owner", to)
        self._move(a, "transfer_pending", f"transfer to {hex_address(to)} requested")

    @method("acceptTransfer(uint256)")
    def accept_transfer(self, asset_id: int) -> None:
        a = self._require_asset(asset_id)
        self._require_state(a, ("transfer_pending",), "be accepted")
        self.require(self.caller == a.pending_owner, f"asset {a.id} is offered to "
                     f"{hex_address(a.pending_owner)}: only it may accept")
        st = self.state
        st.set_owner(a.id, a.owner, a.pending_owner)
        st.set(a.id, "pending_owner", ZERO_ADDRESS)
        self.emit(self.OwnerChanged, a.id, a.owner, a.pending_owner)
        self._move(a, "registered", f"owner {hex_address(a.owner)} -> "
                                    f"{hex_address(a.pending_owner)}")

    @method("cancelTransfer(uint256,string)")
    def cancel_transfer(self, asset_id: int, reason: str) -> None:
        a = self._require_asset(asset_id)
        self._require_state(a, ("transfer_pending",), "have its transfer cancelled")
        self.require(self.caller in (a.owner, a.pending_owner),
                     f"only asset {a.id}'s owner or its proposed new owner may cancel the "
                     "transfer")
        self.require_text(reason, "reason", required=False)
        self.state.set(a.id, "pending_owner", ZERO_ADDRESS)
        self._move(a, "registered", reason or "transfer cancelled")

    @method("pledge(uint256,address)", returns="uint256")
    def pledge(self, asset_id: int, secured_party: str) -> int:
        a = self._as_owner(asset_id, "pledge it")
        self._require_state(a, ("registered", "encumbered"), "be pledged")
        party = self.require_account(secured_party, "a pledge needs a secured party")
        self.require(party != a.owner, "an owner cannot pledge an asset to itself")
        index = self.state.add_pledge(a.id, party, self.height)
        self.emit(self.Pledged, a.id, party, index)
        self._move(a, "encumbered", f"pledge {index} to {hex_address(party)}")
        return index

    @method("release(uint256,uint256)")
    def release(self, asset_id: int, pledge_index: int) -> None:
        a = self._require_asset(asset_id)
        self.require(pledge_index < a.pledge_count, f"asset {a.id} has no pledge {pledge_index}")
        st = self.state
        p = st.pledge(a.id, pledge_index)
        self.require(self.caller == p.secured_party,
                     f"only the secured party {hex_address(p.secured_party)} may release pledge "
                     f"{pledge_index} of asset {a.id}")
        self.require(p.state == "active", f"pledge {pledge_index} of asset {a.id} is {p.state}")
        self._require_state(a, ("encumbered",), "have a pledge released")
        st.release_pledge(a.id, pledge_index, self.height)
        self.emit(self.Released, a.id, p.secured_party, pledge_index)
        left = len(st.active_pledges(a.id))
        self._move(a, "encumbered" if left else "registered",
                   f"pledge {pledge_index} released by {hex_address(p.secured_party)}"
                   + (f" ({left} left)" if left else ""))

    freeze, unfreeze = switch("freeze(uint256,string)", "unfreeze(uint256,string)",
                              ("asset_id", "reason"), "_court_freeze")

    def _court_freeze(self, asset_id: int, reason: str, frozen: bool) -> None:
        """The court freezes an asset (it remembers the state it left) or unfreezes it."""
        self.require_role(self.caller, COURT, f"{'freeze' if frozen else 'unfreeze'} an asset")
        a = self._require_asset(asset_id)
        self.require((a.state == "frozen") != frozen,
                     f"asset {a.id} is {'already' if frozen else 'not'} frozen")
        self.require_text(reason, "reason")
        self.state.set(a.id, "frozen_from", a.state if frozen else "")
        self._move(a, "frozen" if frozen else a.frozen_from, reason)

    def _check_registrars(self, registrars: list[str], k: int) -> list[bytes]:
        raws = [as_address(r) for r in registrars]
        self.require(1 <= len(raws) <= MAX_REGISTRARS,
                     f"a class has 1 to {MAX_REGISTRARS} registrars")
        self.require(len({address_word(r) for r in raws}) == len(raws),
                     "a registrar is listed twice")
        for r in raws:
            self.require(self.has_role(r, REGISTRAR),
                         f"{hex_address(r)} does not hold the registrar role")
        self.require(1 <= k <= len(raws), f"k must be 1 to {len(raws)} (the registrars)")
        return raws

    def _approve(self, a: Asset, cls: AssetClass, action: str, target: str) -> None:
        caller = self.caller
        approvals = self.state.approvals(a.id, a.round)
        self.require(address_word(caller) not in approvals, f"registrar {hex_address(caller)} "
                     f"already approved the {action} of asset {a.id} ({len(approvals)} of "
                     f"{cls.k}): each registrar counts once")
        approvals.add(address_word(caller))
        count = len(approvals)
        self.emit(self.RegistrarApproval, a.id, caller, action, count, cls.k)
        if count >= cls.k:
            self._move(a, target, f"{action} approved by {count} of {cls.k} registrars")
        else:
            self._move(a, a.state, f"{action} approval {count} of {cls.k}")

    def _move(self, a: Asset, new: str, reason: str) -> None:
        if new != a.state:
            self.state.set_state(a.id, a.state, new, self.height)
        else:
            self.state.set(a.id, "updated_at", self.height)
        self.emit(self.AssetTransition, a.id, self.caller, a.state, new, reason)

    def _require_class(self, class_id: int) -> AssetClass:
        return self.state.asset_class(self.require_id(class_id, self.class_count(), "asset class"))

    def _require_asset(self, asset_id: int) -> Asset:
        return self.state.asset(self.require_id(asset_id, self.asset_count(), "asset"))

    def _as_registrar(self, asset_id: int, action: str) -> tuple[Asset, AssetClass]:
        self.require_role(self.caller, REGISTRAR, action)
        a = self._require_asset(asset_id)
        cls = self.state.asset_class(a.class_id)
        self.require(self.caller in cls.registrars,
                     f"{hex_address(self.caller)} is not a registrar of class {cls.name!r}")
        return a, cls

    def _as_owner(self, asset_id: int, action: str) -> Asset:
        a = self._require_asset(asset_id)
        self.require(self.caller == a.owner,
                     f"only asset {a.id}'s owner {hex_address(a.owner)} may {action}")
        return a

    def _require_state(self, a: Asset, allowed: tuple[str, ...], action: str) -> None:
        if a.state in allowed:
            return
        if a.state == "frozen":
            self.revert(f"asset {a.id} is frozen by the authority: it cannot {action} until "
                        "unfrozen")
        if a.state == "encumbered":
            parties = ", ".join(hex_address(p.secured_party)
                                for p in self.state.active_pledges(a.id))
            self.revert(f"asset {a.id} is encumbered (pledged to {parties}): it cannot {action} "
                        "until the secured party releases it")
        self.revert(f"asset {a.id} is {a.state}: it cannot {action}")

    def _asset_tuple(self, a: Asset) -> tuple[Any, ...]:
        """The asset as answered: with its class's k, its current round's approvals and its
        active pledges."""
        k = self.state.class_k(a.class_id)
        approvals = len(self.state.approvals(a.id, a.round))
        active = len(self.state.active_pledges(a.id))
        return a.with_(approvals=approvals, k=k, active_pledges=active).abi_tuple()

