"""Benchmark workload of the securities service (`consortium bench --workload securities`):
even transactions sell 1 unit at 100, odd ones buy 1 at 100, so with two or more senders each
pair matches and settles T+0 (a placement, a fill, a cross-contract cash payment). The first
account issues the cash token and the instrument and keeps the registry (`genesis_roles`)."""

from __future__ import annotations

from collections.abc import Sequence

from eth_keys.datatypes import PrivateKey

from consortium.apps.securities.model import (
    BUY,
    CASH_ADDRESS,
    CASH_BANK,
    CUSTODIAN,
    INVESTOR,
    ISSUER_AGENT,
    SECURITIES_ADDRESS,
    SELL,
    UNLIMITED,
)
from consortium.apps.securities.reader import CASH, SECURITIES
from consortium.bench.workloads import BenchAccount, PreSigned, Setup, Workload, presign, sign

ISIN = "US0378331005"
CURRENCY = "CNY"
PRICE = 100
UNITS_EACH = 10**9  # units each account receives (a sell needs 1)
CASH_EACH = 10**15  # cash each account receives (a buy locks 100)
ORDER_GAS = 2_000_000  # measured: ~0.6 M gas for a resting order, ~1.6 M for a matching one
SETUP_GAS = 3_000_000
KYC_EXPIRY = 2**63  # far beyond any benchmark


def genesis_roles(names: Sequence[str]) -> dict[str, list[str]]:
    """The roles the bench members need at genesis (member name -> roles), first one first."""
    return {name: [INVESTOR] + ([CASH_BANK, CUSTODIAN, ISSUER_AGENT] if i == 0 else [])
            for i, name in enumerate(names)}


def order_call(i: int) -> bytes:
    """The i-th order: a sell of 1 at 100 when i is even, a buy of 1 at 100 when odd."""
    side = SELL if i % 2 == 0 else BUY
    return SECURITIES.encode("placeOrder", ISIN, side, PRICE, 1, 0)


class SecuritiesOrders(Workload):
    name = "securities"
    description = "matching limit orders, T+0 delivery versus payment (Securities 0x…2001)"
    gas = ORDER_GAS

    def genesis_roles(self, names: Sequence[str]) -> dict[str, list[str]]:
        return genesis_roles(names)

    def prepare(self, accounts: Sequence[BenchAccount], chain_id: int) -> Setup:
        """The cash token, every account registered and funded with cash and units, every
        account's cash open to the settlement contract."""
        if len(accounts) < 2:
            raise ValueError("the securities workload needs at least two accounts "
                             "(an account's own orders never trade with each other)")
        first = PrivateKey(accounts[0].key)
        calls: list[tuple[bytes, bytes]] = [
            (CASH_ADDRESS, CASH.encode("createToken", CURRENCY, "bench cash")),
        ]
        calls += [(SECURITIES_ADDRESS, SECURITIES.encode(
            "setInvestor", "0x" + a.address.hex(), KYC_EXPIRY, "CN", False)) for a in accounts]
        calls += [(CASH_ADDRESS, CASH.encode("mint", CURRENCY, "0x" + a.address.hex(),
                                             CASH_EACH)) for a in accounts]
        calls.append((SECURITIES_ADDRESS, SECURITIES.encode(
            "issue", ISIN, "bench instrument", "0x" + accounts[0].address.hex(),
            UNITS_EACH * len(accounts), b"\x01" * 32, CURRENCY, 0)))
        calls += [(SECURITIES_ADDRESS, SECURITIES.encode(
            "transfer", ISIN, "0x" + a.address.hex(), UNITS_EACH)) for a in accounts[1:]]
        txs = [sign(first, 0, nonce, chain_id, to, 0, data, SETUP_GAS)
               for nonce, (to, data) in enumerate(calls)]
        approve = CASH.encode("approve", CURRENCY, "0x" + SECURITIES_ADDRESS.hex(), UNLIMITED)
        txs.append(sign(first, 0, len(calls), chain_id, CASH_ADDRESS, 0, approve, SETUP_GAS))
        for index, account in enumerate(accounts[1:], start=1):
            txs.append(sign(PrivateKey(account.key), index, 0, chain_id, CASH_ADDRESS, 0,
                            approve, SETUP_GAS))
        return Setup(txs)

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        return SECURITIES_ADDRESS, 0, order_call(i)


def signed_order_txs(accounts: Sequence[BenchAccount], n: int,
                     chain_id: int) -> tuple[list[PreSigned], list[PreSigned]]:
    """The setup transactions and `n` signed order placements that match pairwise,
    round-robin over `accounts`, nonces following the setup's."""
    workload = SecuritiesOrders()
    setup = workload.prepare(accounts, chain_id)
    orders = presign(workload, accounts, n, chain_id, setup.next_nonces(len(accounts)))
    return setup.txs, orders


__all__ = ["SecuritiesOrders", "genesis_roles", "order_call", "signed_order_txs"]
