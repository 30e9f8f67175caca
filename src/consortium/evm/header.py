"""The block environment a block executes in, built from consensus data only.

Mapping from a CometBFT block to the EVM's block fields:
- number      = the CometBFT height;
- timestamp   = the block time in whole seconds, never below the parent's (clock rule 2:
                chains made now, or from the software upgrade `evm-clock-2` on): blocks
                within one second share it, as in Ethermint and other sub-second EVM chains.
                Clock rule 1 (chains made before) takes max(block time, parent + 1): a strictly
                increasing clock which, under sub-second blocks (an idle chain makes one
                every ~0.55 s), runs ahead of wall time without bound (~0.45 s a block, hours
                a day). The rule is the chain rule `consortium.evm.chain_rules.EVM_CLOCK_RULE`;
- coinbase    = the proposer's 20-byte CometBFT address (gas fees, if any, go there);
- prevrandao  = supplied by the caller from consensus data (mixHash in the header);
- gas limit   = the genesis block gas limit, constant (no EIP-1559 drift);
- base fee    = 0 always, so zero-price transactions stay valid; difficulty 0;
- BLOCKHASH   = the hashes of the previous (up to 256) blocks, newest first.
Nothing comes from the local clock or a random source.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.vm.execution_context import ExecutionContext
from eth_typing import Address, BlockNumber, Hash32

ZERO_HASH = b"\x00" * 32
ZERO_ADDRESS = b"\x00" * 20
BLOCKHASH_WINDOW = 256


def block_timestamp(time_ns: int, parent_timestamp: int, rule: int = 1) -> int:
    """The EVM timestamp of a block whose consensus time is `time_ns`, under clock rule
    `rule` (see the module's description)."""
    if rule >= 2:
        return max(time_ns // 1_000_000_000, parent_timestamp)
    return max(time_ns // 1_000_000_000, parent_timestamp + 1)


def as_address(raw: bytes) -> bytes:
    """A 20-byte address from consensus bytes (empty or short values are left-padded)."""
    if len(raw) >= 20:
        return bytes(raw[-20:])
    return bytes(raw).rjust(20, b"\x00")


@dataclass(frozen=True)
class BlockEnv:
    number: int
    timestamp: int
    coinbase: bytes  # 20 bytes
    prevrandao: bytes  # 32 bytes
    gas_limit: int
    chain_id: int
    prev_hashes: tuple[bytes, ...] = ()  # newest first, at most 256

    def execution_context(self) -> ExecutionContext:
        return ExecutionContext(
            coinbase=Address(self.coinbase),
            timestamp=self.timestamp,
            block_number=BlockNumber(self.number),
            difficulty=0,
            mix_hash=Hash32(self.prevrandao),
            gas_limit=self.gas_limit,
            prev_hashes=[Hash32(h) for h in self.prev_hashes[:BLOCKHASH_WINDOW]],
            chain_id=self.chain_id,
            base_fee_per_gas=0,
            excess_blob_gas=0,
        )
