"""Helpers the tests share: local networks, test kits for each service, EVM and fault tools."""
