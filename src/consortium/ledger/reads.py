"""The ledger's reads for the API (the `LedgerReader` protocol)."""

from __future__ import annotations


class LedgerReads:
    pass
