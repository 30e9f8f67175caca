"""Compiling user contracts: Vyper (Python package) and Solidity (solc-js from npm)."""
