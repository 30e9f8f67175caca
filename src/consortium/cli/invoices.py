"""`consortium invoice …`: invoice management and financing.

Fingerprints are computed here, with the consortium key (`--key-file`, else
$CONSORTIUM_KEY_FILE, else the key of the local network in --dir); only the fingerprint,
the parties, the amount, the currency and the due date reach the chain. Accounts (--buyer,
--seller, filters) are 0x addresses or member names of the local network in --dir.

    consortium invoice fingerprint --tax-id … --number … --issue-date … --amount …
    consortium invoice issue --tax-id … --number … --issue-date … --amount … --currency CNY
                             --due 2025-06-30 --buyer "Bank D" --from "Bank C"
    consortium invoice confirm FP --from BUYER
    consortium invoice request-financing FP --from SELLER
    consortium invoice finance FP AMOUNT --from BANK           one tranche
    consortium invoice repay FP --from BUYER                   at maturity
    consortium invoice default FP --reason … --from BANK
    consortium invoice cancel FP --reason … --from SELLER
    consortium invoice reimburse FP --from BUYER
    consortium invoice verify-tax FP [--revoke] --from TAX_AUTHORITY
    consortium invoice show FP / list [--seller --buyer --bank --state]
    consortium invoice import FILE.csv --from SELLER [--strict]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from consortium.apps.invoices.surface import FP, INVOICES
from consortium.cli.common import (
    DirOption,
    FromOption,
    JsonOption,
    PasswordFileOption,
    RpcOption,
    Signing,
    console,
    endpoint,
    err_console,
    print_json,
    resolve_dir,
    signer,
    table,
    with_signing,
)
from consortium.cli.service_commands import add_reads, add_writes
from consortium.cli.services import account, history_table, members, namer
from consortium.errors import ConfigError

app = typer.Typer(help="Invoice management and financing.", no_args_is_help=True)

KeyFileOption = typer.Option(
    None, "--key-file", help="The consortium key file (default: the local network's in --dir)."
)
FingerprintArg = typer.Argument(..., help=FP.doc)
TaxIdOption = typer.Option(..., "--tax-id", help="The seller's tax id.")
NumberOption = typer.Option(..., "--number", help="The invoice number.")
IssueDateOption = typer.Option(..., "--issue-date", help="Issue date, YYYY-MM-DD.")
AmountOption = typer.Option(..., "--amount", help="Face amount, integer smallest unit.")


def _client(rpc: str | None, dir: Path, key: bytes | None = None) -> Any:
    from consortium.apps.invoices.client import InvoiceClient

    return InvoiceClient(endpoint(rpc, dir), key=key)


def _key(key_file: Path | None, dir: Path) -> bytes:
    from consortium.apps.invoices.fingerprint import find_key

    return find_key(key_file, resolve_dir(dir))


def _resolver(dir: Path) -> Any:
    known = {name.lower(): address for name, address in members(dir).items()}
    return lambda name: known.get(name.strip().lower())


def _done(out: dict[str, Any], json_out: bool, what: str) -> None:
    if json_out:
        print_json(out)
        return
    extra = f", tranche {out['tranche']}" if "tranche" in out else ""
    console.print(
        f"invoice {out['fingerprint']} {what}: now {out.get('state', '?')}{extra} "
        f"(block {out['block']}, tx {out['txHash']})"
    )


# --- fingerprints and issuing ------------------------------------------------------------


@app.command("fingerprint")
def fingerprint_(
    tax_id: str = TaxIdOption,
    number: str = NumberOption,
    issue_date: str = IssueDateOption,
    amount: str = AmountOption,
    key_file: Path | None = KeyFileOption,
    dir: Path = DirOption,
    json_out: bool = JsonOption,
) -> None:
    """Compute an invoice's fingerprint locally (nothing is sent)."""
    from consortium.apps.invoices.fingerprint import FieldError, fingerprint, normalise

    try:
        fields = normalise(tax_id, number, issue_date, amount)
    except FieldError as exc:
        raise ConfigError(str(exc)) from None
    fp = "0x" + fingerprint(_key(key_file, dir), fields).hex()
    if json_out:
        print_json({"fingerprint": fp, "normalised": {
            "sellerTaxId": fields.seller_tax_id, "invoiceNumber": fields.invoice_number,
            "issueDate": fields.issue_date, "amount": fields.amount}})
        return
    console.print(fp)


@app.command("issue")
def issue(
    tax_id: str = typer.Option(None, "--tax-id", help="The seller's tax id."),
    number: str = typer.Option(None, "--number", help="The invoice number."),
    issue_date: str = typer.Option(None, "--issue-date", help="Issue date, YYYY-MM-DD."),
    amount: str = AmountOption,
    currency: str = typer.Option(..., "--currency", help="ISO 4217 code, e.g. CNY."),
    due: str = typer.Option(..., "--due", help="Due date, YYYY-MM-DD."),
    buyer: str = typer.Option(..., "--buyer", help="The buyer: 0x account or member name."),
    seller: str | None = typer.Option(
        None, "--seller", help="The seller, when a financing bank enters it (default: --from)."
    ),
    fingerprint: str | None = typer.Option(
        None, "--fingerprint", help="A fingerprint computed elsewhere (instead of the fields)."
    ),
    from_: str = FromOption,
    key_file: Path | None = KeyFileOption,
    dir: Path = DirOption,
    rpc: str | None = RpcOption,
    password_file: Path | None = PasswordFileOption,
    json_out: bool = JsonOption,
) -> None:
    """Register an invoice by its fingerprint (refused if the same invoice is registered)."""
    from consortium.apps.invoices.fingerprint import FieldError, compute, normalise_amount

    try:
        face = normalise_amount(amount)
        if fingerprint is None:
            if not (tax_id and number and issue_date):
                raise ConfigError("give --tax-id, --number and --issue-date (or --fingerprint)")
            fp = "0x" + compute(_key(key_file, dir), tax_id, number, issue_date, face).hex()
        else:
            fp = fingerprint
    except FieldError as exc:
        raise ConfigError(str(exc)) from None
    client = _client(rpc, dir)
    out = client.issue(
        signer(from_, dir, password_file, rpc), fp, buyer=account(buyer, dir, "--buyer", rpc),
        amount=face, currency=currency, due_date=due,
        seller=account(seller, dir, "--seller", rpc),
    )
    _done(out, json_out, "issued")


# --- the steps -------------------------------------------------------------------------------

# confirm, request-financing, finance, repay, default, cancel and reimburse: one command each,
# from the invoices' declared surface (apps/invoices/surface.py)
add_writes(app, INVOICES, _client, _done)


@app.command("verify-tax")
@with_signing
def verify_tax(fp: str = FingerprintArg,
               revoke: bool = typer.Option(False, "--revoke", help="Withdraw the verification."),
               reason: str = typer.Option("", "--reason", help="A note kept in the event."),
               *, signing: Signing) -> None:
    """The tax authority marks the invoice tax verified (or withdraws it)."""
    out = _client(signing.rpc, signing.dir).set_tax_verified(signing.signer(), fp, not revoke,
                                                             reason)
    _done(out, signing.json_out, "tax verification set")


# --- reads -------------------------------------------------------------------------------------


@app.command("show")
def show(fp: str = FingerprintArg, dir: Path = DirOption, rpc: str | None = RpcOption,
         json_out: bool = JsonOption) -> None:
    """One invoice: its fields, tranches, payments and history."""
    client = _client(rpc, dir)
    inv = client.invoice(fp)
    if inv is None:
        raise ConfigError(f"no invoice {fp}")
    inv["history"] = client.history(fp)
    if json_out:
        print_json(inv)
        return
    name = namer(dir)
    table(
        f"Invoice {inv['fingerprint']}",
        ["field", "value"],
        [
            ["state", inv["state"]],
            ["seller", name(inv["seller"])],
            ["buyer", name(inv["buyer"])],
            ["face amount", f"{inv['amount']} {inv['currency']}"],
            ["due date", inv["dueDate"]],
            ["tax verified", "yes" if inv["taxVerified"] else "no"],
            ["financed", f"{inv['financed']} {inv['currency']}"],
            ["assignee", name(inv["assignee"])],
            ["entered by", name(inv["registrant"])],
            ["issued at height", inv["issuedAt"]],
        ],
    )
    if inv["tranches"]:
        table("Financing", ["tranche", "bank", "amount", "state", "height"], [
            [t["tranche"], name(t["bank"]), t["amount"], t["state"], t["height"]]
            for t in inv["tranches"]
        ])
    if inv["payments"]:
        table("Payments at maturity", ["payee", "amount", "height"], [
            [name(p["payee"]), p["amount"], p["height"]] for p in inv["payments"]
        ])
    history_table("History", inv["history"], name)


def _list(found: list[dict[str, Any]], name: Any) -> None:
    table(
        f"Invoices ({len(found)})",
        ["fingerprint", "state", "seller", "buyer", "amount", "due", "financed", "tax"],
        [
            [i["fingerprint"], i["state"], name(i["seller"]), name(i["buyer"]),
             f"{i['amount']} {i['currency']}", i["dueDate"], i["financed"] or None,
             "yes" if i["taxVerified"] else "no"]
            for i in found
        ],
    )


# list: from the invoices' declared reads, printed by this table
add_reads(app, INVOICES, _client, tables={"invoices": _list})


# --- CSV import --------------------------------------------------------------------------------


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="CSV: seller_tax_id, invoice_number, issue_date, "
                                          "amount, currency, due_date, buyer[, seller]."),
    strict: bool = typer.Option(
        False, "--strict", help="Send nothing when any row is refused."
    ),
    from_: str = FromOption,
    key_file: Path | None = KeyFileOption,
    dir: Path = DirOption,
    rpc: str | None = RpcOption,
    password_file: Path | None = PasswordFileOption,
    json_out: bool = JsonOption,
) -> None:
    """Import a CSV file: check every row, then issue the good ones; report refused rows.

    Rows are checked off chain, then on chain (duplicates, a dry run) before anything is
    sent; each good row is then one transaction. Refused rows are listed with their line
    numbers (exit code 1)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from consortium.apps.invoices.csv_import import import_csv

    client = _client(rpc, dir)
    sender = signer(from_, dir, password_file, rpc)
    key = _key(key_file, dir)
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                  console=err_console, transient=json_out) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = import_csv(client, sender, file, key=key, resolve=_resolver(dir),
                            strict=strict, progress=progress)
    if json_out:
        print_json(report.to_json())
    else:
        if report.imported:
            table(f"Imported ({len(report.imported)} of {report.rows} rows)",
                  ["line", "invoice", "fingerprint", "block"],
                  [[r["line"], r["invoiceNumber"], r["fingerprint"], r["block"]]
                   for r in report.imported])
        if report.refused:
            table(f"Refused ({len(report.refused)} rows)", ["line", "reason"],
                  [[r.line, r.reason] for r in report.refused])
        if strict and report.refused and not report.sent:
            err_console.print("--strict: nothing was sent")
    if report.refused:
        raise typer.Exit(1)
