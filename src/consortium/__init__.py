"""Consortium: a permissioned blockchain for a consortium of financial institutions."""

__version__ = "0.1.0"
