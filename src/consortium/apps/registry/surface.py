"""The registry's surface: its reads and plain writes. Applying, finding by external id and
releasing hash or pick things on the client (`client.py`, `cli/registry.py`)."""

from __future__ import annotations

from consortium.apps import surface as kinds
from consortium.apps.registry.model import ASSET_STATES
from consortium.apps.registry.reader import RegistryReader
from consortium.apps.surface import REASON, Param, Read, Service, Write

ASSET = Param("id", kinds.ID, "The asset id.")
REGISTRARS = Param("registrars", kinds.ACCOUNT, "A registrar (repeatable).", flag="--registrar",
                   many=True)
K = Param("k", kinds.AMOUNT, "Approvals needed to register or retire.", flag="--k")

REGISTRY = Service("registry", "Digital asset registry", RegistryReader, reads=(
        Read("classes", "Every asset class", rpc="consortium_assetClasses", rest="/classes",
             cli="classes"),
        Read("asset_class", "One asset class by id or name", rpc="consortium_assetClass",
             rest="/classes/{ref}", params=(Param("ref", kinds.id_or_name("class")),),
             nullable=True, noun="asset class", cli="class"),
        Read("assets", "Assets matching every filter given", rpc="consortium_assets",
             rest="/assets", cli="assets", filters=(
                 Param("class", kinds.ID, "the asset class id (the CLI takes its name too)",
                       arg="asset_class", cli_kind=kinds.id_or_name("class")),
                 Param("owner", kinds.ACCOUNT, "the owner's account"),
                 Param("state", kinds.choice(ASSET_STATES), "the asset state"),
                 Param("securedParty", kinds.ACCOUNT, "a secured party's account",
                       arg="secured_party"),
                 *kinds.PAGE,
             )),
        Read("asset", "One asset with its approvals, pledges and full history",
             rpc="consortium_asset", rest="/assets/{id}", params=(Param("id", kinds.ID),),
             nullable=True, cli="show"),
    ),
    writes=(
        Write("propose-class", "createClass", "Propose an asset class (created when the "
              "members' vote passes it).", "propose_class",
              (Param("name", kinds.TEXT, "The class name, e.g. 'Land title'.", flag="--name"),
               Param("schema", kinds.DOCUMENT, "The schema document or its 0x SHA-256.",
                     flag="--schema"),
               REGISTRARS, K), propose=True),
        Write("propose-registrars", "setClassRegistrars", "Propose new registrars and k for "
              "a class (by vote).", "propose_registrars",
              (Param("asset_class", kinds.id_or_name("class"), "The class id or name."), REGISTRARS,
               K), propose=True),
        Write("approve", "approveRegistration",
              "A registrar of the class approves the registration (registered at k).",
              "approve_registration", (ASSET,), "approved"),
        Write("reject", "rejectApplication",
              "A registrar rejects an application (its external id is freed).",
              "reject_application", (ASSET, REASON), "rejected"),
        Write("retire", "approveRetirement",
              "A registrar approves the asset's retirement (retired at k).",
              "approve_retirement", (ASSET,), "retirement approved"),
        Write("transfer", "requestTransfer",
              "The owner offers the asset to a new owner (who must accept).",
              "request_transfer",
              (ASSET, Param("to", kinds.ACCOUNT, "The new owner: account or member.")), "offered"),
        Write("accept", "acceptTransfer", "The new owner accepts a transfer.",
              "accept_transfer", (ASSET,), "accepted"),
        Write("cancel-transfer", "cancelTransfer",
              "The owner or the proposed new owner cancels a pending transfer.",
              "cancel_transfer", (ASSET, Param("reason", kinds.TEXT, REASON.doc, default="")),
              "transfer cancelled"),
        Write("pledge", "pledge", "The owner pledges the asset to a secured party.", "pledge",
              (ASSET, Param("to", kinds.ACCOUNT, "The secured party: account or member.")),
              "pledged"),
        Write("freeze", "freeze", "The authority (court) freezes an asset, whatever its state.",
              "freeze", (ASSET, REASON), "frozen"),
        Write("unfreeze", "unfreeze",
              "The authority unfreezes an asset (back to the state it was frozen in).",
              "unfreeze", (ASSET, REASON), "unfrozen"),
    ),
)
