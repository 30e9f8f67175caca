"""`consortium registry …`: the digital asset registry. The steps and reads come from the
declared surface (apps/registry/surface.py); apply, release and find, which hash external
ids with the consortium key here, are written here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from consortium.apps.registry.surface import REGISTRY
from consortium.cli import kit
from consortium.errors import known

app = kit.ServiceTyper(help="Digital asset registry: classes, assets, transfers, pledges, freezes.",
                       no_args_is_help=True)



_client = kit.client_of("consortium.apps.registry.client", "RegistryClient")
def _external(external_id: str | None, external_id_hash: str | None, key_file: Path | None,
              dir: Path) -> bytes:
    from consortium.apps.registry.external_id import external_id_hash as hash_of
    from consortium.apps.surface import hash_bytes

    kit.one_of(external_id, external_id_hash, "give either --external-id or --external-id-hash")
    if external_id_hash is not None:
        return hash_bytes(external_id_hash, "external id hash")
    return hash_of(kit.key_of(key_file, dir), str(external_id))


CLASS_COLUMNS = "id,name,k,registrars,schema"


def _class_row(c: dict[str, Any], show: Any) -> list[Any]:
    return [c["id"], c["name"], f"{c['k']} of {len(c['registrars'])}",
            ", ".join(str(show(r)) for r in c["registrars"]), c["schemaHash"]]


@app.command("apply")
@kit.with_signing
def apply(
    asset_class: str = typer.Option(..., "--class", help="The class id or name."),
    external_id: str | None = typer.Option(None, "--external-id",
                                           help="The external id (hashed here)."),
    external_id_hash: str | None = typer.Option(None, "--external-id-hash",
                                                help="Or its hash, computed elsewhere."),
    metadata: str = typer.Option(..., "--metadata", help="Metadata file or its 0x SHA-256."),
    owner: str | None = typer.Option(None, "--owner",
                                     help="The owner, when a registrar applies for it."),
    key_file: Path | None = kit.KeyFileOption, *, signing: kit.Signing,
) -> None:
    """Apply for an asset's registration (refused if its external id is taken)."""
    ext = _external(external_id, external_id_hash, key_file, signing.dir)
    out = _client(signing.rpc, signing.dir).apply(
        signing.signer(), asset_class, ext, metadata=metadata,
        owner=kit.account(owner, signing.dir, "--owner", signing.rpc))
    kit.done(out, signing.json_out, "applied")


# approve, reject, retire, transfer, accept, cancel-transfer, pledge, freeze and unfreeze
kit.add_writes(app, REGISTRY, _client)


@app.command("release")
@kit.with_signing
def release(asset_id: int = typer.Argument(..., help="The asset id."),
            pledge_index: int | None = typer.Option(None, "--pledge",
                                                    help="The pledge (default: your first)."),
            *, signing: kit.Signing) -> None:
    """The secured party releases its pledge (by default the signer's first active one, else
    the asset's first active one: a refusal is the contract's reason)."""
    client = _client(signing.rpc, signing.dir)
    account = signing.signer()
    if pledge_index is None:
        active = client.active_pledges(asset_id)
        mine = [p for p in active if p["securedParty"] == account.address.lower()]
        pledge_index = (mine or active or [{"pledge": 0}])[0]["pledge"]
    kit.done(client.release(account, asset_id, pledge_index), signing.json_out, "released")


def _show_asset(found: dict[str, Any], show: Any) -> None:
    kit.table(f"Asset {found['id']}", ["field", "value"], [
        ["state", found["state"] + (f" (from {found['frozenFrom']})"
                                    if found["frozenFrom"] else "")],
        ["class", found["class"]], ["owner", show(found["owner"])],
        ["pending owner", show(found["pendingOwner"])],
        ["approvals", f"{found['approvals']} of {found['k']}: "
                      + ", ".join(str(show(a)) for a in found["approvedBy"])],
        ["external id hash", found["externalIdHash"]],
        ["metadata hash", found["metadataHash"]], ["applicant", show(found["applicant"])],
    ])
    if found["pledges"]:
        kit.table("Pledges", ["pledge", "secured party", "state", "pledged at", "released at"],
                  [[p["pledge"], show(p["securedParty"]), p["state"], p["pledgedAt"],
                    p["releasedAt"]] for p in found["pledges"]])
    kit.history_table("History", found.get("history", []), show)


_reading: dict[str, Any] = {}  # the client of the read being printed (for class names)


def _read_client(rpc: str | None, dir: Path) -> Any:
    _reading["client"] = client = _client(rpc, dir)
    return client


def _assets_table(found: list[dict[str, Any]], show: Any) -> None:
    """Assets with their class's name (its id when the classes cannot be read)."""
    names = {c["id"]: c["name"] for c in _reading["client"].read.classes()} if found else {}
    kit.table(f"Assets ({len(found)})",
              ["id", "class", "owner", "state", "approvals", "pledges", "external id hash"],
              [[a["id"], names.get(a["class"], a["class"]), show(a["owner"]), a["state"],
                f"{a['approvals']} of {a['k']}", a["activePledges"] or None,
                a["externalIdHash"]] for a in found])


kit.add_reads(app, REGISTRY, _read_client, tables={
    "classes": kit.rows("Asset classes", CLASS_COLUMNS, _class_row),
    "asset_class": lambda found, show: kit.table(
        f"Asset class {found['name']}", CLASS_COLUMNS.split(","), [_class_row(found, show)]),
    "assets": _assets_table,
    "asset": _show_asset,
})


@app.command("find")
@kit.with_read_options
def find(
    asset_class: str = typer.Option(..., "--class", help="The class id or name."),
    external_id: str | None = typer.Option(None, "--external-id", help="Hashed here."),
    external_id_hash: str | None = typer.Option(None, "--external-id-hash", help="Or its hash."),
    key_file: Path | None = kit.KeyFileOption, *, opts: kit.Signing,
) -> None:
    """The asset holding an external id in a class."""
    ext = _external(external_id, external_id_hash, key_file, opts.dir)
    found = known(_client(opts.rpc, opts.dir).find(asset_class, ext),
                  f"no asset holds that external id in class {asset_class!r}")
    opts.show(found, lambda: _show_asset(found, kit.namer(opts.dir)))
