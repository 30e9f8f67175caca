"""The securities service's JSON-RPC methods, read straight from its contracts (eth_call on
the ledger), in the shapes of `consortium.apps.securities.reader`.

    consortium_instruments                       every instrument
    consortium_instrument(isin)                  one, with its allowed jurisdictions, or null
    consortium_orderBook(isin[, levels])         {"bids": [{price, quantity, orders}], "asks"}
    consortium_order(id) / consortium_orders([filter])    filter: {"account", "isin",
                                                 "state", "side"} (each optional)
    consortium_trade(id) / consortium_trades([filter])    filter: {"account", "isin", "state"}
    consortium_holdings(account)                 an account's instruments
    consortium_holders(isin[, height])           holders now, or at the end of block `height`
    consortium_investor(account) / consortium_investors   the eligibility registry
    consortium_transferRestriction(isin, from, to, amount)   {"code", "message"} (ERC-1404)
    consortium_bilateralTrade(id) / consortium_bilateralTrades([account])
    consortium_dividend(id) / consortium_dividends([isin])
    consortium_forcedTransfers                   the regulator's logged forced transfers
    consortium_cashTokens / consortium_cashToken(currency) / consortium_cashBalances(account)

`SecuritiesMethods` is mixed into `JsonRpc`; its handlers register through `apps_rpc`, so they
join the method table with the other services' and run in the ledger worker thread.
"""

from __future__ import annotations

from typing import Any

from consortium.api.apps_rpc import apps_rpc
from consortium.api.encoding import Params
from consortium.api.rpc_error import InvalidParams
from consortium.api.service_reads import ledger_call
from consortium.apps.securities.model import (
    MAX_LEVELS,
    ORDER_STATES,
    TRADE_STATES,
    currency_problem,
    isin_problem,
)
from consortium.apps.securities.reader import SecuritiesReader
from consortium.ledger.types import LedgerReader

ORDER_FILTERS = ("account", "isin", "state", "side")
TRADE_FILTERS = ("account", "isin", "state")


def securities_reader(ledger: LedgerReader) -> SecuritiesReader:
    return SecuritiesReader(ledger_call(ledger))


def parse_isin(value: Any, where: str) -> str:
    if not isinstance(value, str) or isin_problem(value.strip().upper()):
        raise InvalidParams(f"{where}: expected an ISIN (e.g. US0378331005)")
    return value.strip().upper()


def parse_currency(value: Any, where: str) -> str:
    if not isinstance(value, str) or currency_problem(value.strip().upper()):
        raise InvalidParams(f"{where}: expected an ISO 4217 currency code (e.g. CNY)")
    return value.strip().upper()


def parse_account(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 42:
        raise InvalidParams(f"{where}: expected a 0x account address")
    try:
        int(value, 16)
    except ValueError:
        raise InvalidParams(f"{where}: expected a 0x account address") from None
    return value.lower()


def parse_count(value: Any, where: str) -> int:
    """A non-negative integer, as a JSON number or a decimal / 0x string."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value, 0) if isinstance(value, str) else int(value)
        if isinstance(value, float) or number < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidParams(f"{where}: expected a non-negative integer") from None
    return number


def parse_filter(value: Any, where: str, keys: tuple[str, ...],
                 states: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidParams(f"{where}: expected a filter object ({', '.join(keys)})")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise InvalidParams(f"{where}: unknown filter {unknown[0]!r} (filters: {', '.join(keys)})")
    out: dict[str, str] = {}
    if value.get("account") is not None:
        out["account"] = parse_account(value["account"], f"{where}.account")
    if value.get("isin") is not None:
        out["isin"] = parse_isin(value["isin"], f"{where}.isin")
    if value.get("state") is not None:
        if value["state"] not in states:
            raise InvalidParams(f"{where}.state: one of {', '.join(states)}")
        out["state"] = value["state"]
    if value.get("side") is not None:
        if value["side"] not in ("buy", "sell"):
            raise InvalidParams(f"{where}.side: buy or sell")
        out["side"] = value["side"]
    return out


def order_filter(value: Any, where: str) -> dict[str, str]:
    return parse_filter(value, where, ORDER_FILTERS, ORDER_STATES)


def trade_filter(value: Any, where: str) -> dict[str, str]:
    return parse_filter(value, where, TRADE_FILTERS, TRADE_STATES)


class SecuritiesMethods:
    """The securities service's handlers (mixed into `JsonRpc`, which sets `ledger`)."""

    ledger: LedgerReader

    def _sec(self) -> SecuritiesReader:
        return securities_reader(self.ledger)

    @apps_rpc("consortium_instruments")
    def consortium_instruments(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self._sec().instruments()

    @apps_rpc("consortium_instrument")
    def consortium_instrument(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return self._sec().instrument(p.required(0, parse_isin))

    @apps_rpc("consortium_orderBook")
    def consortium_order_book(self, p: Params) -> dict[str, Any] | None:
        p.at_most(2)
        isin = p.required(0, parse_isin)
        levels = min(p.optional(1, parse_count, 10), MAX_LEVELS)
        reader = self._sec()
        if isin not in reader.isins():
            return None
        return reader.book(isin, levels)

    @apps_rpc("consortium_order")
    def consortium_order(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return self._sec().order(p.required(0, parse_count))

    @apps_rpc("consortium_orders")
    def consortium_orders(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return self._sec().orders(**p.optional(0, order_filter, {}))

    @apps_rpc("consortium_trade")
    def consortium_trade(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return self._sec().trade(p.required(0, parse_count))

    @apps_rpc("consortium_trades")
    def consortium_trades(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return self._sec().trades(**p.optional(0, trade_filter, {}))

    @apps_rpc("consortium_holdings")
    def consortium_holdings(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return self._sec().holdings(p.required(0, parse_account))

    @apps_rpc("consortium_holders")
    def consortium_holders(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(2)
        isin = p.required(0, parse_isin)
        height = p.optional(1, parse_count, None)
        reader = self._sec()
        if isin not in reader.isins():
            raise InvalidParams(f"params[0]: no instrument {isin}")
        return reader.holders(isin) if height is None else reader.holders_at(isin, height)

    @apps_rpc("consortium_investor")
    def consortium_investor(self, p: Params) -> dict[str, Any]:
        p.at_most(1)
        return self._sec().investor(p.required(0, parse_account))

    @apps_rpc("consortium_investors")
    def consortium_investors(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self._sec().investors()

    @apps_rpc("consortium_transferRestriction")
    def consortium_transfer_restriction(self, p: Params) -> dict[str, Any]:
        p.at_most(4)
        return self._sec().restriction(
            p.required(0, parse_isin), p.required(1, parse_account),
            p.required(2, parse_account), p.required(3, parse_count),
        )

    @apps_rpc("consortium_bilateralTrade")
    def consortium_bilateral_trade(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return self._sec().proposal(p.required(0, parse_count))

    @apps_rpc("consortium_bilateralTrades")
    def consortium_bilateral_trades(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return self._sec().proposals(account=p.optional(0, parse_account, None))

    @apps_rpc("consortium_dividend")
    def consortium_dividend(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return self._sec().dividend(p.required(0, parse_count))

    @apps_rpc("consortium_dividends")
    def consortium_dividends(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return self._sec().dividends(p.optional(0, parse_isin, None))

    @apps_rpc("consortium_forcedTransfers")
    def consortium_forced_transfers(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self._sec().forced_transfers()

    @apps_rpc("consortium_cashTokens")
    def consortium_cash_tokens(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self._sec().cash_tokens()

    @apps_rpc("consortium_cashToken")
    def consortium_cash_token(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return self._sec().cash_token(p.required(0, parse_currency))

    @apps_rpc("consortium_cashBalances")
    def consortium_cash_balances(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return self._sec().cash_balances(p.required(0, parse_account))
