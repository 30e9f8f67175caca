"""ISO 4217 currency codes as the services store them: three capital letters in one storage
word (big-endian ASCII), 0 meaning none."""

from __future__ import annotations

import re

from consortium.evm.records import currency_text, currency_word

_CURRENCY = re.compile(r"[A-Z]{3}")


def currency_problem(code: str) -> str | None:
    """Why `code` is not an ISO 4217 alphabetic code (three upper-case letters), or None."""
    return None if _CURRENCY.fullmatch(code) else (
        f"currency {code!r} is not an ISO 4217 code (three capital letters, e.g. CNY)")


__all__ = ["currency_problem", "currency_text", "currency_word"]
