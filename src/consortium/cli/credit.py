"""`consortium credit …`: credit information sharing. The steps and reads come from the
declared surface (apps/credit/surface.py); consent, verify and download are written here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from consortium.apps.credit.surface import CREDIT
from consortium.cli import kit

app = kit.ServiceTyper(help="Credit information sharing: consents, records, queries, blacklist.",
                       no_args_is_help=True)

IdArg = typer.Argument(..., help="The id (a number).")


_client = kit.client_of("consortium.apps.credit.client", "CreditClient")
@app.command("consent")
@kit.with_signing
def consent(
    grantee: str = typer.Option(..., "--grantee", help="The lender: 0x account or member."),
    purpose: str = typer.Option(..., "--purpose", help="What the query is for."),
    blocks: int | None = typer.Option(None, "--blocks", help="Valid for this many blocks."),
    expires_at: int | None = typer.Option(None, "--expires-at", help="Or: expiry height."),
    uses: int = typer.Option(1, "--uses", help="Queries it serves (default one).",
                             parser=kit.POSITIVE),
    *, signing: kit.Signing) -> None:
    """The data subject consents to a lender querying its credit."""
    kit.one_of(blocks, expires_at, "give either --blocks or --expires-at")
    client = _client(signing.rpc, signing.dir)
    expiry = kit.height(client, expires_at, blocks, 1, option="--blocks")  # before the key
    out = client.grant_consent(signing.signer(), kit.party(grantee, signing, "--grantee"),
                               purpose, expires_at=expiry, max_uses=uses)
    kit.done(out, signing.json_out, "granted")


kit.add_writes(app, CREDIT, _client)


def _links(r: dict[str, Any]) -> str | None:
    parts = []
    if r["supersedes"]:
        parts.append(f"corrects {r['supersedes']}")
    if r["supersededBy"]:
        parts.append(f"corrected by {r['supersededBy']}")
    return ", ".join(parts) or None


def _record(found: dict[str, Any], show: Any) -> None:
    kit.table("Record and its corrections (oldest first)",
              ["id", "kind", "state", "reporter", "hash", "height"],
              [[r["id"], r["kind"], r["state"], show(r["reporter"]), r["recordHash"], r["height"]]
               for r in found["corrections"]])
    kit.history_table(f"History of record {found['id']}", found["history"], show)


def _query(found: dict[str, Any], show: Any) -> None:
    kit.table(f"Query {found['id']}", ["field", "value"], [
        ["state", found["state"]], ["subject", show(found["subject"])],
        ["lender", show(found["lender"])], ["purpose", found["purpose"]],
        ["agency", show(found["agency"])], ["consent", found["consent"]],
        ["report sha256", found["reportHash"]], ["location", found["location"] or None],
        ["created at height", found["createdAt"]]])
    kit.history_table("History", found["history"], show)


kit.add_reads(app, CREDIT, _client, tables={
    "consents": kit.rows(
        "Consents", "id,subject,grantee,purpose,state,uses,expires at",
        lambda c, show: [c["id"], show(c["subject"]), show(c["grantee"]), c["purpose"],
                         c["state"], f"{c['uses']} of {c['maxUses']}", c["expiresAt"]]),
    "records": kit.rows(
        "Credit records", "id,subject,kind,reporter,state,links,hash,height",
        lambda r, show: [r["id"], show(r["subject"]), r["kind"], show(r["reporter"]),
                         r["state"], _links(r), r["recordHash"], r["height"]]),
    "record_detail": _record,
    "queries": kit.rows(
        "Queries", "id,subject,asked by,why,agency,state,consent,height",
        lambda q, show: [q["id"], show(q["subject"]), show(q["lender"]), q["purpose"],
                         show(q["agency"]), q["state"], q["consent"], q["createdAt"]]),
    "query_detail": _query,
    "blacklist": kit.rows(
        "Blacklist", "subject,reported by,reason,record,height",
        lambda e, show: [show(e["subject"]), show(e["reporter"]), e["reason"], e["record"],
                         e["height"]]),
})


def _verdict(result: dict[str, Any], json_out: bool) -> None:
    if json_out:
        kit.print_json(result)
    elif result["match"]:
        kit.console.print(f"[green]OK[/green]: the file matches the report hash delivered for "
                          f"query {result['query']} ({result['expected']})")
    if not result["match"]:
        kit.err_console.print(
            f"[bold red]MISMATCH[/bold red]: the file's SHA-256 is {result['actual']}, but the "
            f"agency delivered {result['expected']} on chain for query {result['query']}: "
            "this is NOT the delivered report")
        raise typer.Exit(1)


@app.command("verify")
@kit.with_read_options
def verify(query_id: int = IdArg,
           file: Path = typer.Argument(..., help="The report file received off chain."), *,
           opts: kit.Signing) -> None:
    """Check a received report file against its hash on chain (exit 1 on a mismatch)."""
    _verdict(_client(opts.rpc, opts.dir).verify_report(query_id, file), opts.json_out)


@app.command("download")
@kit.with_read_options
def download(
    query_id: int = IdArg,
    out: Path = typer.Option(..., "--out", help="Where to save the report."),
    source: str | None = typer.Option(None, "--source",
                                      help="Fetch from here instead of the location on chain."),
    *, opts: kit.Signing,
) -> None:
    """Fetch a delivered report and check it against the chain; it is written to --out only
    when it matches (exit 1 on a mismatch, nothing written)."""
    from consortium.apps.credit.client import ReportMismatch

    try:
        result = _client(opts.rpc, opts.dir).download_report(query_id, out, source)
    except ReportMismatch as exc:
        result = exc.result
    _verdict(result, opts.json_out)
