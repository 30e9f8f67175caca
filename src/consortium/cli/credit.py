"""`consortium credit …`: credit information sharing.

Accounts (--grantee, --subject, --agency, filters) are 0x addresses or member names of the
local network in --dir. Record and report hashes are SHA-256s: give a file (hashed here; it
never leaves this machine) or a 0x hash.

    consortium credit consent --grantee "Bank A" --purpose mortgage --blocks 1000 --from BORROWER
    consortium credit revoke-consent ID --from BORROWER
    consortium credit consents [--subject … --grantee …]
    consortium credit report --subject … --kind default --record FILE --from LENDER
    consortium credit correct ID --kind repaid --record FILE --reason … --from LENDER
    consortium credit records [--subject … --reporter …] / record ID
    consortium credit order --agency "Agency X" --consent ID --purpose mortgage --from LENDER
    consortium credit accept ID / reject ID --reason … / deliver ID FILE --location URL
                                                                       --from AGENCY
    consortium credit confirm ID / dispute ID --reason … --from LENDER
    consortium credit resolve ID --resolution … --from MEDIATOR
    consortium credit queries [--subject … --lender … --agency … --state …] / query ID
    consortium credit verify ID FILE          check a received report against the chain
    consortium credit download ID --out FILE  fetch the report, check it, write it if it matches
    consortium credit blacklist / blacklist-add RECORD --reason … / unlist SUBJECT --reason …
    consortium credit propose-unlist SUBJECT --reason … --from COMMITTEE   (by vote)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from consortium.cli.common import (
    DirOption,
    JsonOption,
    ReasonOption,
    RpcOption,
    Signing,
    console,
    endpoint,
    err_console,
    print_json,
    table,
    with_signing,
)
from consortium.cli.services import (
    account,
    done,
    history_table,
    namer,
    party,
    proposed,
)
from consortium.errors import ConfigError

app = typer.Typer(help="Credit information sharing: consents, records, queries, blacklist.",
                  no_args_is_help=True)

IdArg = typer.Argument(..., help="The id (a number).")
RecordOption = typer.Option(..., "--record",
                            help="The record document (hashed here) or its 0x SHA-256.")


def _client(rpc: str | None, dir: Path) -> Any:
    from consortium.apps.credit.client import CreditClient

    return CreditClient(endpoint(rpc, dir))


def _write(signing: Signing, method: str, what: str, *args: Any, **kwargs: Any) -> None:
    """Sign and send `client.method(signer, *args, **kwargs)`; print `what` it did."""
    client = _client(signing.rpc, signing.dir)
    account_ = signing.signer()
    done(getattr(client, method)(account_, *args, **kwargs), signing.json_out, what)


# --- consents ----------------------------------------------------------------------------------


@app.command("consent")
@with_signing
def consent(
    grantee: str = typer.Option(..., "--grantee", help="The lender: 0x account or member."),
    purpose: str = typer.Option(..., "--purpose", help="What the query is for."),
    blocks: int | None = typer.Option(None, "--blocks", help="Valid for this many blocks."),
    expires_at: int | None = typer.Option(None, "--expires-at", help="Or: expiry height."),
    uses: int = typer.Option(1, "--uses", help="Queries it serves (default one)."),
    *, signing: Signing) -> None:
    """The data subject consents to a lender querying its credit."""
    if (blocks is None) == (expires_at is None):
        raise ConfigError("give either --blocks or --expires-at")
    client = _client(signing.rpc, signing.dir)
    expiry = expires_at if expires_at is not None else client.height() + 1 + int(blocks or 0)
    out = client.grant_consent(signing.signer(),
                               party(grantee, signing, "--grantee"), purpose,
                               expires_at=expiry, max_uses=uses)
    done(out, signing.json_out, "granted")


@app.command("revoke-consent")
@with_signing
def revoke_consent(
    consent_id: int = IdArg,
    reason: str = typer.Option("", "--reason", help="Why (kept in the event)."),
    *, signing: Signing) -> None:
    """The subject revokes a consent that is still live."""
    _write(signing, "revoke_consent", "revoked", consent_id, reason)


@app.command("consents")
def consents(
    subject: str | None = typer.Option(None, "--subject", help="Account or member name."),
    grantee: str | None = typer.Option(None, "--grantee", help="Account or member name."),
    dir: Path = DirOption, rpc: str | None = RpcOption, json_out: bool = JsonOption,
) -> None:
    """Consents matching every filter given."""
    found = _client(rpc, dir).consents(subject=account(subject, dir, "--subject", rpc),
                                       grantee=account(grantee, dir, "--grantee", rpc))
    if json_out:
        print_json(found)
        return
    show = namer(dir)
    table(f"Consents ({len(found)})",
          ["id", "subject", "grantee", "purpose", "state", "uses", "expires at"],
          [[c["id"], show(c["subject"]), show(c["grantee"]), c["purpose"], c["state"],
            f"{c['uses']} of {c['maxUses']}", c["expiresAt"]] for c in found])


# --- credit records ----------------------------------------------------------------------------


@app.command("report")
@with_signing
def report(
    subject: str = typer.Option(..., "--subject", help="The borrower: account or member."),
    kind: str = typer.Option(..., "--kind", help="loan_opened, repaid, overdue or default."),
    record: str = RecordOption,
    *, signing: Signing) -> None:
    """A lender reports a credit record (its hash; the record stays off chain)."""
    _write(signing, "report", "reported", party(subject, signing, "--subject"),
           kind, record)


@app.command("correct")
@with_signing
def correct(
    original: int = typer.Argument(..., help="The record to correct."),
    kind: str = typer.Option(..., "--kind", help="The corrected kind."),
    record: str = RecordOption, reason: str = ReasonOption,
    *, signing: Signing) -> None:
    """Its reporter corrects a record: a new record linked to the original (kept)."""
    _write(signing, "correct", "corrected", original, kind, record, reason)


@app.command("records")
def records(
    subject: str | None = typer.Option(None, "--subject", help="Account or member name."),
    reporter: str | None = typer.Option(None, "--reporter", help="Account or member name."),
    dir: Path = DirOption, rpc: str | None = RpcOption, json_out: bool = JsonOption,
) -> None:
    """Credit records matching every filter given (corrections and originals alike)."""
    found = _client(rpc, dir).records(subject=account(subject, dir, "--subject", rpc),
                                      reporter=account(reporter, dir, "--reporter", rpc))
    if json_out:
        print_json(found)
        return
    show = namer(dir)
    table(f"Credit records ({len(found)})",
          ["id", "subject", "kind", "reporter", "state", "links", "hash", "height"],
          [[r["id"], show(r["subject"]), r["kind"], show(r["reporter"]), r["state"],
            _links(r), r["recordHash"], r["height"]] for r in found])


def _links(r: dict[str, Any]) -> str | None:
    parts = []
    if r["supersedes"]:
        parts.append(f"corrects {r['supersedes']}")
    if r["supersededBy"]:
        parts.append(f"corrected by {r['supersededBy']}")
    return ", ".join(parts) or None


@app.command("record")
def record_(record_id: int = IdArg, dir: Path = DirOption, rpc: str | None = RpcOption,
            json_out: bool = JsonOption) -> None:
    """One record, with its chain of corrections and its history."""
    client = _client(rpc, dir)
    found = client.record(record_id)
    if found is None:
        raise ConfigError(f"no credit record {record_id}")
    found["corrections"] = client.corrections(record_id)
    found["history"] = client.history("record", record_id)
    if json_out:
        print_json(found)
        return
    show = namer(dir)
    table("Record and its corrections (oldest first)",
          ["id", "kind", "state", "reporter", "hash", "height"],
          [[r["id"], r["kind"], r["state"], show(r["reporter"]), r["recordHash"], r["height"]]
           for r in found["corrections"]])
    history_table(f"History of record {record_id}", found["history"], show)


# --- query orders ------------------------------------------------------------------------------


@app.command("order")
@with_signing
def order(
    agency: str = typer.Option(..., "--agency", help="A licensed credit agency."),
    consent_id: int = typer.Option(..., "--consent", help="The subject's consent id."),
    purpose: str = typer.Option(..., "--purpose", help="As the consent states it."),
    *, signing: Signing) -> None:
    """A lender orders a credit report from an agency, under a live consent."""
    _write(signing, "create_query", "ordered",
           party(agency, signing, "--agency"), consent_id, purpose)


@app.command("accept")
@with_signing
def accept(query_id: int = IdArg, *, signing: Signing) -> None:
    """The agency accepts a query order."""
    _write(signing, "accept", "accepted", query_id)


@app.command("reject")
@with_signing
def reject(query_id: int = IdArg, reason: str = ReasonOption, *, signing: Signing) -> None:
    """The agency rejects a query order."""
    _write(signing, "reject", "rejected", query_id, reason)


@app.command("deliver")
@with_signing
def deliver(
    query_id: int = IdArg,
    report_file: str = typer.Argument(..., help="The report file (hashed here) or 0x hash."),
    location: str = typer.Option("", "--location",
                                 help="Where the lender fetches it (URL or file)."),
    *, signing: Signing) -> None:
    """The agency delivers a report: its SHA-256 on chain, the file off chain."""
    _write(signing, "deliver", "delivered", query_id, report_file, location)


@app.command("confirm")
@with_signing
def confirm(query_id: int = IdArg, *, signing: Signing) -> None:
    """The lender confirms the delivered report."""
    _write(signing, "confirm", "confirmed", query_id)


@app.command("dispute")
@with_signing
def dispute(query_id: int = IdArg, reason: str = ReasonOption, *, signing: Signing) -> None:
    """The lender disputes the delivered report."""
    _write(signing, "dispute", "disputed", query_id, reason)


@app.command("resolve")
@with_signing
def resolve(query_id: int = IdArg,
            resolution: str = typer.Option(..., "--resolution", help="The mediator's ruling."),
            *, signing: Signing) -> None:
    """A mediator resolves a disputed query."""
    _write(signing, "resolve", "resolved", query_id, resolution)


@app.command("queries")
def queries(
    subject: str | None = typer.Option(None, "--subject",
                                       help="Every query about this subject."),
    lender: str | None = typer.Option(None, "--lender", help="Account or member name."),
    agency: str | None = typer.Option(None, "--agency", help="Account or member name."),
    state: str | None = typer.Option(None, "--state", help="e.g. created, delivered."),
    dir: Path = DirOption, rpc: str | None = RpcOption, json_out: bool = JsonOption,
) -> None:
    """Query orders matching every filter given: who asked, why, and where they stand."""
    found = _client(rpc, dir).queries(
        subject=account(subject, dir, "--subject", rpc),
        lender=account(lender, dir, "--lender", rpc),
        agency=account(agency, dir, "--agency", rpc), state=state)
    if json_out:
        print_json(found)
        return
    show = namer(dir)
    table(f"Queries ({len(found)})",
          ["id", "subject", "asked by", "why", "agency", "state", "consent", "height"],
          [[q["id"], show(q["subject"]), show(q["lender"]), q["purpose"], show(q["agency"]),
            q["state"], q["consent"], q["createdAt"]] for q in found])


@app.command("query")
def query(query_id: int = IdArg, dir: Path = DirOption, rpc: str | None = RpcOption,
          json_out: bool = JsonOption) -> None:
    """One query order with its history."""
    client = _client(rpc, dir)
    found = client.query(query_id)
    if found is None:
        raise ConfigError(f"no query {query_id}")
    found["history"] = client.history("query", query_id)
    if json_out:
        print_json(found)
        return
    show = namer(dir)
    table(f"Query {query_id}", ["field", "value"], [
        ["state", found["state"]], ["subject", show(found["subject"])],
        ["lender", show(found["lender"])], ["purpose", found["purpose"]],
        ["agency", show(found["agency"])], ["consent", found["consent"]],
        ["report sha256", found["reportHash"]], ["location", found["location"] or None],
        ["created at height", found["createdAt"]]])
    history_table("History", found["history"], show)


# --- the lender's check of a delivered report ---------------------------------------------------


def _verdict(result: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(result)
    elif result["match"]:
        console.print(f"[green]OK[/green]: the file matches the report hash delivered for "
                      f"query {result['query']} ({result['expected']})")
    if not result["match"]:
        err_console.print(
            f"[bold red]MISMATCH[/bold red]: the file's SHA-256 is {result['actual']}, but the "
            f"agency delivered {result['expected']} on chain for query {result['query']}: "
            "this is NOT the delivered report")
        raise typer.Exit(1)


@app.command("verify")
def verify(query_id: int = IdArg,
           file: Path = typer.Argument(..., help="The report file received off chain."),
           dir: Path = DirOption, rpc: str | None = RpcOption,
           json_out: bool = JsonOption) -> None:
    """Check a received report file against its hash on chain (exit 1 on a mismatch)."""
    _verdict(_client(rpc, dir).verify_report(query_id, file), json_out)


@app.command("download")
def download(
    query_id: int = IdArg,
    out: Path = typer.Option(..., "--out", help="Where to save the report."),
    source: str | None = typer.Option(None, "--source",
                                      help="Fetch from here instead of the location on chain."),
    dir: Path = DirOption, rpc: str | None = RpcOption, json_out: bool = JsonOption,
) -> None:
    """Fetch a delivered report and check it against the chain; it is written to --out only
    when it matches (exit 1 on a mismatch, nothing written)."""
    from consortium.apps.credit.client import ReportMismatch

    try:
        result = _client(rpc, dir).download_report(query_id, out, source)
    except ReportMismatch as exc:
        result = exc.result
    _verdict(result, json_out)


# --- the blacklist -----------------------------------------------------------------------------


@app.command("blacklist")
def blacklist(dir: Path = DirOption, rpc: str | None = RpcOption,
              json_out: bool = JsonOption) -> None:
    """Blacklisted subjects, with the reporting member and the reason."""
    found = _client(rpc, dir).blacklist()
    if json_out:
        print_json(found)
        return
    show = namer(dir)
    table(f"Blacklist ({len(found)})", ["subject", "reported by", "reason", "record", "height"],
          [[show(e["subject"]), show(e["reporter"]), e["reason"], e["record"], e["height"]]
           for e in found])


@app.command("blacklist-add")
@with_signing
def blacklist_add(record_id: int = typer.Argument(..., help="The lender's default record."),
                  reason: str = ReasonOption, *, signing: Signing) -> None:
    """A lender blacklists the subject of its own default record."""
    _write(signing, "blacklist_subject", "blacklisted", record_id, reason)


@app.command("unlist")
@with_signing
def unlist(subject: str = typer.Argument(..., help="Account or member name."),
           reason: str = ReasonOption, *, signing: Signing) -> None:
    """The reporting lender removes a subject from the blacklist."""
    _write(signing, "unlist_subject", "removed",
           party(subject, signing, "SUBJECT"), reason)


@app.command("propose-unlist")
@with_signing
def propose_unlist(subject: str = typer.Argument(..., help="Account or member name."),
                   reason: str = ReasonOption, *, signing: Signing) -> None:
    """Propose removing a subject from the blacklist by vote (members then vote)."""
    client = _client(signing.rpc, signing.dir)
    out = client.propose_unlist(signing.signer(),
                                party(subject, signing, "SUBJECT"), reason)
    proposed(out, signing.json_out)
