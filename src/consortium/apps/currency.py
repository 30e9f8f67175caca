"""ISO 4217 currency codes as the services store them: three capital letters in one storage
word (big-endian ASCII), 0 meaning none."""

from __future__ import annotations

import re

_CURRENCY = re.compile(r"[A-Z]{3}")


def currency_problem(code: str) -> str | None:
    """Why `code` is not an ISO 4217 alphabetic code (three upper-case letters), or None."""
    if not _CURRENCY.fullmatch(code):
        return f"currency {code!r} is not an ISO 4217 code (three capital letters, e.g. CNY)"
    return None


def currency_word(code: str) -> int:
    return int.from_bytes(code.encode("ascii"), "big")


def currency_text(word: int) -> str:
    return word.to_bytes(3, "big").decode("ascii", errors="replace") if word else ""
