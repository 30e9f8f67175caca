"""Bench workload of the registry: owners applying for assets (`apply`), pre-signed. The setup
passes two proposals on a fresh network: accounts[0] a registrar, then class 1 with it."""

from __future__ import annotations

from collections.abc import Sequence

from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey

from consortium.apps.registry.model import REGISTRY_ADDRESS
from consortium.apps.registry.reader import CALLS
from consortium.bench.workloads import BenchAccount, PreSigned, Setup, Workload, presign, sign
from consortium.system.abi_files import function
from consortium.system.model import BASIS_POINTS, GOVERNANCE_ADDRESS, SIMPLE_MAJORITY

# layout 2, gas schedule 2: an owner's first application ~0.37 M gas, the next ~0.30 M (the
# SDK's estimate x 1.2 + 10,000 sends ~0.45 M and ~0.37 M)
APPLY_GAS = 450_000
SETUP_GAS = 5_000_000  # a vote may execute its proposal
CLASS_NAME = "Bench assets"


def votes_needed(members: int) -> int:
    """Yes votes that pass a simple-majority proposal among `members` equal members."""
    return -(-members * SIMPLE_MAJORITY.participation // BASIS_POINTS)


def class_setup(accounts: Sequence[BenchAccount], chain_id: int) -> Setup:
    """The setup transactions: registrar role and asset class 1, by proposals and votes."""
    if not accounts:
        raise ValueError("the registry workload needs at least one account")
    registrar = "0x" + accounts[0].address.hex()
    proposals = [
        function("Governance", "proposeGrantRole").encode(registrar, "registrar"),
        function("Governance", "proposeAppCall").encode(REGISTRY_ADDRESS, CALLS.encode(
            "createClass", CLASS_NAME, keccak(b"bench schema"), [registrar], 1)),
    ]
    voters = [] if len(accounts) == 1 else list(range(votes_needed(len(accounts))))
    nonces = [0] * len(accounts)
    txs: list[PreSigned] = []

    def send(index: int, data: bytes) -> None:
        key = PrivateKey(accounts[index].key)
        txs.append(sign(key, index, nonces[index], chain_id, GOVERNANCE_ADDRESS, 0, data,
                        SETUP_GAS))
        nonces[index] += 1

    for proposal_id, data in enumerate(proposals, start=1):
        send(0, data)
        for voter in voters:
            send(voter, function("Governance", "vote").encode(proposal_id, True))
    return Setup(txs)


class AssetApply(Workload):
    name = "registry"
    description = "asset application (Registry.apply, native contract 0x…2003)"
    gas = APPLY_GAS

    def __init__(self, class_id: int = 1) -> None:
        self.class_id = class_id
        self.owners: list[str] = []

    def prepare(self, accounts: Sequence[BenchAccount], chain_id: int) -> Setup:
        self.owners = ["0x" + a.address.hex() for a in accounts]
        return class_setup(accounts, chain_id)

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        if not self.owners:
            raise RuntimeError("prepare() the registry workload before signing applications")
        external = keccak(b"consortium-bench-asset" + i.to_bytes(8, "big"))
        metadata = keccak(b"consortium-bench-metadata" + i.to_bytes(8, "big"))
        owner = self.owners[i % len(self.owners)]  # presign's sender of the i-th transaction
        return REGISTRY_ADDRESS, 0, CALLS.encode("apply", self.class_id, external, metadata,
                                                owner)


def signed_apply_txs(accounts: Sequence[BenchAccount], n: int, chain_id: int,
                     start_nonces: Sequence[int] | None = None,
                     class_id: int = 1) -> list[PreSigned]:
    """`n` signed `apply` transactions, round-robin over `accounts` (each the owner of its
    applications), nonces consecutive from `start_nonces` (after `class_setup`'s by default)."""
    workload = AssetApply(class_id)
    setup = workload.prepare(accounts, chain_id)
    nonces = list(start_nonces) if start_nonces is not None else setup.next_nonces(len(accounts))
    return presign(workload, accounts, n, chain_id, nonces)


__all__ = ["AssetApply", "class_setup", "signed_apply_txs", "votes_needed"]
