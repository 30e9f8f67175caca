"""`consortium invoice …`: invoice management and financing. The steps and `list`/`due`
come from the declared surface (apps/invoices/surface.py); the commands that compute
fingerprints with the consortium key (which stays here), verify-tax and show are written here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from consortium.apps.invoices.surface import FP, INVOICES
from consortium.cli import kit
from consortium.errors import ConfigError, as_config_error, known

app = kit.ServiceTyper(help="Invoice management and financing.", no_args_is_help=True)

FingerprintArg = typer.Argument(..., help=FP.doc)
AmountOption = typer.Option(..., "--amount", help="Face amount, integer smallest unit.")


_client = kit.client_of("consortium.apps.invoices.client", "InvoiceClient")
def _amount(text: str) -> int:
    """--amount as `normalise_amount` reads it; a negative amount and one that is no number
    at all are told as such, not as a fraction (FieldError)."""
    from consortium.apps.invoices.fingerprint import FieldError, normalise_amount

    given = text.strip()
    if re.fullmatch(r"-\s*\d+(\.\d*)?", given):
        raise FieldError(f"amount must be above 0, not {given}")
    if not re.fullmatch(r"\d+(\.\d*)?|\.\d+", given):
        raise FieldError(f"amount {text!r} is not a number: give an integer in the currency's "
                         "smallest unit")
    return normalise_amount(given)


def _done(out: dict[str, Any], json_out: bool, what: str) -> None:
    extra = f", tranche {out['tranche']}" if "tranche" in out else ""
    kit.show(out, json_out, lambda: kit.console.print(
        f"invoice {out['fingerprint']} {what}: now {out.get('state', '?')}{extra} "
        f"(block {out['block']}, tx {out['txHash']})"))


@app.command("fingerprint")
def fingerprint_(
    tax_id: str = typer.Option(..., "--tax-id", help="The seller's tax id."),
    number: str = typer.Option(..., "--number", help="The invoice number."),
    issue_date: str = typer.Option(..., "--issue-date", help="Issue date, YYYY-MM-DD."),
    amount: str = AmountOption, key_file: Path | None = kit.KeyFileOption,
    dir: Path = kit.DirOption, json_out: bool = kit.JsonOption,
) -> None:
    """Compute an invoice's fingerprint locally (nothing is sent)."""
    from consortium.apps.invoices.fingerprint import FieldError, fingerprint, normalise

    with as_config_error(FieldError):
        fields = normalise(tax_id, number, issue_date, _amount(amount))
    fp = "0x" + fingerprint(kit.key_of(key_file, dir), fields).hex()
    kit.show({"fingerprint": fp, "normalised": {
        "sellerTaxId": fields.seller_tax_id, "invoiceNumber": fields.invoice_number,
        "issueDate": fields.issue_date, "amount": fields.amount}}, json_out,
        lambda: kit.console.print(fp))


@app.command("issue")
@kit.with_signing
def issue(
    tax_id: str = typer.Option(None, "--tax-id", help="The seller's tax id."),
    number: str = typer.Option(None, "--number", help="The invoice number."),
    issue_date: str = typer.Option(None, "--issue-date", help="Issue date, YYYY-MM-DD."),
    amount: str = AmountOption,
    currency: str = typer.Option(..., "--currency", help="ISO 4217 code, e.g. CNY."),
    due: str = typer.Option(..., "--due", help="Due date, YYYY-MM-DD."),
    buyer: str = typer.Option(..., "--buyer", help="The buyer: 0x account or member name."),
    seller: str | None = typer.Option(
        None, "--seller", help="The seller, when a financing bank enters it (default: --from)."),
    fingerprint: str | None = typer.Option(
        None, "--fingerprint", help="A fingerprint computed elsewhere (instead of the fields)."),
    key_file: Path | None = kit.KeyFileOption, *, signing: kit.Signing,
) -> None:
    """Register an invoice by its fingerprint (refused if the same invoice is registered)."""
    from consortium.apps.invoices.fingerprint import FieldError, compute, parse_date

    dir, rpc = signing.dir, signing.rpc
    with as_config_error(FieldError):
        face = _amount(amount)
        due_date = parse_date(due, "due date")
        if issue_date and due_date < parse_date(issue_date, "issue date"):
            raise ConfigError(f"the due date {due_date} is before the issue date "
                              f"{parse_date(issue_date)}")
        if fingerprint is None and not (tax_id and number and issue_date):
            raise ConfigError("give --tax-id, --number and --issue-date (or --fingerprint)")
        fp = fingerprint or "0x" + compute(kit.key_of(key_file, dir), tax_id, number,
                                           issue_date, face).hex()
    out = _client(rpc, dir).issue(
        signing.signer(), fp, buyer=kit.account(buyer, dir, "--buyer", rpc), amount=face,
        currency=currency, due_date=due_date, seller=kit.account(seller, dir, "--seller", rpc))
    _done(out, signing.json_out, "issued")


# confirm, request-financing, finance, repay, default, cancel and reimburse
kit.add_writes(app, INVOICES, _client, _done)


@app.command("verify-tax")
@kit.with_signing
def verify_tax(fp: str = FingerprintArg,
               revoke: bool = typer.Option(False, "--revoke", help="Withdraw the verification."),
               reason: str = typer.Option("", "--reason", help="A note kept in the event."),
               *, signing: kit.Signing) -> None:
    """The tax authority marks the invoice tax verified (or withdraws it)."""
    out = _client(signing.rpc, signing.dir).set_tax_verified(signing.signer(), fp, not revoke,
                                                             reason)
    _done(out, signing.json_out, "tax verification set")


@app.command("show")
@kit.with_read_options
def show(fp: str = FingerprintArg, *, opts: kit.Signing) -> None:
    """One invoice: its fields, tranches, payments and history."""
    client = _client(opts.rpc, opts.dir)
    inv = known(client.invoice(fp), f"no invoice {fp}")
    inv["history"] = client.history(fp)
    if opts.json_out:
        kit.print_json(inv)
        return
    name = kit.namer(opts.dir)
    kit.table(f"Invoice {inv['fingerprint']}", ["field", "value"], [
        ["state", inv["state"]], ["seller", name(inv["seller"])], ["buyer", name(inv["buyer"])],
        ["face amount", f"{inv['amount']} {inv['currency']}"], ["due date", inv["dueDate"]],
        ["tax verified", "yes" if inv["taxVerified"] else "no"],
        ["financed", f"{inv['financed']} {inv['currency']}"],
        ["assignee", name(inv["assignee"])], ["entered by", name(inv["registrant"])],
        ["issued at height", inv["issuedAt"]]])
    if inv["tranches"]:
        kit.table("Financing", ["tranche", "bank", "amount", "state", "height"], [
            [t["tranche"], name(t["bank"]), t["amount"], t["state"], t["height"]]
            for t in inv["tranches"]
        ])
    if inv["payments"]:
        kit.table("Payments at maturity", ["payee", "amount", "height"], [
            [name(p["payee"]), p["amount"], p["height"]] for p in inv["payments"]
        ])
    kit.history_table("History", inv["history"], name)


INVOICE_COLUMNS = "fingerprint,state,seller,buyer,amount,due,financed,tax"


def _invoice_row(i: dict[str, Any], name: Any) -> list[Any]:
    return [i["fingerprint"], i["state"], name(i["seller"]), name(i["buyer"]),
            f"{i['amount']} {i['currency']}", i["dueDate"], i["financed"] or None,
            "yes" if i["taxVerified"] else "no"]


# `list` and `due` print the same table (`due` soonest first)
kit.add_reads(app, INVOICES, _client, tables={
    "invoices": kit.rows("Invoices", INVOICE_COLUMNS, _invoice_row),
    "by_due_date": kit.rows("Invoices due", INVOICE_COLUMNS, _invoice_row)})


@app.command("import")
@kit.with_signing
def import_(
    file: Path = typer.Argument(..., help="CSV: seller_tax_id, invoice_number, issue_date, "
                                          "amount, currency, due_date, buyer[, seller]."),
    strict: bool = typer.Option(False, "--strict", help="Send nothing when any row is refused."),
    key_file: Path | None = kit.KeyFileOption, *, signing: kit.Signing,
) -> None:
    """Import a CSV file: check every row, then issue the good ones; report refused rows.

    Rows are checked off chain, then on chain (duplicates, a dry run) before anything is
    sent; each good row is then one transaction. Refused rows are listed with their line
    numbers (exit code 1)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from consortium.apps.invoices.csv_import import import_csv

    dir, json_out = signing.dir, signing.json_out
    client, sender, key = _client(signing.rpc, dir), signing.signer(), kit.key_of(key_file, dir)
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                  console=kit.err_console, transient=json_out) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        members = {name.lower(): address for name, address in kit.members(dir).items()}
        report = import_csv(client, sender, file, key=key, strict=strict, progress=progress,
                            resolve=lambda name: members.get(name.strip().lower()))
    if json_out:
        kit.print_json(report.to_json())
    else:
        if report.imported:
            kit.table(f"Imported ({len(report.imported)} of {report.rows} rows)",
                      ["line", "invoice", "fingerprint", "block"],
                      [[r["line"], r["invoiceNumber"], r["fingerprint"], r["block"]]
                       for r in report.imported])
        if report.refused:
            kit.table(f"Refused ({len(report.refused)} rows)", ["line", "reason"],
                      [[r.line, r.reason] for r in report.refused])
        if strict and report.refused and not report.sent:
            kit.err_console.print("--strict: nothing was sent")
    if report.refused:
        raise typer.Exit(1)
