"""What the benchmark sends: workloads of pre-signed Ethereum transactions.

A workload says what its transactions do (`call`: recipient, value and calldata of the
i-th transaction) and what must be on chain first (`prepare`: e.g. deploying the token).
`presign` turns it into raw signed transactions, spread round-robin over the bench
accounts with consecutive nonces, so many senders share the load and no sender's
transactions arrive out of order.

Workloads: `transfer` (value transfers), `erc20` (solc-optimized token transfers of
`bench/contracts/BenchToken.sol`), `native` (a state-less call of the Crypto native
contract's `keccak(bytes)` at 0x…1003), and the finance services' writes, whose generators
live beside each service (`consortium.apps.<service>.bench`, imported when chosen):
`invoice` (Invoices.issue), `securities` (matching orders settled T+0), `securities-mix`
(placements that rest, cancels, crossing orders), `credit` (Credit.report), `registry`
(Registry.apply).

Adding one: subclass `Workload`, make `prepare` return the setup transactions it needs,
`genesis_roles` the roles its senders need at genesis (as `consortium init --role` grants
them) and `call` the i-th call, then `register_workload("name", Factory)`. Nothing else in
the bench changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eth._utils.address import generate_contract_address
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey
from eth_typing import Address

from consortium.errors import ConfigError

CRYPTO_ADDRESS = (0x1003).to_bytes(20, "big")
RECIPIENTS = 1024  # distinct recipient addresses the workloads cycle through
TOKEN_AMOUNT = 10**30  # BenchToken balance of every bench account


@dataclass(frozen=True)
class BenchAccount:
    """A benchmark sender: a consortium member account whose key the bench holds."""

    address: bytes  # 20 bytes
    key: bytes  # 32-byte secp256k1 private key

    @classmethod
    def from_key(cls, key: bytes) -> BenchAccount:
        private = PrivateKey(key)
        return cls(bytes(private.public_key.to_canonical_address()), key)


@dataclass(frozen=True, slots=True)
class PreSigned:
    raw: bytes
    hash: bytes
    sender: int  # index into the accounts
    nonce: int


@dataclass
class Setup:
    """Transactions to commit before the measured run, and the nonces they use."""

    txs: list[PreSigned] = field(default_factory=list)

    def next_nonces(self, accounts: int) -> list[int]:
        nonces = [0] * accounts
        for tx in self.txs:
            nonces[tx.sender] = max(nonces[tx.sender], tx.nonce + 1)
        return nonces


def recipient(i: int) -> bytes:
    """The i-th recipient of the cycle: deterministic addresses nobody holds a key for."""
    return keccak(b"consortium-bench-recipient" + (i % RECIPIENTS).to_bytes(4, "big"))[-20:]


def sign(key: PrivateKey, index: int, nonce: int, chain_id: int, to: bytes, value: int,
         data: bytes, gas: int) -> PreSigned:
    """An EIP-1559 transaction at gas price 0 (the consortium's base fee is 0)."""
    unsigned = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
        chain_id, nonce, 0, 0, gas, Address(to), value, data, ()
    )
    raw = unsigned.as_signed_transaction(key).encode()
    return PreSigned(raw, keccak(raw), index, nonce)


class Workload:
    """A kind of transaction the bench sends. Subclasses set `name`, `gas` and `call`."""

    name = ""
    description = ""
    gas = 21_000

    def genesis_roles(self, names: Sequence[str]) -> dict[str, list[str]]:
        """Roles the senders need at genesis, by member name (`init_network(roles=…)`, as
        `consortium init --role` grants them); none by default. `names` are the bench
        members in account order."""
        return {}

    def plan(self, count: int) -> None:
        """The run's size, told before `prepare` (a setup may depend on it: the orders a
        securities mix cancels); nothing by default."""

    def prepare(self, accounts: Sequence[BenchAccount], chain_id: int) -> Setup:
        """Setup transactions, committed before the run (none by default)."""
        return Setup()

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        """The i-th transaction's recipient, value and calldata."""
        raise NotImplementedError

    def gas_for(self, i: int) -> int:
        """The i-th transaction's gas limit (`gas` unless its kinds need different ones: a
        block holds what the sum of its limits allows)."""
        return self.gas


class ValueTransfer(Workload):
    name = "transfer"
    description = "value transfer (1 wei)"
    gas = 21_000

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        return recipient(i), 1, b""


def token_source() -> Path:
    """bench/contracts/BenchToken.sol of this checkout."""
    return Path(__file__).resolve().parents[3] / "bench" / "contracts" / "BenchToken.sol"


class TokenTransfer(Workload):
    name = "erc20"
    description = "ERC-20 transfer (BenchToken, solc --optimize)"
    gas = 90_000
    selector = keccak(b"transfer(address,uint256)")[:4]

    def __init__(self, bytecode: bytes | None = None) -> None:
        self._bytecode = bytecode
        self.token = b""

    def bytecode(self) -> bytes:
        if self._bytecode is None:
            from consortium.contracts.compiler import compile_solidity

            path = token_source()
            if not path.is_file():
                raise ConfigError(f"the ERC-20 workload needs {path} (a source checkout)")
            self._bytecode = compile_solidity(path.read_text(), path.name, "BenchToken").bytecode
        return self._bytecode

    def prepare(self, accounts: Sequence[BenchAccount], chain_id: int) -> Setup:
        holders = ["0x" + a.address.hex() for a in accounts]
        init = self.bytecode() + abi_encode(["address[]", "uint256"], [holders, TOKEN_AMOUNT])
        deployer = accounts[0]
        self.token = generate_contract_address(Address(deployer.address), 0)
        gas = 200_000 + 60_000 * len(accounts)
        return Setup([sign(PrivateKey(deployer.key), 0, 0, chain_id, b"", 0, init, gas)])

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        if not self.token:
            raise RuntimeError("prepare() the ERC-20 workload before signing its transfers")
        return self.token, 0, self.selector + abi_encode(["address", "uint256"],
                                                         [recipient(i), 1])


class NativeCall(Workload):
    name = "native"
    description = "native contract call (Crypto.keccak(bytes), 32 bytes)"
    gas = 60_000
    selector = keccak(b"keccak(bytes)")[:4]

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        return CRYPTO_ADDRESS, 0, self.selector + abi_encode(["bytes"], [i.to_bytes(32, "big")])


class NativeCallSmall(NativeCall):
    """The native call with an ERC-20 transfer's calldata size (68 bytes: keccak of empty
    bytes), so the two compare at equal transaction size: a node's cost per transaction
    grows with its bytes (CometBFT's above all), and the 32-byte variant's calldata is 100."""

    name = "native-small"
    description = "native contract call (Crypto.keccak(bytes), empty: 68-byte calldata)"

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        return CRYPTO_ADDRESS, 0, self.selector + abi_encode(["bytes"], [b""])


def _service(module: str, cls: str) -> Callable[[], Workload]:
    """A finance service's workload, imported when chosen (the services import this
    module)."""

    def make() -> Workload:
        factory: Callable[[], Workload] = getattr(importlib.import_module(module), cls)
        return factory()

    return make


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "transfer": ValueTransfer,
    "erc20": TokenTransfer,
    "native": NativeCall,
    "native-small": NativeCallSmall,
    "invoice": _service("consortium.apps.invoices.bench", "InvoiceIssue"),
    "securities": _service("consortium.apps.securities.bench", "SecuritiesOrders"),
    "securities-mix": _service("consortium.apps.securities.bench", "SecuritiesMix"),
    "credit": _service("consortium.apps.credit.bench", "CreditReport"),
    "registry": _service("consortium.apps.registry.bench", "AssetApply"),
}


def register_workload(name: str, factory: Callable[[], Workload]) -> None:
    """Make a workload selectable with `consortium bench --workload NAME`."""
    WORKLOADS[name] = factory


def make_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown workload {name!r} (choose from {', '.join(sorted(WORKLOADS))})"
        ) from None


def presign(
    workload: Workload,
    accounts: Sequence[BenchAccount],
    count: int,
    chain_id: int,
    start_nonces: Sequence[int],
    progress: Callable[[int], None] = lambda _n: None,
) -> list[PreSigned]:
    """`count` signed transactions of `workload`: the j-th from account j mod len(accounts),
    each account's nonces consecutive from its start nonce."""
    if not accounts:
        raise ConfigError("the benchmark needs at least one account")
    out = []
    n = len(accounts)
    private = [PrivateKey(a.key) for a in accounts]
    for j in range(count):
        s = j % n
        to, value, data = workload.call(j)
        out.append(sign(private[s], s, start_nonces[s] + j // n, chain_id, to, value, data,
                        workload.gas_for(j)))
        if j % 500 == 499:
            progress(500)
    progress(count % 500)
    return out
