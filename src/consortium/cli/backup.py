"""`consortium backup` and `consortium restore`: a node home to one archive file and back."""

from __future__ import annotations

from pathlib import Path

import typer

from consortium.cli.kit import JsonOption, console, err_console, print_json
from consortium.network.restore import DOUBLE_SIGN_CHECK_BLOCKS


def _progress(message: str) -> None:
    err_console.print(f"· {message}", highlight=False)


def backup(
    home: Path = typer.Option(..., "--home", help="The node home to back up (may be running)."),
    out: Path = typer.Option(..., "--out", help="The archive file to write (must not exist)."),
    include_keys: bool = typer.Option(
        False, "--include-keys",
        help="Also archive the secrets: node, validator, consortium and privacy keys, API "
             "tokens, the API's TLS key, the account keystores (the archive is then as secret "
             "as the keys)."),
    json_out: bool = JsonOption,
) -> None:
    """Archive a node's ledger, CometBFT data and configuration, consistently, while it runs."""
    from consortium.network.backup import backup_node

    manifest = backup_node(home.expanduser(), out.expanduser().resolve(),
                           include_keys=include_keys, progress=_progress)
    if json_out:
        print_json({k: v for k, v in vars(manifest).items() if k != "files"}
                   | {"archive": str(out), "members": len(manifest.files)})
        return
    size = sum(e["size"] for e in manifest.files.values())
    engine = (f", engine at height {manifest.engine_height}"  # null: taken while stopped
              if manifest.engine_height is not None else " (node stopped)")
    console.print(
        f"backup of {manifest.node} ({manifest.chain_id}) written to {out}: ledger at height "
        f"{manifest.ledger_height}{engine}, "
        f"{len(manifest.files)} files, {size / (1 << 20):,.1f} MiB"
        + ("; it holds the node's KEYS: keep it secret" if manifest.includes_keys else ""),
        highlight=False)


def restore(
    archive: Path = typer.Argument(..., help="An archive made by `consortium backup`."),
    home: Path | None = typer.Option(
        None, "--home", help="The node home to create (absent or empty)."),
    as_validator: bool = typer.Option(
        False, "--as-validator",
        help="Sign with the validator key (from the archive or --keys-from); the restored "
             "node replaces the original, never runs beside it."),
    validator_state: Path | None = typer.Option(
        None, "--validator-state",
        help="The replaced node's newest data/priv_validator_state.json (with --as-validator)."),
    keys_from: Path | None = typer.Option(
        None, "--keys-from",
        help="An old node home, or a folder (e.g. the `consortium keygen` one), holding any "
             "of node_key.json, priv_validator_key.json, consortium.key, privacy_key.json, "
             "api-tokens.json, the TLS files, the account keystore (keygen's account.json)."),
    chain_id: str | None = typer.Option(
        None, "--chain-id", help="Refuse an archive of any other chain."),
    double_sign_check: int = typer.Option(
        DOUBLE_SIGN_CHECK_BLOCKS, "--double-sign-check", min=1,
        help="With --as-validator and no --validator-state: refuse to start while the key "
             "signed any of this many last blocks (consensus.double_sign_check_height)."),
    check: bool = typer.Option(
        False, "--check", help="Only verify the archive against its manifest; write nothing."),
) -> None:
    """Make a node home from a backup archive; on start it replays and catches up."""
    from consortium.errors import ConfigError
    from consortium.network.restore import check_archive, restore_node

    if check:
        manifest = check_archive(archive, progress=_progress)
        console.print(
            f"{archive} is intact: {manifest.node} of {manifest.chain_id}, ledger height "
            f"{manifest.ledger_height}"
            + (f", engine height {manifest.engine_height}" if manifest.engine_height is not None
               else " (backed up while the node was stopped)") + ", taken "
            f"{manifest.created_at}" + (", holds keys" if manifest.includes_keys else ""),
            highlight=False)
        return
    if home is None:
        raise ConfigError("restore needs --home NEW (or --check)")
    done = restore_node(archive, home, as_validator=as_validator,
                        validator_state=validator_state, keys_from=keys_from,
                        chain_id=chain_id, double_sign_check=double_sign_check,
                        progress=_progress)
    for warning in done.warnings:
        err_console.print(f"! {warning}", style="bold yellow", highlight=False, markup=False,
                          soft_wrap=True)
    m = done.manifest
    console.print(
        f"restored {m.node} of {m.chain_id} into {done.home}: ledger at height "
        f"{m.ledger_height}"
        + (f", engine at {m.engine_height}" if m.engine_height is not None
           else " (backed up while the node was stopped)") + "; "
        + ("it signs as the validator" if done.validator
           else "it runs as a full node and signs nothing (--as-validator to sign)") + ".",
        highlight=False, soft_wrap=True)
    if done.missing:
        console.print("Not in the archive, and not brought back; bring these back first:",
                      highlight=False)
        for item in done.missing:
            console.print(f"  {item.file}: {item.what}.\n      How: {item.how}.",
                          highlight=False, soft_wrap=True, markup=False)
    console.print(f"{'Then start' if done.missing else 'Start'} it with {done.start_command}.",
                  highlight=False, soft_wrap=True, markup=False)
    if done.double_sign_check is not None:
        console.print(
            f"Once it signs blocks again, set double_sign_check_height back to 0 under "
            f"[consensus] in {done.home / 'config' / 'config.toml'} (restore set it to "
            f"{done.double_sign_check}): until then, a restart soon after it signed stops "
            "at CometBFT's double-sign check (\"found signature from the same key\").",
            highlight=False, soft_wrap=True, markup=False)
