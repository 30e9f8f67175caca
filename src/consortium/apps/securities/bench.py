"""Benchmark workload of the securities service (`consortium bench --workload securities`):
even transactions sell 1 unit at 100, odd ones buy 1 at 100, so with two or more senders each
pair matches and settles T+0 (a placement, a fill, a cross-contract cash payment). The first
account issues the cash token and the instrument and keeps the registry (`genesis_roles`).

`securities-mix` (`SecuritiesMix`) mixes what a venue sees: half placements that rest, a
quarter cancels of resting orders, a quarter crossing orders that match."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
# measured under native gas schedule 2 and layout 4 (new chains'): ~0.33-0.36 M gas for a
# resting order, up to ~0.71 M for a matching one (layout 3: ~0.40 M and ~0.88 M; layout 2:
# ~0.46 M and ~1.0-1.15 M; schedule 1, older chains': ~0.6 M and ~1.6 M). The limit each
# order is sent with, as a client sends a placement of one fill: a block holds what the sum
# of its transactions' limits allows (layout 3 needed 1,050,000)
ORDER_GAS = 800_000
SETUP_GAS = 3_000_000
KYC_EXPIRY = 2**63  # far beyond any benchmark


def genesis_roles(names: Sequence[str]) -> dict[str, list[str]]:
    """The roles the bench members need at genesis (member name -> roles), first one first."""
    return {name: [INVESTOR] + ([CASH_BANK, CUSTODIAN, ISSUER_AGENT] if i == 0 else [])
            for i, name in enumerate(names)}


def place(side: int, price: int) -> bytes:
    """An order for one unit of `ISIN` at `price`, never expiring."""
    return SECURITIES.encode("placeOrder", ISIN, side, price, 1, 0)


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
        hexes = ["0x" + a.address.hex() for a in accounts]
        calls = [(CASH_ADDRESS, CASH.encode("createToken", CURRENCY, "bench cash"))]
        calls += [(SECURITIES_ADDRESS, SECURITIES.encode("setInvestor", a, KYC_EXPIRY, "CN",
                                                         False)) for a in hexes]
        calls += [(CASH_ADDRESS, CASH.encode("mint", CURRENCY, a, CASH_EACH)) for a in hexes]
        calls.append((SECURITIES_ADDRESS, SECURITIES.encode(
            "issue", ISIN, "bench instrument", hexes[0], UNITS_EACH * len(accounts),
            b"\x01" * 32, CURRENCY, 0)))
        calls += [(SECURITIES_ADDRESS, SECURITIES.encode("transfer", ISIN, a, UNITS_EACH))
                  for a in hexes[1:]]
        approve = CASH.encode("approve", CURRENCY, "0x" + SECURITIES_ADDRESS.hex(), UNLIMITED)
        calls.append((CASH_ADDRESS, approve))
        txs = [sign(first, 0, nonce, chain_id, to, 0, data, SETUP_GAS)
               for nonce, (to, data) in enumerate(calls)]
        return Setup(txs + [sign(PrivateKey(a.key), index, 0, chain_id, CASH_ADDRESS, 0, approve,
                                 SETUP_GAS) for index, a in enumerate(accounts[1:], start=1)])

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        """The i-th order: a sell of 1 at 100 when i is even, a buy of 1 at 100 when odd."""
        return SECURITIES_ADDRESS, 0, place(SELL if i % 2 == 0 else BUY, PRICE)


# SecuritiesMix's cycle of 8 (index i mod 8): what each transaction does, its side and price.
# Resting orders sit at 90 (bids) and 110 (asks); crossing orders take them (a buy at 110, a
# sell at 90) and always find one: the setup seeds each crossing order's counterpart, so no
# crossing order rests and no resting order ever matches. Cancels target orders the setup
# placed at 80 and 120, which no order of the run can reach, so every cancel finds its order
# open whatever order the network commits the senders' transactions in.
REST, CANCEL, CROSS = "rest", "cancel", "cross"
MIX_CYCLE: tuple[tuple[str, int, int], ...] = (
    (REST, SELL, 110), (CANCEL, 0, 0), (REST, BUY, 90), (CROSS, BUY, 110),
    (REST, SELL, 110), (CANCEL, 0, 0), (REST, BUY, 90), (CROSS, SELL, 90),
)
MIX_SHARES = "50 % placements that rest, 25 % cancels, 25 % crossing orders that match"
POOL_PRICES = {BUY: 80, SELL: 120}  # the setup's orders, there to be cancelled
# Gas limits by kind, as a client's estimate would set them (used under native gas schedule
# 2, layout 4: a resting order ~0.23-0.31 M, a cancel ~0.08-0.13 M, a crossing order
# ~0.54-0.70 M; layout 3: ~0.30-0.38, the same, ~0.72-0.87): a
# block holds what the sum of its limits allows, so one limit for all would cap it lower.
MIX_GAS = {REST: 400_000, CANCEL: 200_000, CROSS: ORDER_GAS}


@dataclass(frozen=True)
class MixPlan:
    """The setup's orders: `pool` (sender, side) first, ids from 1, one per cancel of the
    run (`targets[i]`: the order id index i cancels); then `seeds` (sender, side, price),
    one resting counterpart per crossing order."""

    pool: tuple[tuple[int, int], ...]
    targets: dict[int, int]
    seeds: tuple[tuple[int, int, int], ...]


def mix_plan(senders: int, count: int) -> MixPlan:
    """The k-th cancel sent by sender s (index i, sent by i mod `senders` as `presign`
    spreads them) cancels s's k-th pool order; crossing order i's seed belongs to the next
    sender (not i's own: self-trade prevention would cancel it instead of trading)."""
    per_sender: list[list[int]] = [[] for _ in range(senders)]
    seeds: list[tuple[int, int, int]] = []
    for i in range(count):
        kind, side, price = MIX_CYCLE[i % len(MIX_CYCLE)]
        if kind == CANCEL:
            per_sender[i % senders].append(i)
        elif kind == CROSS:
            seeds.append(((i + 1) % senders, BUY if side == SELL else SELL, price))
    pool: list[tuple[int, int]] = []
    targets: dict[int, int] = {}
    for s, indices in enumerate(per_sender):
        for k, i in enumerate(indices):
            pool.append((s, BUY if k % 2 == 0 else SELL))
            targets[i] = len(pool)
    return MixPlan(tuple(pool), targets, tuple(seeds))


class SecuritiesMix(SecuritiesOrders):
    """Placements that rest, cancels of resting orders and crossing orders that match, in
    the proportions of `MIX_SHARES`. Call `plan(count)` before `prepare`: the setup places
    the orders the run's cancels target and its crossing orders take."""

    name = "securities-mix"
    description = f"order flow: {MIX_SHARES} (Securities 0x…2001)"
    count = 0  # the run's size (`plan`)
    mix: MixPlan | None = None  # the setup's orders (`prepare`)

    def plan(self, count: int) -> None:
        self.count = count

    def prepare(self, accounts: Sequence[BenchAccount], chain_id: int) -> Setup:
        setup = super().prepare(accounts, chain_id)
        self.mix = mix_plan(len(accounts), self.count)
        nonces = setup.next_nonces(len(accounts))
        keys = [PrivateKey(a.key) for a in accounts]
        orders = [(s, side, POOL_PRICES[side]) for s, side in self.mix.pool]
        for sender, side, price in orders + list(self.mix.seeds):
            setup.txs.append(sign(keys[sender], sender, nonces[sender], chain_id,
                                  SECURITIES_ADDRESS, 0, place(side, price), SETUP_GAS))
            nonces[sender] += 1
        return setup

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        kind, side, price = MIX_CYCLE[i % len(MIX_CYCLE)]
        if kind != CANCEL:
            return SECURITIES_ADDRESS, 0, place(side, price)
        if self.mix is None or i not in self.mix.targets:
            raise RuntimeError(f"the securities mix's cancel {i} has no order: plan(count) "
                               f"with the run's size, then prepare()")
        return SECURITIES_ADDRESS, 0, SECURITIES.encode("cancelOrder", self.mix.targets[i])

    def gas_for(self, i: int) -> int:
        return MIX_GAS[MIX_CYCLE[i % len(MIX_CYCLE)][0]]


def signed_order_txs(accounts: Sequence[BenchAccount], n: int,
                     chain_id: int) -> tuple[list[PreSigned], list[PreSigned]]:
    """The setup transactions and `n` signed order placements that match pairwise,
    round-robin over `accounts`, nonces following the setup's."""
    workload = SecuritiesOrders()
    setup = workload.prepare(accounts, chain_id)
    orders = presign(workload, accounts, n, chain_id, setup.next_nonces(len(accounts)))
    return setup.txs, orders


__all__ = ["MIX_SHARES", "SecuritiesMix", "SecuritiesOrders", "genesis_roles", "mix_plan",
           "signed_order_txs"]
