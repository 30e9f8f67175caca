"""`consortium securities …`: cash tokens, instruments, eligibility, the order book, bilateral
trades, settlement, forced transfers and dividends. The plain writes and the reads come from
the declared surface (apps/securities/surface.py) with their tables here; the other commands
have flows of their own. Accounts are 0x addresses or member names (of the local network in
--dir, else of the chain's member registry); --from signs; lists and shows take --json;
`check` exits 1 when the transfer is restricted, with or without --json.

    consortium securities cash mint CNY 1000000 --to "Alice Fund" --from "Bank A"
    consortium securities order sell US0378331005 10 --price 101 --from "Alice Fund"
    consortium securities book US0378331005            the depth table
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from consortium.apps.securities.model import UNLIMITED, isin_problem, side_number
from consortium.apps.securities.surface import CASH, SECURITIES
from consortium.apps.surface import hash_bytes, sha256_of
from consortium.cli import kit
from consortium.errors import ConfigError, known

app = kit.ServiceTyper(help="Securities trading and settlement (cash tokens, order books, DvP).",
                       no_args_is_help=True)
cash_app = kit.ServiceTyper(help="Cash tokens: tokenised deposits that settle the cash leg.",
                            no_args_is_help=True)
investor_app = kit.ServiceTyper(help="The investor eligibility registry (custodians).",
                                no_args_is_help=True)
dividend_app = kit.ServiceTyper(help="Cash dividends on a record-date snapshot.",
                                no_args_is_help=True)
for name, group in (("cash", cash_app), ("investor", investor_app), ("dividend", dividend_app)):
    app.add_typer(group, name=name)

IsinArg = typer.Argument(..., help="The instrument's ISIN, e.g. US0378331005.")
READS = {r.name: r for r in SECURITIES.reads}
WRITES = {w.client: w for w in SECURITIES.writes}
Show = Any  # account -> its member's name


_client = kit.client_of("consortium.apps.securities.client", "SecuritiesClient")

# A state as the tables name it, by kind: an instrument's events say "active" (on chain, kept)
# where its tables say "trading" (as `unpause` does: "trading again").
SHOWN_STATES = {"instrument": {"active": "trading"}}


def _state(kind: str, state: str) -> str:
    return SHOWN_STATES.get(kind, {}).get(state, state)


def _done(out: dict[str, Any], json_out: bool, what: str) -> None:
    """A write's outcome: its JSON (without the raw events), or one line naming what it
    created, its trades, or else the states it moved."""
    extra = [f"order {out['orderId']} {out.get('orderState', '')}".rstrip()] \
        if "orderId" in out else []
    extra += [f"trade {t['id']}: {t['quantity']} at {t['price']} {t['state']}"
              for t in out.get("trades", [])]
    extra += [f"{label} {out[key]}" for key, label in (
        ("proposalId", "proposal"), ("dividendId", "dividend"),
        ("forcedTransferId", "forced transfer")) if key in out]
    extra = extra or [f"{t['kind']} {t['id']}: {_state(t['kind'], t['from']) or '-'} -> "
                      f"{_state(t['kind'], t['to'])}" for t in out.get("transitions", [])]
    detail = f" — {'; '.join(extra)}" if extra else ""
    kit.show({k: v for k, v in out.items() if k != "events"}, json_out, lambda: kit.console.print(
        f"{what}{detail} (block {out['block']}, tx {out['txHash']})"))


def _send(signing: kit.Signing, what: str, method: str, *args: Any, **kwargs: Any) -> None:
    """Sign and send `client.method(signer, *args, **kwargs)`; print `what` it did."""
    client = _client(signing.rpc, signing.dir)
    _done(getattr(client, method)(signing.signer(), *args, **kwargs), signing.json_out, what)


def _isin(value: str) -> str:
    isin = value.strip().upper()
    problem = isin_problem(isin)
    if problem:
        raise ConfigError(problem)
    return isin


# --- the declared writes and reads, with their tables --------------------------------------
def _instrument(inst: dict[str, Any], show: Show) -> None:
    kit.table(f"Instrument {inst['isin']}", ["field", "value"], [
        ["name", inst["name"]], ["issuer agent", show(inst["agent"])],
        ["issuer", show(inst["issuer"])], ["supply", inst["supply"]],
        ["currency", inst["currency"]], ["document", inst["documentHash"]],
        ["settlement", f"T+{inst['settlementCycle']}, window {inst['settlementWindow']}"],
        ["state", "paused" if inst["paused"] else "trading"],
        ["jurisdictions", ", ".join(inst["jurisdictions"]) or "any"],
        ["issued at height", inst["createdAt"]],
    ])
    _positions("Holders", inst["holders"], show)


def _positions(title: str, rows: list[dict[str, Any]], show: Show, key: str = "") -> None:
    """Holdings or cash: who holds how much, locked and free (`key`: isin or currency)."""
    kit.table(title, ["account", *([key] if key else []), "balance", "locked", "free"],
              [[show(r["account"]), *([r[key]] if key else []), r["balance"], r["locked"],
                r["free"]] for r in rows])


def _book(b: dict[str, Any], show: Show) -> None:
    bids, asks = b["bids"], b["asks"]
    rows = [[bid and bid["orders"], bid and bid["quantity"], bid and bid["price"],
             ask and ask["price"], ask and ask["quantity"], ask and ask["orders"]]
            for i in range(max(len(bids), len(asks)))
            for bid, ask in [(bids[i] if i < len(bids) else None,
                              asks[i] if i < len(asks) else None)]]
    state = " (paused)" if b["paused"] else ""
    kit.table(f"{b['isin']} order book, prices in {b['currency']}{state}",
              ["orders", "bid qty", "bid", "ask", "ask qty", "orders"], rows)


def _investor(v: dict[str, Any], show: Show) -> list[Any]:
    return [show(v["account"]), show(v["custodian"]) if v["registered"] else None,
            v["kycExpiry"], v["jurisdiction"] or None,
            "frozen" if v["frozen"] or v["regulatorFrozen"] else "-",
            "yes" if v["eligible"] else f"no ({v['restriction']}: {v['reason']})"]


INVESTOR_COLUMNS = "account,custodian,KYC until,jurisdiction,frozen,eligible"
TABLES = {
    "instruments": kit.rows(
        "Instruments", "isin,name,issuer,supply,currency,settlement,state",
        lambda i, show: [i["isin"], i["name"], show(i["issuer"]), i["supply"], i["currency"],
                         f"T+{i['settlementCycle']}", "paused" if i["paused"] else "trading"]),
    "instrument": _instrument, "order_book": _book,
    "orders": kit.rows("Orders", "id,isin,owner,side,price,qty,filled,left,expiry,state",
                    lambda o, show: [o["id"], o["isin"], show(o["owner"]), o["side"],
                                     o["price"], o["quantity"], o["filled"], o["remaining"],
                                     o["expiry"] or None, o["state"]]),
    "trades": kit.rows("Trades", "id,isin,buyer,seller,qty,price,amount,traded,settles,state",
                    lambda t, show: [t["id"], t["isin"], show(t["buyer"]), show(t["seller"]),
                                     t["quantity"], t["price"], t["amount"], t["tradedAt"],
                                     t["settleHeight"], t["state"]]),
    "proposals": kit.rows(
        "Bilateral trades", "id,isin,seller,buyer,qty,price,deadline,state,trade",
        lambda p, show: [p["id"], p["isin"], show(p["seller"]), show(p["buyer"]),
                         p["quantity"], p["price"], p["deadline"], p["state"], p["trade"] or None]),
    "forced_transfers": kit.rows(
        "Forced transfers", "id,isin,from,to,amount,regulator,height,reason",
        lambda f, show: [f["id"], f["isin"], show(f["from"]), show(f["to"]), f["amount"],
                         show(f["regulator"]), f["height"], f["reason"]]),
    "investors": kit.rows("Investors", INVESTOR_COLUMNS, _investor),
    "investor": lambda v, show: kit.table("Investor", INVESTOR_COLUMNS.split(","),
                                          [_investor(v, show)]),
    "dividends_listed": kit.rows(
        "Dividends", "id,isin,record height,per share,total,paid,state",
        lambda d, show: [d["id"], d["isin"], d["recordHeight"],
                         f"{d['perShare']} {d['currency']}", d["total"], d["paid"],
                         d["state"]]),
    "cash_tokens": kit.rows("Cash tokens", "currency,name,issuer,supply,since",
                         lambda t, show: [t["currency"], t["name"], show(t["issuer"]),
                                          t["supply"], t["createdAt"]]),
}

kit.add_writes(app, SECURITIES, _client, _done)
kit.add_reads(app, SECURITIES, _client, tables=TABLES)
kit.add_writes(cash_app, CASH, _client, _done)
kit.add_reads(cash_app, CASH, _client, tables=TABLES)
for group, name, read in ((investor_app, "show", "investor"), (investor_app, "list", "investors"),
                          (dividend_app, "list", "dividends_listed")):
    group.command(name)(kit.read_command(READS[read], _client, TABLES[read]))
for name, write in (("declare", "declare_dividend"), ("distribute", "distribute_dividend"),
                    ("claim", "claim_dividend")):
    dividend_app.command(name)(kit.write_command(WRITES[write], _client, _done))


# --- cash ------------------------------------------------------------------------------------
@cash_app.command("approve")
@kit.with_signing
def cash_approve(currency: str = typer.Argument(..., help="ISO 4217 code."),
                 amount: int | None = typer.Option(
                     None, "--amount", help="At most this much (default: unlimited)."),
                 *, signing: kit.Signing) -> None:
    """Let the settlement contract lock this account's cash for its orders and trades."""
    _send(signing, f"the settlement contract may lock {amount if amount is not None else 'any'} "
          f"{currency.upper()}", "approve", currency, UNLIMITED if amount is None else amount)


@cash_app.command("balances")
@kit.with_read_options
def cash_balances(account: str | None = typer.Argument(
                      None, help="An account (default: every holder of --currency)."),
                  currency: str | None = typer.Option(None, "--currency", help="ISO 4217."),
                  *, opts: kit.Signing) -> None:
    """An account's cash, or every holder of a currency."""
    read = _client(opts.rpc, opts.dir).read
    if account is not None:
        rows = read.cash_balances(kit.party(account, opts, "account"))
        if currency is not None:
            rows = [r for r in rows if r["currency"] == currency.upper()]
    elif currency is not None:
        token = known(read.cash_token(currency.upper()), f"no {currency.upper()} cash token")
        rows = [h | {"currency": token["currency"]} for h in token["holders"]]
    else:
        raise ConfigError("give an account or --currency")
    opts.show(rows, lambda: _positions("Cash", rows, kit.namer(opts.dir), "currency"))


# --- instruments and eligibility -------------------------------------------------------------
@app.command("issue")
@kit.with_signing
def issue(isin: str = IsinArg,
          name: str = typer.Option(..., "--name", help="The instrument's name."),
          supply: int = typer.Option(..., "--supply", help="Units issued to --issuer.",
                                     parser=kit.POSITIVE),
          currency: str = typer.Option(..., "--currency", help="The cash token it trades in."),
          doc: Path | None = typer.Option(None, "--doc", help="The document (hashed here)."),
          doc_hash: str | None = typer.Option(None, "--doc-hash", help="Or its SHA-256, 0x…"),
          issuer: str | None = typer.Option(None, "--issuer",
                                            help="Receives the supply (default: --from)."),
          cycle: int = typer.Option(0, "--cycle", help="Settlement cycle in blocks (0: T+0)."),
          *, signing: kit.Signing) -> None:
    """An issuer agent issues an instrument (ISIN check digit verified)."""
    kit.one_of(doc, doc_hash, "give --doc FILE or --doc-hash 0x…")
    raw = sha256_of(doc) if doc is not None else hash_bytes(doc_hash, "--doc-hash")
    _send(signing, f"{_isin(isin)} issued", "issue", _isin(isin), name, supply,
          currency=currency, document_hash_=raw, cycle=cycle,
          issuer=kit.account(issuer, signing.dir, "--issuer", signing.rpc))


@app.command("jurisdictions")
@kit.with_signing
def jurisdictions(isin: str = IsinArg,
                  allowed: list[str] = typer.Argument(
                      None, help="ISO 3166 codes that may hold it (none: any)."),
                  *, signing: kit.Signing) -> None:
    """Set the jurisdictions whose investors may receive the instrument."""
    _send(signing, f"{_isin(isin)} jurisdictions set", "set_jurisdictions", _isin(isin),
          list(allowed or []))


@investor_app.command("set")
@kit.with_signing
def investor_set(account: str = typer.Argument(..., help="Account or member name."),
                 kyc_expiry: int | None = typer.Option(None, "--kyc-expiry",
                                                       help="KYC valid below this height."),
                 kyc_blocks: int | None = typer.Option(None, "--kyc-blocks",
                                                       help="Or: valid this many blocks."),
                 jurisdiction: str = typer.Option(..., "--jurisdiction", help="e.g. CN."),
                 frozen: bool = typer.Option(False, "--frozen", help="Freeze it."),
                 *, signing: kit.Signing) -> None:
    """A custodian registers or updates an investor's eligibility."""
    kit.one_of(kyc_expiry, kyc_blocks, "give --kyc-expiry HEIGHT or --kyc-blocks N")
    client = _client(signing.rpc, signing.dir)
    expiry = kit.height(client, kyc_expiry, kyc_blocks, option="--kyc-blocks")
    investor = kit.party(account, signing, "account")
    _done(client.set_investor(signing.signer(), investor, kyc_expiry=expiry,
                              jurisdiction=jurisdiction, frozen=frozen), signing.json_out,
          f"{kit.namer(signing.dir)(investor)}: KYC until height {expiry}, {jurisdiction.upper()}"
          f"{', frozen' if frozen else ''}")


@app.command("check")
@kit.with_read_options
def check(isin: str = IsinArg, src: str = typer.Argument(..., help="From: account or member."),
          dest: str = typer.Argument(..., help="To: account or member."),
          amount: int = typer.Argument(..., help="Units.", parser=kit.POSITIVE), *,
          opts: kit.Signing) -> None:
    """Would a transfer pass? detectTransferRestriction's code and message (exit 1 when
    restricted, with or without --json)."""
    out = _client(opts.rpc, opts.dir).read.restriction(
        _isin(isin), kit.party(src, opts, "from"), kit.party(dest, opts, "to"), amount)
    opts.show(out, lambda: kit.console.print(f"code {out['code']}: {out['message']}"))
    if out["code"]:
        raise typer.Exit(1)


# --- orders, settlement and bilateral trades -------------------------------------------------
@app.command("order")
@kit.with_signing
def order(side: str = typer.Argument(..., help="buy or sell."), isin: str = IsinArg,
          quantity: int = typer.Argument(..., help="Units.", parser=kit.POSITIVE),
          price: int = typer.Option(..., "--price", help="Limit: cash units per unit.",
                                    parser=kit.POSITIVE),
          expiry: int = typer.Option(0, "--expiry", help="Expires at this height (0: never)."),
          expires_in: int | None = typer.Option(None, "--expires-in",
                                                help="Or: expires in this many blocks."),
          *, signing: kit.Signing) -> None:
    """Place a limit order: it locks what it delivers, matches, and the rest rests."""
    side_number(side)  # buy or sell, refused before the signer and the node are asked
    client = _client(signing.rpc, signing.dir)
    expires = kit.height(client, expiry, expires_in, option="--expires-in")  # before the key
    _done(client.place_order(signing.signer(), _isin(isin), side, quantity, price, expires),
          signing.json_out, f"{side} {quantity} {_isin(isin)} at {price}")


@app.command("settle-due")
@kit.with_signing
def settle_due(isin: str = IsinArg, *, signing: kit.Signing) -> None:
    """Settle every due pending trade of an instrument; expire those past their deadline."""
    done = _client(signing.rpc, signing.dir).settle_due(signing.signer(), _isin(isin))
    signing.show([{k: v for k, v in d.items() if k != "events"} for d in done], lambda: kit.table(
        f"Due trades of {_isin(isin)} ({len(done)})", ["trade", "action", "outcome"],
        [[d["trade"], d["action"], d.get("refused") or f"block {d['block']}"] for d in done]))


@app.command("propose")
@kit.with_signing
def propose(isin: str = IsinArg,
            quantity: int = typer.Argument(..., help="Units.", parser=kit.POSITIVE),
            price: int = typer.Option(..., "--price", help="Cash units per unit.",
                                      parser=kit.POSITIVE),
            side: str = typer.Option(..., "--side", help="Your side: buy or sell."),
            with_: str = typer.Option(..., "--with", help="The counterparty."),
            deadline: int | None = typer.Option(None, "--deadline", help="Accept before."),
            within: int | None = typer.Option(None, "--within", help="Or: blocks from now."),
            *, signing: kit.Signing) -> None:
    """Propose a bilateral trade; your leg is locked until accepted, cancelled or expired."""
    kit.one_of(deadline, within, "give --deadline HEIGHT or --within BLOCKS")
    client = _client(signing.rpc, signing.dir)
    until = kit.height(client, deadline, within, option="--within")  # before the key
    _done(client.propose(signing.signer(), _isin(isin), kit.party(with_, signing, "--with"), side,
                         quantity, price, until),
          signing.json_out, f"proposed to {side} {quantity} {_isin(isin)} at {price}")


# --- holdings, dividends and histories -------------------------------------------------------
@app.command("holdings")
@kit.with_read_options
def holdings(account: str | None = typer.Argument(None, help="Account or member name."),
             isin: str | None = typer.Option(None, "--isin", help="Holders of an instrument."),
             at: int | None = typer.Option(None, "--at", help="At the end of this height."),
             *, opts: kit.Signing) -> None:
    """An account's holdings, or an instrument's holders (now, or --at a record height)."""
    if account is None and isin is None:
        raise ConfigError("give an account or --isin")
    client = _client(opts.rpc, opts.dir)
    kit.past_height(client, at, "--at")  # not today's holdings under a future height
    read = client.read
    rows: list[dict[str, Any]]
    if account is None:
        code = _isin(str(isin))
        rows = read.holders(code) if at is None else read.holders_at(code, at)
    else:
        holder = kit.party(account, opts, "account")
        isins = [_isin(isin)] if isin else None
        if at is None:
            rows = [h for h in read.holdings(holder) if not isins or h["isin"] in isins]
        else:
            rows = [{"isin": i, "account": holder, "balance": b, "height": at}
                    for i in isins or read.isins() if (b := read.balance_at(i, holder, at))]
    show = kit.namer(opts.dir)
    columns = ["isin", "account", "balance", *(["locked", "free"] if at is None else [])]
    opts.show(rows, lambda: kit.table(
        "Holdings" if at is None else f"Holdings at height {at}", columns,
        [[show(r[c]) if c == "account" else r[c] for c in columns] for r in rows]))


@dividend_app.command("show")
@kit.with_read_options
def dividend_show(dividend_id: int = typer.Argument(..., help="The id."), *,
                  opts: kit.Signing) -> None:
    """One dividend with each record-date holder's entitlement."""
    read = _client(opts.rpc, opts.dir).read
    d = known(read.dividend(dividend_id), f"no dividend {dividend_id}")
    d["holders"] = [read.dividend_of(dividend_id, h["account"])
                    for h in read.holders_at(d["isin"], d["recordHeight"])]
    show = kit.namer(opts.dir)
    opts.show(d, lambda: kit.table(
        f"Dividend {d['id']} on {d['isin']}: {d['perShare']} {d['currency']} per unit held at "
        f"height {d['recordHeight']} ({d['state']}, {d['paid']} of {d['total']} paid)",
        ["holder", "units at record", "amount", "paid"],
        [[show(h["account"]), h["shares"], h["amount"], "yes" if h["paid"] else "no"]
         for h in d["holders"]]))


@app.command("history")
@kit.with_read_options
def history(kind: str = typer.Argument(..., help="order, trade, proposal, dividend, "
                                                 "instrument or investor."),
            object_id: str = typer.Argument(..., help="Its id, ISIN or account."), *,
            opts: kit.Signing) -> None:
    """Every state change of one object, with who made it and why."""
    kinds = ("order", "trade", "proposal", "dividend", "instrument", "investor")
    if kind not in kinds:
        raise ConfigError(f"kind must be one of {', '.join(kinds)}")
    if kind not in ("instrument", "investor") and not object_id.isdigit():
        raise ConfigError(f"a {kind} id is a number, not {object_id!r}")
    ref = (kit.party(object_id, opts, "account") if kind == "investor"
           else _isin(object_id) if kind == "instrument" else int(object_id))
    found = _client(opts.rpc, opts.dir).history(kind, ref)
    shown = [h | {"from": _state(kind, h["from"]), "to": _state(kind, h["to"])} for h in found]
    opts.show(found, lambda: kit.history_table(f"History of {kind} {object_id}", shown,
                                               kit.namer(opts.dir)))
