"""The vocabulary of securities trading shared by the contracts, client, API and CLI. Amounts
are integers: a price is the cash token's smallest unit per unit of the instrument, so a fill
of q at p moves q units and p × q cash. Heights are block numbers."""

from __future__ import annotations

import re
from functools import lru_cache

from consortium.errors import ConfigError
from consortium.evm.native import native_address

CASH_ADDRESS = native_address(0x2000)
SECURITIES_ADDRESS = native_address(0x2001)

# --- roles (in Permissions; system/model.py ROLES holds them) --------------------------------
ISSUER_AGENT = "issuer_agent"  # issues instruments, mints, redeems, pauses, declares dividends
INVESTOR = "investor"  # places orders and takes part in bilateral trades
CUSTODIAN = "custodian"  # keeps the investor eligibility registry
CASH_BANK = "cash_bank"  # issues a tokenised deposit (cash token) per currency
MARKET_OPERATOR = "market_operator"  # sets settlement cycles, cancels any order
REGULATOR = "regulator"  # forced transfers, freezes investors, cancels any order
SECURITIES_ROLES = (ISSUER_AGENT, INVESTOR, CUSTODIAN, CASH_BANK, MARKET_OPERATOR)

# --- sides and states (stored as index + 1; 0: none). Append only. ----------------------------
SIDES = ("buy", "sell")
BUY, SELL = 1, 2
ORDER_STATES = ("open", "filled", "cancelled", "expired")
TRADE_STATES = ("pending", "settled", "expired")
PROPOSAL_STATES = ("proposed", "accepted", "cancelled", "expired")
DIVIDEND_STATES = ("declared", "paid")

# --- bounds ----------------------------------------------------------------------------------
MAX_AMOUNT = 2**128  # quantities, prices, supplies and per-share amounts stay below
UNLIMITED = 2**256 - 1  # an allowance that is never used up (ERC-20's convention)
# Matching work per order: each step fills one resting order, or removes one that cannot
# trade (expired, the placer's own, an owner no longer eligible). When an order still crosses
# the book after this many steps, its unfilled rest is cancelled (never left crossing).
MAX_MATCH_STEPS = 16
MAX_LEVELS = 256  # price levels per side of a book (placing walks them)
DEFAULT_SETTLEMENT_WINDOW = 100  # blocks after the settlement height before a trade expires
MAX_CYCLE = 1_000_000  # a settlement cycle or window, in blocks
MAX_DISTRIBUTE = 200  # holders paid in one distributeDividend call
MAX_READ = 1000  # items in one list read
# what a client adds to a write's gas estimate: the book may move between the estimate and
# the block, and a placement estimated against a book it did not cross may meet a crossing
# order first; one fill costs ~450,000 more (native gas schedule 2), so the margin covers
# one fill more than estimated (the Python client, the CLI and the console)
GAS_MARGIN = 600_000

# --- transfer restrictions (ERC-1404 style codes) --------------------------------------------
SUCCESS = 0
RESTRICTIONS: tuple[str, ...] = (
    "no restriction",  # 0
    "sender is not a registered investor",  # 1
    "recipient is not a registered investor",  # 2
    "sender's KYC has expired",  # 3
    "recipient's KYC has expired",  # 4
    "sender is frozen",  # 5
    "recipient is frozen",  # 6
    "the instrument is paused",  # 7
    "recipient's jurisdiction is not allowed for this instrument",  # 8
    "sender's free balance is insufficient",  # 9
    "unknown instrument",  # 10
)
# (not registered, KYC expired, frozen) for each end of a transfer
SENDER_CODES, RECIPIENT_CODES = (1, 3, 5), (2, 4, 6)
PAUSED, JURISDICTION, INSUFFICIENT, UNKNOWN_INSTRUMENT = 7, 8, 9, 10


def restriction_message(code: int) -> str:
    return RESTRICTIONS[code] if 0 <= code < len(RESTRICTIONS) else f"unknown code {code}"


# --- ISINs, currencies, jurisdictions --------------------------------------------------------
_ISIN = re.compile(r"[A-Z]{2}[A-Z0-9]{9}[0-9]")
_JURISDICTION = re.compile(r"[A-Z]{2}")


def isin_check_digit(first11: str) -> int:
    """ISO 6166's check digit: letters become 10..35, then Luhn over the digit string."""
    digits = "".join(str(int(ch, 36)) for ch in first11)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # the rightmost digit is doubled (the check digit comes after it)
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


@lru_cache(maxsize=1024)  # every order checks its ISIN: a venue trades a few, again and again
def isin_problem(isin: str) -> str | None:
    """Why `isin` is not an ISIN (2 letters, 9 letters or digits, a check digit), or None."""
    if not _ISIN.fullmatch(isin):
        return (f"{isin!r} is not an ISIN (two capital letters, nine letters or digits and a "
                "check digit, e.g. US0378331005)")
    expected = isin_check_digit(isin[:11])
    if int(isin[11]) != expected:
        return f"{isin!r} fails its ISIN check digit (expected {expected}, got {isin[11]})"
    return None


def code_word(code: str) -> int:
    """An ISIN or a jurisdiction as stored: its ASCII, big-endian, in one word (0: none)."""
    return int.from_bytes(code.encode("ascii"), "big")


def code_text(word: int, width: int) -> str:
    return word.to_bytes(width, "big").decode("ascii", errors="replace") if word else ""


def isin_text(word: int) -> str:
    return code_text(word, 12)


isin_word = jurisdiction_word = code_word


def jurisdiction_problem(code: str) -> str | None:
    if not _JURISDICTION.fullmatch(code):
        return f"jurisdiction {code!r} is not an ISO 3166 code (two capital letters, e.g. CN)"
    return None


def side_number(side: str) -> int:
    if side not in SIDES:
        raise ConfigError(f"side must be buy or sell, not {side!r}")
    return SIDES.index(side) + 1


def side_text(number: int) -> str:
    return SIDES[number - 1] if 1 <= number <= len(SIDES) else ""
