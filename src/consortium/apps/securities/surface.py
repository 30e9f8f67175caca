"""Securities and cash tokens' surface (`consortium.apps.surface`): their reads, served as
the `consortium_*` securities JSON-RPC methods, the /api/v1/securities and /api/v1/cash
REST routes and their OpenAPI paths, in the shapes of `SecuritiesReader`. An unknown
instrument's book, holders or dividends are "not found" (REST 404, JSON-RPC null); the
transfer restriction (ERC-1404) takes its four parameters as query keys."""

from __future__ import annotations

from typing import Any

from consortium.apps.securities.model import (
    ORDER_STATES,
    TRADE_STATES,
    currency_problem,
    isin_problem,
)
from consortium.apps.securities.reader import SecuritiesReader
from consortium.apps.surface import ACCOUNT, Call, Kind, Logs, Param, Read, Service, choice


def _isin(value: Any) -> str:
    if not isinstance(value, str) or isin_problem(value.strip().upper()):
        raise ValueError(value)
    return value.strip().upper()


def _currency(value: Any) -> str:
    if not isinstance(value, str) or currency_problem(value.strip().upper()):
        raise ValueError(value)
    return value.strip().upper()


def _count(value: Any) -> int:
    """A JSON number or a decimal / 0x string."""
    if isinstance(value, bool | float):
        raise ValueError(value)
    number = int(value, 0) if isinstance(value, str) else int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _side(value: Any) -> str:
    if value not in ("buy", "sell"):
        raise ValueError(value)
    return str(value)


ISIN = Kind("isin", _isin, "expected an ISIN (e.g. US0378331005)",
            {"type": "string", "pattern": "^[A-Z]{2}[A-Z0-9]{9}[0-9]$"})
CURRENCY = Kind("currency", _currency, "expected an ISO 4217 currency code (e.g. CNY)",
                {"type": "string", "pattern": "^[A-Z]{3}$"})
COUNT = Kind("count", _count, "expected a non-negative integer",
             {"type": "integer", "minimum": 0})
SIDE = Kind("side", _side, "buy or sell", {"type": "string", "enum": ["buy", "sell"]})


def securities_reader(call: Call, _logs: Logs | None = None) -> SecuritiesReader:
    return SecuritiesReader(call)


ONE_ISIN = (Param("isin", ISIN),)
ONE = (Param("id", COUNT),)
ONE_ACCOUNT = (Param("account", ACCOUNT),)
WHO_WHAT = (Param("account", ACCOUNT), Param("isin", ISIN))

SECURITIES = Service(
    name="securities",
    title="Securities",
    reader=securities_reader,
    reads=(
        Read("instruments", "Every instrument", rpc="consortium_instruments",
             rest="/instruments"),
        Read("instrument", "One instrument", rpc="consortium_instrument",
             rest="/instruments/{isin}", params=ONE_ISIN, nullable=True, noun="instrument"),
        Read("order_book", "The order book's depth: bids and asks by price level",
             rpc="consortium_orderBook", rest="/instruments/{isin}/book",
             params=(*ONE_ISIN, Param("levels", COUNT, default=10)), nullable=True,
             noun="instrument"),
        Read("holders_of", "Holders now, or at the end of block `height` (record-date "
             "snapshot)", rpc="consortium_holders", rest="/instruments/{isin}/holders",
             params=(*ONE_ISIN, Param("height", COUNT, default=None)), nullable=True,
             noun="instrument"),
        Read("orders", "Orders matching every filter given", rpc="consortium_orders",
             rest="/orders", filters=(*WHO_WHAT, Param("state", choice(ORDER_STATES)),
                                      Param("side", SIDE))),
        Read("order", "One order", rpc="consortium_order", rest="/orders/{id}", params=ONE,
             nullable=True, noun="order"),
        Read("trades", "Trades matching every filter given", rpc="consortium_trades",
             rest="/trades", filters=(*WHO_WHAT, Param("state", choice(TRADE_STATES)))),
        Read("trade", "One trade", rpc="consortium_trade", rest="/trades/{id}", params=ONE,
             nullable=True, noun="trade"),
        Read("holdings", "An account's holdings", rpc="consortium_holdings",
             rest="/holdings/{account}", params=ONE_ACCOUNT),
        Read("investors", "The eligibility registry", rpc="consortium_investors",
             rest="/investors"),
        Read("investor", "One investor's eligibility", rpc="consortium_investor",
             rest="/investors/{account}", params=ONE_ACCOUNT),
        Read("restriction",
             "detectTransferRestriction: the ERC-1404 code and message of a transfer",
             rpc="consortium_transferRestriction", rest="/restriction", params=(
                 *ONE_ISIN, Param("from", ACCOUNT), Param("to", ACCOUNT),
                 Param("amount", COUNT, default=0))),
        Read("proposals", "Bilateral trade proposals", rpc="consortium_bilateralTrades",
             rest="/bilateral-trades", params=(Param("account", ACCOUNT, default=None),)),
        Read("proposal", "One bilateral trade proposal", rpc="consortium_bilateralTrade",
             rest="/bilateral-trades/{id}", params=ONE, nullable=True,
             noun="bilateral trade"),
        Read("dividends_listed", "Dividends", rpc="consortium_dividends", rest="/dividends",
             params=(Param("isin", ISIN, default=None),), noun="instrument"),
        Read("dividend", "One dividend", rpc="consortium_dividend", rest="/dividends/{id}",
             params=ONE, nullable=True, noun="dividend"),
        Read("forced_transfers", "The regulator's forced transfers",
             rpc="consortium_forcedTransfers", rest="/forced-transfers"),
    ),
)

CASH = Service(
    name="cash",
    title="Cash tokens",
    reader=securities_reader,
    reads=(
        Read("cash_tokens", "Every cash token", rpc="consortium_cashTokens", rest="/tokens"),
        Read("cash_token", "One cash token with its holders", rpc="consortium_cashToken",
             rest="/tokens/{currency}", params=(Param("currency", CURRENCY),), nullable=True,
             noun="cash token"),
        Read("cash_balances", "An account's cash", rpc="consortium_cashBalances",
             rest="/balances/{account}", params=ONE_ACCOUNT),
    ),
)
