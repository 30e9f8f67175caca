"""`consortium securities …`: cash tokens, instruments, eligibility, the order book, bilateral
trades, settlement, forced transfers and dividends.

Accounts (--to, --with, filters, arguments) are 0x addresses or member names (of the local
network in --dir, else of the chain's member registry); --from signs. Every list or show
command takes --json. `check` exits 1 when the transfer is restricted, with or without --json.

    consortium securities cash create CNY --name "Bank A digital CNY" --from "Bank A"
    consortium securities cash mint CNY 1000000 --to "Alice Fund" --from "Bank A"
    consortium securities cash approve CNY --from "Alice Fund"     settlement may lock cash
    consortium securities cash tokens / cash balances [ACCOUNT]
    consortium securities investor set ACCOUNT --kyc-blocks 100000 --jurisdiction CN
                                   --from CUSTODIAN                  (investor show / list)
    consortium securities issue US0378331005 --name "Apple Inc." --supply 1000
                                --currency CNY --doc prospectus.pdf --from AGENT
    consortium securities order sell US0378331005 10 --price 101 --from "Alice Fund"
    consortium securities order buy US0378331005 4 --price 101 --from "Bob Capital"
    consortium securities book US0378331005            the depth table
    consortium securities cancel 3 / orders / trades / holdings [ACCOUNT] [--isin --at H]
    consortium securities settle 7 / expire-trade 7 / settle-due ISIN
    consortium securities propose ISIN 10 --price 100 --side sell --with BUYER --within 20
    consortium securities accept 1 / decline 1 / expire-proposal 1 / bilateral
    consortium securities transfer ISIN TO 5 / check ISIN FROM TO 5
    consortium securities force-transfer ISIN FROM TO 5 --reason … --from REGULATOR
    consortium securities freeze ACCOUNT --reason … / unfreeze / forced-transfers
    consortium securities dividend declare ISIN --record-height H --currency CNY
                                   --per-share 3 --from AGENT
    consortium securities dividend distribute 1 / claim 1 / list / show 1
    consortium securities pause ISIN / unpause ISIN / mint / redeem / set-cycle / history
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
    print_json,
    table,
    with_signing,
)
from consortium.cli.services import members, required_account
from consortium.errors import ConfigError

app = typer.Typer(help="Securities trading and settlement (cash tokens, order books, DvP).",
                  no_args_is_help=True)
cash_app = typer.Typer(help="Cash tokens: tokenised deposits that settle the cash leg.",
                       no_args_is_help=True)
investor_app = typer.Typer(help="The investor eligibility registry (custodians).",
                           no_args_is_help=True)
dividend_app = typer.Typer(help="Cash dividends on a record-date snapshot.",
                           no_args_is_help=True)
app.add_typer(cash_app, name="cash")
app.add_typer(investor_app, name="investor")
app.add_typer(dividend_app, name="dividend")

IsinArg = typer.Argument(..., help="The instrument's ISIN, e.g. US0378331005.")
IdArg = typer.Argument(..., help="The id.")


# --- helpers ---------------------------------------------------------------------------------


class Ctx:
    """What a command needs: the client and member names (the local network's in --dir,
    else the chain's member registry)."""

    def __init__(self, rpc: str | None, dir: Path) -> None:
        from consortium.apps.securities.client import SecuritiesClient

        self.dir = dir
        self.rpc = rpc
        self.client = SecuritiesClient(endpoint(rpc, dir))
        self.read = self.client.read
        self._names: dict[str, str] | None = None

    def members(self) -> dict[str, str]:
        """Member name -> account, from the local network in --dir (empty without one)."""
        if self._names is None:
            self._names = members(self.dir)
        return self._names

    def account(self, value: str, what: str) -> str:
        return required_account(value, self.dir, what, self.rpc)

    def maybe(self, value: str | None, what: str) -> str | None:
        return None if value is None else self.account(value, what)

    def show(self, address: str) -> str:
        names = {a: n for n, a in self.members().items()}
        return names.get(address, address)


def _done(out: dict[str, Any], json_out: bool, what: str) -> None:
    if json_out:
        print_json({k: v for k, v in out.items() if k != "events"})
        return
    extra = []
    if "orderId" in out:
        extra.append(f"order {out['orderId']} {out.get('orderState', '')}".rstrip())
    for t in out.get("trades", []):
        extra.append(f"trade {t['id']}: {t['quantity']} at {t['price']} {t['state']}")
    for key, label in (("proposalId", "proposal"), ("dividendId", "dividend"),
                       ("forcedTransferId", "forced transfer")):
        if key in out:
            extra.append(f"{label} {out[key]}")
    detail = f" — {'; '.join(extra)}" if extra else ""
    console.print(f"{what}{detail} (block {out['block']}, tx {out['txHash']})")


def _write(signing: Signing, what: str, method: str, *args: Any, **kwargs: Any) -> None:
    """Sign and send `client.method(signer, *args, **kwargs)`; print `what` it did."""
    ctx = Ctx(signing.rpc, signing.dir)
    account = signing.signer()
    _done(getattr(ctx.client, method)(account, *args, **kwargs), signing.json_out, what)


def _isin(value: str) -> str:
    from consortium.apps.securities.model import isin_problem

    isin = value.strip().upper()
    problem = isin_problem(isin)
    if problem:
        raise ConfigError(problem)
    return isin


# --- cash tokens ---------------------------------------------------------------------------


@cash_app.command("create")
@with_signing
def cash_create(currency: str = typer.Argument(..., help="ISO 4217 code, e.g. CNY."),
                name: str = typer.Option("", "--name", help="The token's name."),
                *, signing: Signing) -> None:
    """A cash bank issues the tokenised deposit of a currency (one issuer per currency)."""
    _write(signing, f"{currency.upper()} cash token created", "create_token", currency, name)


@cash_app.command("mint")
@with_signing
def cash_mint(currency: str = typer.Argument(..., help="ISO 4217 code."),
              amount: int = typer.Argument(..., help="Smallest units."),
              to: str = typer.Option(..., "--to", help="Account or member name."),
              *, signing: Signing) -> None:
    """The issuing bank mints cash to an account."""
    dest = Ctx(signing.rpc, signing.dir).account(to, "--to")
    _write(signing, f"minted {amount} {currency.upper()}", "mint_cash", currency, dest, amount)


@cash_app.command("burn")
@with_signing
def cash_burn(currency: str = typer.Argument(..., help="ISO 4217 code."),
              amount: int = typer.Argument(..., help="Smallest units."),
              *, signing: Signing) -> None:
    """The issuing bank burns cash from its own free balance."""
    _write(signing, f"burnt {amount} {currency.upper()}", "burn_cash", currency, amount)


@cash_app.command("transfer")
@with_signing
def cash_transfer(currency: str = typer.Argument(..., help="ISO 4217 code."),
                  to: str = typer.Argument(..., help="Account or member name."),
                  amount: int = typer.Argument(..., help="Smallest units."),
                  *, signing: Signing) -> None:
    """Transfer free cash."""
    dest = Ctx(signing.rpc, signing.dir).account(to, "recipient")
    _write(signing, f"transferred {amount} {currency.upper()}", "transfer_cash", currency, dest,
           amount)


@cash_app.command("approve")
@with_signing
def cash_approve(currency: str = typer.Argument(..., help="ISO 4217 code."),
                 amount: int | None = typer.Option(
                     None, "--amount", help="At most this much (default: unlimited)."),
                 *, signing: Signing) -> None:
    """Let the settlement contract lock this account's cash for its orders and trades."""
    from consortium.apps.securities.model import UNLIMITED

    _write(signing, f"the settlement contract may lock {amount if amount is not None else 'any'} "
           f"{currency.upper()}", "approve", currency,
           UNLIMITED if amount is None else amount)


@cash_app.command("tokens")
def cash_tokens(dir: Path = DirOption, rpc: str | None = RpcOption,
                json_out: bool = JsonOption) -> None:
    """Every cash token."""
    ctx = Ctx(rpc, dir)
    tokens = ctx.read.cash_tokens()
    if json_out:
        print_json(tokens)
        return
    table(f"Cash tokens ({len(tokens)})", ["currency", "name", "issuer", "supply", "since"],
          [[t["currency"], t["name"], ctx.show(t["issuer"]), t["supply"], t["createdAt"]]
           for t in tokens])


@cash_app.command("balances")
def cash_balances(account: str | None = typer.Argument(
                      None, help="An account (default: every holder of --currency)."),
                  currency: str | None = typer.Option(None, "--currency", help="ISO 4217."),
                  dir: Path = DirOption, rpc: str | None = RpcOption,
                  json_out: bool = JsonOption) -> None:
    """An account's cash, or every holder of a currency."""
    ctx = Ctx(rpc, dir)
    if account is not None:
        rows = ctx.read.cash_balances(ctx.account(account, "account"))
        if currency is not None:
            rows = [r for r in rows if r["currency"] == currency.upper()]
    elif currency is not None:
        token = ctx.read.cash_token(currency.upper())
        if token is None:
            raise ConfigError(f"no {currency.upper()} cash token")
        rows = [h | {"currency": token["currency"]} for h in token["holders"]]
    else:
        raise ConfigError("give an account or --currency")
    if json_out:
        print_json(rows)
        return
    table("Cash", ["account", "currency", "balance", "locked", "free"],
          [[ctx.show(r["account"]), r["currency"], r["balance"], r["locked"], r["free"]]
           for r in rows])


# --- instruments -----------------------------------------------------------------------------


@app.command("issue")
@with_signing
def issue(isin: str = IsinArg,
          name: str = typer.Option(..., "--name", help="The instrument's name."),
          supply: int = typer.Option(..., "--supply", help="Units issued to --issuer."),
          currency: str = typer.Option(..., "--currency", help="The cash token it trades in."),
          doc: Path | None = typer.Option(None, "--doc", help="The document (hashed here)."),
          doc_hash: str | None = typer.Option(None, "--doc-hash", help="Or its SHA-256, 0x…"),
          issuer: str | None = typer.Option(None, "--issuer",
                                            help="Receives the supply (default: --from)."),
          cycle: int = typer.Option(0, "--cycle", help="Settlement cycle in blocks (0: T+0)."),
          *, signing: Signing) -> None:
    """An issuer agent issues an instrument (ISIN check digit verified)."""
    if (doc is None) == (doc_hash is None):
        raise ConfigError("give --doc FILE or --doc-hash 0x…")
    raw: bytes | None = None
    if doc_hash is not None:
        try:
            raw = bytes.fromhex(doc_hash.removeprefix("0x"))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ConfigError("--doc-hash must be 0x and 64 hex digits")
    document = None
    if doc is not None:
        try:
            document = doc.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read --doc {doc}: {exc}") from None
    ctx = Ctx(signing.rpc, signing.dir)
    _write(signing, f"{_isin(isin)} issued", "issue",
           _isin(isin), name, supply, currency=currency, document=document,
           document_hash_=raw, issuer=ctx.maybe(issuer, "--issuer"), cycle=cycle)


@app.command("instruments")
def instruments(dir: Path = DirOption, rpc: str | None = RpcOption,
                json_out: bool = JsonOption) -> None:
    """Every instrument."""
    ctx = Ctx(rpc, dir)
    found = ctx.read.instruments()
    if json_out:
        print_json(found)
        return
    table(f"Instruments ({len(found)})",
          ["isin", "name", "issuer", "supply", "currency", "settlement", "state"],
          [[i["isin"], i["name"], ctx.show(i["issuer"]), i["supply"], i["currency"],
            f"T+{i['settlementCycle']}", "paused" if i["paused"] else "trading"]
           for i in found])


@app.command("show")
def show(isin: str = IsinArg, dir: Path = DirOption, rpc: str | None = RpcOption,
         json_out: bool = JsonOption) -> None:
    """One instrument with its holders."""
    ctx = Ctx(rpc, dir)
    inst = ctx.read.instrument(_isin(isin))
    if inst is None:
        raise ConfigError(f"no instrument {isin}")
    inst["holders"] = ctx.read.holders(inst["isin"])
    if json_out:
        print_json(inst)
        return
    table(f"Instrument {inst['isin']}", ["field", "value"], [
        ["name", inst["name"]], ["issuer agent", ctx.show(inst["agent"])],
        ["issuer", ctx.show(inst["issuer"])], ["supply", inst["supply"]],
        ["currency", inst["currency"]], ["document", inst["documentHash"]],
        ["settlement", f"T+{inst['settlementCycle']}, window {inst['settlementWindow']}"],
        ["state", "paused" if inst["paused"] else "trading"],
        ["jurisdictions", ", ".join(inst["jurisdictions"]) or "any"],
        ["issued at height", inst["createdAt"]],
    ])
    table("Holders", ["account", "balance", "locked", "free"],
          [[ctx.show(h["account"]), h["balance"], h["locked"], h["free"]]
           for h in inst["holders"]])


@app.command("mint")
@with_signing
def mint(isin: str = IsinArg, amount: int = typer.Argument(..., help="Units."),
         to: str = typer.Option(..., "--to", help="Account or member name."),
         *, signing: Signing) -> None:
    """The instrument's issuer agent issues more units."""
    dest = Ctx(signing.rpc, signing.dir).account(to, "--to")
    _write(signing, f"minted {amount} {_isin(isin)}", "mint", _isin(isin), dest, amount)


@app.command("redeem")
@with_signing
def redeem(isin: str = IsinArg, amount: int = typer.Argument(..., help="Units."),
           holder: str = typer.Option(..., "--holder", help="Account or member name."),
           *, signing: Signing) -> None:
    """The instrument's issuer agent redeems (burns) a holder's free units."""
    who = Ctx(signing.rpc, signing.dir).account(holder, "--holder")
    _write(signing, f"redeemed {amount} {_isin(isin)}", "redeem", _isin(isin), who, amount)


@app.command("pause")
@with_signing
def pause(isin: str = IsinArg, reason: str = typer.Option("", "--reason", help="Why."),
          *, signing: Signing) -> None:
    """Stop trading and transfers (the issuer agent or the regulator)."""
    _write(signing, f"{_isin(isin)} paused", "pause", _isin(isin), reason)


@app.command("unpause")
@with_signing
def unpause(isin: str = IsinArg, reason: str = typer.Option("", "--reason", help="Why."),
            *, signing: Signing) -> None:
    """Resume trading (the issuer agent or the regulator)."""
    _write(signing, f"{_isin(isin)} trading again", "unpause", _isin(isin), reason)


@app.command("set-cycle")
@with_signing
def set_cycle(isin: str = IsinArg,
              cycle: int = typer.Argument(..., help="Blocks from trade to settlement (0: T+0)."),
              window: int = typer.Option(100, "--window",
                                         help="Blocks after the settlement height before an "
                                              "unsettled trade expires."),
              *, signing: Signing) -> None:
    """Set the settlement cycle of new trades (issuer agent or market operator)."""
    _write(signing, f"{_isin(isin)} settles T+{cycle}", "set_settlement_cycle", _isin(isin),
           cycle, window)


@app.command("jurisdictions")
@with_signing
def jurisdictions(isin: str = IsinArg,
                  allowed: list[str] = typer.Argument(
                      None, help="ISO 3166 codes that may hold it (none: any)."),
                  *, signing: Signing) -> None:
    """Set the jurisdictions whose investors may receive the instrument."""
    _write(signing, f"{_isin(isin)} jurisdictions set", "set_jurisdictions", _isin(isin),
           list(allowed or []))


# --- eligibility -----------------------------------------------------------------------------


@investor_app.command("set")
@with_signing
def investor_set(account: str = typer.Argument(..., help="Account or member name."),
                 kyc_expiry: int | None = typer.Option(None, "--kyc-expiry",
                                                       help="KYC valid below this height."),
                 kyc_blocks: int | None = typer.Option(None, "--kyc-blocks",
                                                       help="Or: valid this many blocks."),
                 jurisdiction: str = typer.Option(..., "--jurisdiction", help="e.g. CN."),
                 frozen: bool = typer.Option(False, "--frozen", help="Freeze it."),
                 *, signing: Signing) -> None:
    """A custodian registers or updates an investor's eligibility."""
    if (kyc_expiry is None) == (kyc_blocks is None):
        raise ConfigError("give --kyc-expiry HEIGHT or --kyc-blocks N")
    ctx = Ctx(signing.rpc, signing.dir)
    expiry = kyc_expiry if kyc_expiry is not None else ctx.client.height() + int(kyc_blocks or 0)
    who = ctx.account(account, "account")
    _done(ctx.client.set_investor(signing.signer(), who, kyc_expiry=expiry,
                                  jurisdiction=jurisdiction, frozen=frozen),
          signing.json_out, f"{ctx.show(who)}: KYC until height {expiry}, {jurisdiction.upper()}"
                    f"{', frozen' if frozen else ''}")


def _investor_rows(ctx: Ctx, found: list[dict[str, Any]]) -> list[list[Any]]:
    return [[ctx.show(v["account"]), ctx.show(v["custodian"]) if v["registered"] else None,
             v["kycExpiry"], v["jurisdiction"] or None,
             "frozen" if v["frozen"] or v["regulatorFrozen"] else "-",
             "yes" if v["eligible"] else f"no ({v['restriction']}: {v['reason']})"]
            for v in found]


INVESTOR_COLUMNS = ["account", "custodian", "KYC until", "jurisdiction", "frozen", "eligible"]


@investor_app.command("show")
def investor_show(account: str = typer.Argument(..., help="Account or member name."),
                  dir: Path = DirOption, rpc: str | None = RpcOption,
                  json_out: bool = JsonOption) -> None:
    """One investor's eligibility."""
    ctx = Ctx(rpc, dir)
    v = ctx.read.investor(ctx.account(account, "account"))
    if json_out:
        print_json(v)
        return
    table("Investor", INVESTOR_COLUMNS, _investor_rows(ctx, [v]))


@investor_app.command("list")
def investor_list(dir: Path = DirOption, rpc: str | None = RpcOption,
                  json_out: bool = JsonOption) -> None:
    """The eligibility registry."""
    ctx = Ctx(rpc, dir)
    found = ctx.read.investors()
    if json_out:
        print_json(found)
        return
    table(f"Investors ({len(found)})", INVESTOR_COLUMNS, _investor_rows(ctx, found))


@app.command("freeze")
@with_signing
def freeze(account: str = typer.Argument(..., help="Account or member name."),
           reason: str = ReasonOption,
           *, signing: Signing) -> None:
    """The regulator freezes an investor: no order, trade or transfer until unfrozen."""
    who = Ctx(signing.rpc, signing.dir).account(account, "account")
    _write(signing, f"{account} frozen", "freeze_investor", who, reason)


@app.command("unfreeze")
@with_signing
def unfreeze(account: str = typer.Argument(..., help="Account or member name."),
             reason: str = ReasonOption,
             *, signing: Signing) -> None:
    """The regulator lifts its freeze."""
    who = Ctx(signing.rpc, signing.dir).account(account, "account")
    _write(signing, f"{account} unfrozen", "unfreeze_investor", who, reason)


# --- transfers -------------------------------------------------------------------------------


@app.command("transfer")
@with_signing
def transfer(isin: str = IsinArg, to: str = typer.Argument(..., help="Account or member."),
             amount: int = typer.Argument(..., help="Units."),
             *, signing: Signing) -> None:
    """Transfer free units (refused with an ERC-1404 reason code when restricted)."""
    dest = Ctx(signing.rpc, signing.dir).account(to, "recipient")
    _write(signing, f"transferred {amount} {_isin(isin)}", "transfer", _isin(isin), dest, amount)


@app.command("check")
def check(isin: str = IsinArg, src: str = typer.Argument(..., help="From: account or member."),
          dest: str = typer.Argument(..., help="To: account or member."),
          amount: int = typer.Argument(..., help="Units."),
          dir: Path = DirOption, rpc: str | None = RpcOption,
          json_out: bool = JsonOption) -> None:
    """Would a transfer pass? detectTransferRestriction's code and message (exit 1 when
    restricted, with or without --json)."""
    ctx = Ctx(rpc, dir)
    out = ctx.read.restriction(_isin(isin), ctx.account(src, "from"), ctx.account(dest, "to"),
                               amount)
    if json_out:
        print_json(out)
    else:
        console.print(f"code {out['code']}: {out['message']}")
    if out["code"]:
        raise typer.Exit(1)


@app.command("force-transfer")
@with_signing
def force_transfer(isin: str = IsinArg,
                   src: str = typer.Argument(..., help="From: account or member."),
                   dest: str = typer.Argument(..., help="To: account or member."),
                   amount: int = typer.Argument(..., help="Units."),
                   reason: str = typer.Option(..., "--reason", help="Why (logged)."),
                   *, signing: Signing) -> None:
    """The regulator moves units without the eligibility check; the reason is logged."""
    ctx = Ctx(signing.rpc, signing.dir)
    _write(signing, f"forced transfer of {amount}",
           "force_transfer", _isin(isin), ctx.account(src, "from"), ctx.account(dest, "to"),
           amount, reason)


@app.command("forced-transfers")
def forced_transfers(dir: Path = DirOption, rpc: str | None = RpcOption,
                     json_out: bool = JsonOption) -> None:
    """The regulator's forced transfers, with their reasons."""
    ctx = Ctx(rpc, dir)
    found = ctx.read.forced_transfers()
    if json_out:
        print_json(found)
        return
    table(f"Forced transfers ({len(found)})",
          ["id", "isin", "from", "to", "amount", "regulator", "height", "reason"],
          [[f["id"], f["isin"], ctx.show(f["from"]), ctx.show(f["to"]), f["amount"],
            ctx.show(f["regulator"]), f["height"], f["reason"]] for f in found])


# --- the order book --------------------------------------------------------------------------


@app.command("order")
@with_signing
def order(side: str = typer.Argument(..., help="buy or sell."), isin: str = IsinArg,
          quantity: int = typer.Argument(..., help="Units."),
          price: int = typer.Option(..., "--price", help="Limit: cash units per unit."),
          expiry: int = typer.Option(0, "--expiry", help="Expires at this height (0: never)."),
          expires_in: int | None = typer.Option(None, "--expires-in",
                                                help="Or: expires in this many blocks."),
          *, signing: Signing) -> None:
    """Place a limit order: it locks what it delivers, matches, and the rest rests."""
    if side not in ("buy", "sell"):
        raise ConfigError(f"side must be buy or sell, not {side!r}")
    ctx = Ctx(signing.rpc, signing.dir)
    if expires_in is not None:
        expiry = ctx.client.height() + expires_in
    _done(ctx.client.place_order(signing.signer(), _isin(isin), side,
                                 quantity, price, expiry),
          signing.json_out, f"{side} {quantity} {_isin(isin)} at {price}")


@app.command("cancel")
@with_signing
def cancel(order_id: int = IdArg, *, signing: Signing) -> None:
    """Cancel an open order (its owner, a market operator or the regulator)."""
    _write(signing, f"order {order_id} cancelled", "cancel_order", order_id)


@app.command("expire-order")
@with_signing
def expire_order(order_id: int = IdArg, *, signing: Signing) -> None:
    """Close an order past its expiry height, releasing its lock (anyone)."""
    _write(signing, f"order {order_id} expired", "expire_order", order_id)


@app.command("book")
def book(isin: str = IsinArg, levels: int = typer.Option(10, "--levels", help="Price levels."),
         dir: Path = DirOption, rpc: str | None = RpcOption,
         json_out: bool = JsonOption) -> None:
    """The order book's depth: bids and asks by price level."""
    ctx = Ctx(rpc, dir)
    if ctx.read.instrument(_isin(isin)) is None:
        raise ConfigError(f"no instrument {isin}")
    b = ctx.read.book(_isin(isin), levels)
    if json_out:
        print_json(b)
        return
    rows = []
    for i in range(max(len(b["bids"]), len(b["asks"]))):
        bid = b["bids"][i] if i < len(b["bids"]) else None
        ask = b["asks"][i] if i < len(b["asks"]) else None
        rows.append([bid and bid["orders"], bid and bid["quantity"], bid and bid["price"],
                     ask and ask["price"], ask and ask["quantity"], ask and ask["orders"]])
    state = " (paused)" if b["paused"] else ""
    table(f"{b['isin']} order book, prices in {b['currency']}{state}",
          ["orders", "bid qty", "bid", "ask", "ask qty", "orders"], rows)


@app.command("orders")
def orders(account: str | None = typer.Option(None, "--account", help="Account or member."),
           isin: str | None = typer.Option(None, "--isin", help="An instrument."),
           state: str | None = typer.Option(None, "--state",
                                            help="open, filled, cancelled or expired."),
           dir: Path = DirOption, rpc: str | None = RpcOption,
           json_out: bool = JsonOption) -> None:
    """Orders matching every filter given."""
    ctx = Ctx(rpc, dir)
    try:
        found = ctx.read.orders(account=ctx.maybe(account, "--account"),
                                isin=isin and _isin(isin), state=state)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if json_out:
        print_json(found)
        return
    table(f"Orders ({len(found)})",
          ["id", "isin", "owner", "side", "price", "qty", "filled", "left", "expiry", "state"],
          [[o["id"], o["isin"], ctx.show(o["owner"]), o["side"], o["price"], o["quantity"],
            o["filled"], o["remaining"], o["expiry"] or None, o["state"]] for o in found])


# --- trades and settlement -----------------------------------------------------------------


@app.command("trades")
def trades(isin: str | None = typer.Option(None, "--isin", help="An instrument."),
           account: str | None = typer.Option(None, "--account", help="Account or member."),
           state: str | None = typer.Option(None, "--state", help="pending, settled, expired."),
           dir: Path = DirOption, rpc: str | None = RpcOption,
           json_out: bool = JsonOption) -> None:
    """Trades matching every filter given."""
    ctx = Ctx(rpc, dir)
    try:
        found = ctx.read.trades(isin=isin and _isin(isin),
                                account=ctx.maybe(account, "--account"), state=state)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if json_out:
        print_json(found)
        return
    table(f"Trades ({len(found)})",
          ["id", "isin", "buyer", "seller", "qty", "price", "amount", "traded", "settles",
           "state"],
          [[t["id"], t["isin"], ctx.show(t["buyer"]), ctx.show(t["seller"]), t["quantity"],
            t["price"], t["amount"], t["tradedAt"], t["settleHeight"], t["state"]]
           for t in found])


@app.command("settle")
@with_signing
def settle(trade_id: int = IdArg, *, signing: Signing) -> None:
    """Settle a pending trade at or after its settlement height (anyone)."""
    _write(signing, f"trade {trade_id} settled", "settle", trade_id)


@app.command("expire-trade")
@with_signing
def expire_trade(trade_id: int = IdArg, *, signing: Signing) -> None:
    """Expire an unsettled trade past its deadline: both locks are released (anyone)."""
    _write(signing, f"trade {trade_id} expired", "expire_trade", trade_id)


@app.command("settle-due")
@with_signing
def settle_due(isin: str = IsinArg, *, signing: Signing) -> None:
    """Settle every due pending trade of an instrument; expire those past their deadline."""
    ctx = Ctx(signing.rpc, signing.dir)
    done = ctx.client.settle_due(signing.signer(), _isin(isin))
    if signing.json_out:
        print_json([{k: v for k, v in d.items() if k != "events"} for d in done])
        return
    table(f"Due trades of {_isin(isin)} ({len(done)})", ["trade", "action", "outcome"],
          [[d["trade"], d["action"], d.get("refused") or f"block {d['block']}"] for d in done])


# --- bilateral trades ----------------------------------------------------------------------


@app.command("propose")
@with_signing
def propose(isin: str = IsinArg, quantity: int = typer.Argument(..., help="Units."),
            price: int = typer.Option(..., "--price", help="Cash units per unit."),
            side: str = typer.Option(..., "--side", help="Your side: buy or sell."),
            with_: str = typer.Option(..., "--with", help="The counterparty."),
            deadline: int | None = typer.Option(None, "--deadline", help="Accept before."),
            within: int | None = typer.Option(None, "--within", help="Or: blocks from now."),
            *, signing: Signing) -> None:
    """Propose a bilateral trade; your leg is locked until accepted, cancelled or expired."""
    if (deadline is None) == (within is None):
        raise ConfigError("give --deadline HEIGHT or --within BLOCKS")
    ctx = Ctx(signing.rpc, signing.dir)
    if within is not None:
        deadline = ctx.client.height() + within
    _done(ctx.client.propose(signing.signer(), _isin(isin),
                             ctx.account(with_, "--with"), side, quantity, price,
                             int(deadline or 0)),
          signing.json_out, f"proposed to {side} {quantity} {_isin(isin)} at {price}")


@app.command("accept")
@with_signing
def accept(proposal_id: int = IdArg, *, signing: Signing) -> None:
    """The counterparty accepts: its leg is locked and the trade settles (T+0) or pends."""
    _write(signing, f"proposal {proposal_id} accepted", "accept", proposal_id)


@app.command("decline")
@with_signing
def decline(proposal_id: int = IdArg, *, signing: Signing) -> None:
    """Cancel (the proposer) or decline (the counterparty) an open proposal."""
    _write(signing, f"proposal {proposal_id} cancelled", "cancel_proposal", proposal_id)


@app.command("expire-proposal")
@with_signing
def expire_proposal(proposal_id: int = IdArg, *, signing: Signing) -> None:
    """Expire a proposal past its deadline, releasing the proposer's lock (anyone)."""
    _write(signing, f"proposal {proposal_id} expired", "expire_proposal", proposal_id)


@app.command("bilateral")
def bilateral(account: str | None = typer.Option(None, "--account", help="A party."),
              dir: Path = DirOption, rpc: str | None = RpcOption,
              json_out: bool = JsonOption) -> None:
    """Bilateral trade proposals."""
    ctx = Ctx(rpc, dir)
    found = ctx.read.proposals(account=ctx.maybe(account, "--account"))
    if json_out:
        print_json(found)
        return
    table(f"Bilateral trades ({len(found)})",
          ["id", "isin", "seller", "buyer", "qty", "price", "deadline", "state", "trade"],
          [[p["id"], p["isin"], ctx.show(p["seller"]), ctx.show(p["buyer"]), p["quantity"],
            p["price"], p["deadline"], p["state"], p["trade"] or None] for p in found])


# --- holdings --------------------------------------------------------------------------------


@app.command("holdings")
def holdings(account: str | None = typer.Argument(None, help="Account or member name."),
             isin: str | None = typer.Option(None, "--isin", help="Holders of an instrument."),
             at: int | None = typer.Option(None, "--at", help="At the end of this height."),
             dir: Path = DirOption, rpc: str | None = RpcOption,
             json_out: bool = JsonOption) -> None:
    """An account's holdings, or an instrument's holders (now, or --at a record height)."""
    ctx = Ctx(rpc, dir)
    if account is None and isin is None:
        raise ConfigError("give an account or --isin")
    rows: list[dict[str, Any]]
    if account is not None:
        who = ctx.account(account, "account")
        if at is not None:
            isins = [_isin(isin)] if isin else ctx.read.isins()
            rows = [{"isin": i, "account": who, "balance": ctx.read.balance_at(i, who, at),
                     "height": at} for i in isins]
            rows = [r for r in rows if r["balance"]]
        else:
            rows = [h for h in ctx.read.holdings(who) if not isin or h["isin"] == _isin(isin)]
    else:
        code = _isin(str(isin))
        rows = ctx.read.holders(code) if at is None else ctx.read.holders_at(code, at)
    if json_out:
        print_json(rows)
        return
    if at is not None:
        table(f"Holdings at height {at}", ["isin", "account", "balance"],
              [[r["isin"], ctx.show(r["account"]), r["balance"]] for r in rows])
        return
    table("Holdings", ["isin", "account", "balance", "locked", "free"],
          [[r["isin"], ctx.show(r["account"]), r["balance"], r["locked"], r["free"]]
           for r in rows])


# --- dividends -------------------------------------------------------------------------------


@dividend_app.command("declare")
@with_signing
def dividend_declare(isin: str = IsinArg,
                     record_height: int = typer.Option(..., "--record-height",
                                                       help="Holders at the end of this "
                                                            "(past) block are paid."),
                     currency: str = typer.Option(..., "--currency", help="The cash token."),
                     per_share: int = typer.Option(..., "--per-share",
                                                   help="Cash units per unit held."),
                     *, signing: Signing) -> None:
    """The issuer agent declares a cash dividend; the issuer's cash for it is locked."""
    _write(signing, "dividend declared", "declare_dividend",
           _isin(isin), record_height=record_height, currency=currency, per_share=per_share)


@dividend_app.command("distribute")
@with_signing
def dividend_distribute(dividend_id: int = IdArg,
                        max_holders: int = typer.Option(200, "--max", help="Holders per tx."),
                        *, signing: Signing) -> None:
    """Pay the record-date holders not yet paid (anyone; repeat until fully paid)."""
    _write(signing, f"dividend {dividend_id} distributed",
           "distribute_dividend", dividend_id, max_holders)


@dividend_app.command("claim")
@with_signing
def dividend_claim(dividend_id: int = IdArg, *, signing: Signing) -> None:
    """A record-date holder claims its dividend."""
    _write(signing, f"dividend {dividend_id} claimed", "claim_dividend", dividend_id)


@dividend_app.command("list")
def dividend_list(isin: str | None = typer.Option(None, "--isin", help="An instrument."),
                  dir: Path = DirOption, rpc: str | None = RpcOption,
                  json_out: bool = JsonOption) -> None:
    """Dividends."""
    ctx = Ctx(rpc, dir)
    found = ctx.read.dividends(isin and _isin(isin))
    if json_out:
        print_json(found)
        return
    table(f"Dividends ({len(found)})",
          ["id", "isin", "record height", "per share", "total", "paid", "state"],
          [[d["id"], d["isin"], d["recordHeight"], f"{d['perShare']} {d['currency']}",
            d["total"], d["paid"], d["state"]] for d in found])


@dividend_app.command("show")
def dividend_show(dividend_id: int = IdArg, dir: Path = DirOption, rpc: str | None = RpcOption,
                  json_out: bool = JsonOption) -> None:
    """One dividend with each record-date holder's entitlement."""
    ctx = Ctx(rpc, dir)
    d = ctx.read.dividend(dividend_id)
    if d is None:
        raise ConfigError(f"no dividend {dividend_id}")
    d["holders"] = [ctx.read.dividend_of(dividend_id, h["account"])
                    for h in ctx.read.holders_at(d["isin"], d["recordHeight"])]
    if json_out:
        print_json(d)
        return
    table(f"Dividend {d['id']} on {d['isin']}: {d['perShare']} {d['currency']} per unit held "
          f"at height {d['recordHeight']} ({d['state']}, {d['paid']} of {d['total']} paid)",
          ["holder", "units at record", "amount", "paid"],
          [[ctx.show(h["account"]), h["shares"], h["amount"], "yes" if h["paid"] else "no"]
           for h in d["holders"]])


# --- history ---------------------------------------------------------------------------------


@app.command("history")
def history(kind: str = typer.Argument(..., help="order, trade, proposal, dividend, "
                                                 "instrument or investor."),
            object_id: str = typer.Argument(..., help="Its id, ISIN or account."),
            dir: Path = DirOption, rpc: str | None = RpcOption,
            json_out: bool = JsonOption) -> None:
    """Every state change of one object, with who made it and why."""
    kinds = ("order", "trade", "proposal", "dividend", "instrument", "investor")
    if kind not in kinds:
        raise ConfigError(f"kind must be one of {', '.join(kinds)}")
    ctx = Ctx(rpc, dir)
    ref: int | str = object_id
    if kind == "investor":
        ref = ctx.account(object_id, "account")
    elif kind == "instrument":
        ref = _isin(object_id)
    else:
        try:
            ref = int(object_id)
        except ValueError:
            raise ConfigError(f"a {kind} id is a number, not {object_id!r}") from None
    found = ctx.client.history(kind, ref)
    if json_out:
        print_json(found)
        return
    table(f"History of {kind} {object_id}", ["block", "actor", "from", "to", "reason"],
          [[h["block"], ctx.show(h["actor"]), h["from"] or None, h["to"], h["reason"]]
           for h in found])
