"""Securities and cash tokens' surface (`consortium.apps.surface`): their reads (JSON-RPC,
REST under /api/v1/securities and /api/v1/cash, OpenAPI, some CLI commands) in the shapes of
`SecuritiesReader`, and their plain writes (`SecuritiesClient` methods and CLI commands). An
unknown instrument's book, holders or dividends are "not found" (REST 404, JSON-RPC null).
Orders, trades and proposals past their expiry height or deadline read "expired" (the reader
derives it; see `reader.py`).
Issuing, placing orders, proposing, approving cash and the investor registry have flows of
their own (`client.py`, `cli/securities.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from consortium.apps import surface as kinds
from consortium.apps.currency import currency_problem
from consortium.apps.securities.model import (
    MAX_DISTRIBUTE,
    ORDER_STATES,
    SIDES,
    TRADE_STATES,
    isin_problem,
    jurisdiction_problem,
)
from consortium.apps.securities.reader import SecuritiesReader
from consortium.apps.surface import REASON, Param, Read, Service, Write


def _code(problem: Callable[[str], str | None]) -> Callable[[Any], str]:
    """A code's parser (an ISIN, a currency, a jurisdiction), upper-cased."""

    def parse(value: Any) -> str:
        if not isinstance(value, str) or problem(value.strip().upper()):
            raise ValueError(value)
        return value.strip().upper()

    return parse


ISIN = kinds.Kind("isin", _code(isin_problem), "expected an ISIN (e.g. US0378331005)",
                  {"type": "string", "pattern": "^[A-Z]{2}[A-Z0-9]{9}[0-9]$"})
CURRENCY = kinds.Kind("currency", _code(currency_problem),
                      "expected an ISO 4217 currency code (e.g. CNY)",
                      {"type": "string", "pattern": "^[A-Z]{3}$"})
JURISDICTION = kinds.Kind("jurisdiction", _code(jurisdiction_problem),
                          "expected an ISO 3166 code (e.g. CN)",
                          {"type": "string", "pattern": "^[A-Z]{2}$"})

COUNT = kinds.Kind("count", kinds.whole_number, "expected a non-negative integer",
                   {"type": "integer", "minimum": 0})


ISIN_ARG = Param("isin", ISIN, "The instrument's ISIN, e.g. US0378331005.")
ONE_ISIN = (ISIN_ARG,)
ONE = (Param("id", COUNT),)
ONE_ACCOUNT = (Param("account", kinds.ACCOUNT),)
WHO_WHAT = (Param("account", kinds.ACCOUNT, "A party"), Param("isin", ISIN, "An instrument"))

UNITS = Param("amount", COUNT, "Units.", positional=True)
WHY = Param("reason", kinds.TEXT, "Why.", default="")
INVESTOR = Param("investor", kinds.ACCOUNT, "Account or member name.")
TO = Param("to", kinds.ACCOUNT, "Account or member name.")
TO_ARG = replace(TO, positional=True)


def _id(name: str) -> tuple[Param]:
    return (Param(name, COUNT, "The id."),)


SECURITIES_WRITES = (
    Write("mint", "mint", "The instrument's issuer agent issues more units (to an eligible "
          "investor, or its issuer account).", "mint",
          (ISIN_ARG, TO, UNITS), "minted"),
    Write("redeem", "redeem", "The instrument's issuer agent redeems (burns) a holder's free "
          "units.", "redeem", (ISIN_ARG, Param("holder", kinds.ACCOUNT, "Account or member name."),
                               UNITS), "redeemed"),
    Write("pause", "pause", "Stop trading and transfers (the issuer agent or the regulator).",
          "pause", (ISIN_ARG, WHY), "paused"),
    Write("unpause", "unpause", "Resume trading (the issuer agent or the regulator).",
          "unpause", (ISIN_ARG, WHY), "trading again"),
    Write("set-cycle", "setSettlementCycle",
          "Set the settlement cycle of new trades (issuer agent or market operator).",
          "set_settlement_cycle", (
              ISIN_ARG, Param("cycle", COUNT, "Blocks from trade to settlement (0: T+0).",
                              positional=True),
              Param("window", COUNT, "Blocks after the settlement height before an unsettled "
                                     "trade expires.", default=100)), "settlement cycle set"),
    Write("freeze", "freezeInvestor", "The regulator freezes an investor: no order, trade or "
          "transfer until unfrozen.", "freeze_investor", (INVESTOR, REASON), "frozen"),
    Write("unfreeze", "unfreezeInvestor", "The regulator lifts its freeze.",
          "unfreeze_investor", (INVESTOR, REASON), "unfrozen"),
    Write("transfer", "transfer", "Transfer free units (refused with an ERC-1404 reason code "
          "when restricted).", "transfer", (ISIN_ARG, TO_ARG, UNITS), "transferred"),
    Write("force-transfer", "forceTransfer", "The regulator moves units without the "
          "eligibility check; the reason is logged.", "force_transfer", (
              ISIN_ARG, Param("src", kinds.ACCOUNT, "From: account or member.", positional=True),
              Param("dest", kinds.ACCOUNT, "To: account or member.", positional=True), UNITS,
              REASON), "forced transfer"),
    Write("cancel", "cancelOrder", "Cancel an open order (its owner, a market operator or "
          "the regulator).", "cancel_order", _id("order_id"), "cancelled"),
    Write("expire-order", "expireOrder", "Close an order past its expiry height, releasing "
          "its lock (anyone).", "expire_order", _id("order_id"), "expired"),
    Write("settle", "settle", "Settle a pending trade at or after its settlement height "
          "(anyone).", "settle", _id("trade_id"), "settled"),
    Write("expire-trade", "expireTrade", "Expire an unsettled trade past its deadline: both "
          "locks are released (anyone).", "expire_trade", _id("trade_id"), "expired"),
    Write("accept", "accept", "The counterparty accepts: its leg is locked and the trade "
          "settles (T+0) or pends.", "accept", _id("proposal_id"), "accepted"),
    Write("decline", "cancelProposal", "Cancel (the proposer) or decline (the counterparty) "
          "an open proposal.", "cancel_proposal", _id("proposal_id"), "cancelled"),
    Write("expire-proposal", "expireProposal", "Expire a proposal past its deadline, "
          "releasing the proposer's lock (anyone).", "expire_proposal", _id("proposal_id"),
          "expired"),
    # client methods whose commands sit in a sub-group (`securities dividend …`) or have a
    # flow of their own (`securities investor set`)
    Write("", "setInvestor", "A custodian registers or updates an investor's eligibility.",
          "set_investor", (INVESTOR, Param("kyc_expiry", COUNT, "KYC valid below this height."),
                           Param("jurisdiction", JURISDICTION, "e.g. CN."),
                           Param("frozen", kinds.FLAG, "Freeze it.", default=False))),
    Write("", "declareDividend", "The issuer agent declares a cash dividend; the issuer's "
          "cash for it is locked.", "declare_dividend", (
              ISIN_ARG, Param("record_height", COUNT, "Holders at the end of this (past) "
                                                      "block are paid."),
              Param("currency", CURRENCY, "The cash token."),
              Param("per_share", COUNT, "Cash units per unit held.")), "dividend declared"),
    Write("", "distributeDividend", "Pay the record-date holders not yet paid (anyone; repeat "
          "until fully paid).", "distribute_dividend", (
              *_id("dividend_id"), Param("max_holders", COUNT, "Holders per tx.",
                                         default=MAX_DISTRIBUTE, flag="--max")), "distributed"),
    Write("", "claimDividend", "A record-date holder claims its dividend.", "claim_dividend",
          _id("dividend_id"), "claimed"),
)

CURRENCY_ARG = Param("currency", CURRENCY, "ISO 4217 code, e.g. CNY.")
CASH_UNITS = Param("amount", COUNT, "Smallest units.", positional=True)
CASH_WRITES = (
    Write("create", "createToken", "A cash bank issues the tokenised deposit of a currency "
          "(one issuer per currency).", "create_token",
          (CURRENCY_ARG, Param("name", kinds.TEXT, "The token's name.", default="")),
          "cash token created"),
    Write("mint", "mint", "The issuing bank mints cash to an account.", "mint_cash",
          (CURRENCY_ARG, TO, CASH_UNITS), "minted"),
    Write("burn", "burn", "The issuing bank burns cash from its own free balance.",
          "burn_cash", (CURRENCY_ARG, CASH_UNITS), "burnt"),
    Write("transfer", "transfer", "Transfer free cash.", "transfer_cash",
          (CURRENCY_ARG, TO_ARG, CASH_UNITS), "transferred"),
)

SECURITIES = Service("securities", "Securities", SecuritiesReader, reads=(
        Read("instruments", "Every instrument", rpc="consortium_instruments",
             rest="/instruments", cli="instruments"),
        Read("instrument", "One instrument", rpc="consortium_instrument",
             rest="/instruments/{isin}", params=ONE_ISIN, nullable=True, noun="instrument",
             cli="show"),
        Read("order_book", "The order book's depth: bids and asks by price level",
             rpc="consortium_orderBook", rest="/instruments/{isin}/book",
             params=(*ONE_ISIN, Param("levels", COUNT, "Price levels.", default=10)),
             nullable=True, noun="instrument", cli="book"),
        Read("holders_of", "Holders now, or at the end of block `height` (record-date "
             "snapshot)", rpc="consortium_holders", rest="/instruments/{isin}/holders",
             params=(*ONE_ISIN, Param("height", kinds.HEIGHT, default=None)), nullable=True,
             noun="instrument"),
        Read("orders", "Orders matching every filter given", rpc="consortium_orders",
             rest="/orders", cli="orders", filters=(
                 *WHO_WHAT, Param("state", kinds.choice(ORDER_STATES),
                                  "as read: an open order past its expiry reads expired"),
                 Param("side", kinds.choice(SIDES)), *kinds.PAGE)),
        Read("order", "One order", rpc="consortium_order", rest="/orders/{id}", params=ONE,
             nullable=True, noun="order"),
        Read("trades", "Trades matching every filter given", rpc="consortium_trades",
             rest="/trades", cli="trades",
             filters=(*WHO_WHAT, Param("state", kinds.choice(TRADE_STATES),
                                       "as read: a pending trade past its deadline reads "
                                       "expired"), *kinds.PAGE)),
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
                 *ONE_ISIN, Param("from", kinds.ACCOUNT), Param("to", kinds.ACCOUNT),
                 Param("amount", COUNT, default=0))),
        Read("proposals", "Bilateral trade proposals", rpc="consortium_bilateralTrades",
             rest="/bilateral-trades", cli="bilateral",
             params=(Param("account", kinds.ACCOUNT, "A party.", default=None),)),
        Read("proposal", "One bilateral trade proposal", rpc="consortium_bilateralTrade",
             rest="/bilateral-trades/{id}", params=ONE, nullable=True,
             noun="bilateral trade"),
        Read("dividends_listed", "Dividends", rpc="consortium_dividends", rest="/dividends",
             params=(Param("isin", ISIN, default=None),), noun="instrument"),
        Read("dividend", "One dividend", rpc="consortium_dividend", rest="/dividends/{id}",
             params=ONE, nullable=True, noun="dividend"),
        Read("forced_transfers", "The regulator's forced transfers",
             rpc="consortium_forcedTransfers", rest="/forced-transfers", cli="forced-transfers"),
    ), writes=SECURITIES_WRITES)

CASH = Service("cash", "Cash tokens", SecuritiesReader, reads=(
        Read("cash_tokens", "Every cash token", rpc="consortium_cashTokens", rest="/tokens",
             cli="tokens"),
        Read("cash_token", "One cash token with its holders", rpc="consortium_cashToken",
             rest="/tokens/{currency}", params=(Param("currency", CURRENCY),), nullable=True,
             noun="cash token"),
        Read("cash_balances", "An account's cash", rpc="consortium_cashBalances",
             rest="/balances/{account}", params=ONE_ACCOUNT),
    ), writes=CASH_WRITES)
