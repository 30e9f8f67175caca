"""One hierarchy of errors for the whole node.

Each error carries the ABCI code CheckTx/FinalizeBlock report and the JSON-RPC code the API
answers with, so CheckTx, the RPC layer and the CLI name the same reason the same way.
Codes are part of the protocol: never renumber one, only add.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class ConsortiumError(Exception):
    """Base of every error this package raises on purpose."""

    abci_code: int = 1
    rpc_code: int = -32000

    def __init__(self, message: str, *, data: bytes | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


# --- set-up and operation (never reach the ledger) ------------------------------------------


class ConfigError(ConsortiumError):
    """A configuration file, genesis or CLI argument is malformed or inconsistent."""


@contextmanager
def as_config_error(kind: type[ValueError] = ValueError) -> Iterator[None]:
    """A bad value (`kind`: a field, filter or argument refused) raised as a ConfigError
    with its message, which the CLI prints on one line."""
    try:
        yield
    except kind as exc:
        raise ConfigError(str(exc)) from None


def known(value: T | None, message: str) -> T:
    """`value`, or a ConfigError with `message` when a lookup found nothing (None)."""
    if value is None:
        raise ConfigError(message)
    return value


class BadValue(ConfigError):
    """A value is malformed; the message names where and what was expected."""


class EngineError(ConsortiumError):
    """The CometBFT engine is missing, the wrong version, or could not be built."""


class NetworkError(ConsortiumError):
    """A local network cannot be created, started or reached (ports in use, no nodes live)."""


class LimitExceeded(ConsortiumError):
    """A read asks for more than a node serves in one answer (e.g. eth_getLogs results)."""

    rpc_code = -32005


class TooManyRequests(LimitExceeded):
    """A client, or the node as a whole, has as many expensive reads in progress as it may
    (HTTP 429, with Retry-After); nothing of the refused request ran."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- transactions (CheckTx and execution) ----------------------------------------------------


class TxError(ConsortiumError):
    """A transaction is refused; subclasses give the precise reason and code."""

    abci_code = 2
    rpc_code = -32000


class MalformedTx(TxError):
    """The bytes are not a decodable Ethereum signed transaction."""

    abci_code = 2
    rpc_code = -32602


class UnsupportedTxType(TxError):
    """A transaction type we do not accept (blob transactions, unknown types)."""

    abci_code = 3
    rpc_code = -32602


class WrongChainId(TxError):
    """Signed for another chain, or an unprotected (pre-EIP-155) legacy transaction."""

    abci_code = 4
    rpc_code = -32000


class BadSignature(TxError):
    """The signature does not recover to a valid sender."""

    abci_code = 5
    rpc_code = -32000


class NonceTooLow(TxError):
    """The nonce was already used (a replay), counting pending transactions."""

    abci_code = 6
    rpc_code = -32000


class NonceTooHigh(TxError):
    """The nonce leaves a gap after the sender's pending transactions."""

    abci_code = 7
    rpc_code = -32000


class NotPermitted(TxError):
    """The sender is not an active consortium account, is frozen, or lacks a role."""

    abci_code = 8
    rpc_code = -32003


class GasLimitError(TxError):
    """Gas limit below the intrinsic cost or above the block gas limit."""

    abci_code = 9
    rpc_code = -32000


class TxTooLarge(TxError):
    """The encoded transaction exceeds the size limit."""

    abci_code = 10
    rpc_code = -32000


class InsufficientFunds(TxError):
    """The sender's balance cannot cover the value transferred."""

    abci_code = 11
    rpc_code = -32000


class ExecutionReverted(TxError):
    """The EVM or a native contract reverted; `data` holds the revert bytes."""

    abci_code = 20
    rpc_code = 3


class MempoolFull(TxError):
    """The engine refused the transaction for capacity, not validity."""

    abci_code = 30
    rpc_code = -32005


class SenderHasCode(TxError):
    """EIP-3607: the sender's account has code, so it is not an externally owned account."""

    abci_code = 12
    rpc_code = -32000


class InitcodeTooLarge(TxError):
    """EIP-3860: a creation transaction's initcode exceeds 49,152 bytes."""

    abci_code = 13
    rpc_code = -32000


class FeeCapTooLow(TxError):
    """maxFeePerGas (gasPrice) is below the block's base fee (EIP-1559)."""

    abci_code = 14
    rpc_code = -32000


def tx_error_classes() -> list[type[TxError]]:
    """Every transaction error class, for mapping codes back to errors."""
    found: list[type[TxError]] = []
    stack: list[type[TxError]] = [TxError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def error_for_abci_code(code: int, message: str, data: bytes | None = None) -> TxError:
    """The error a CheckTx/ExecTxResult code stands for (the RPC layer answers with it)."""
    for cls in tx_error_classes():
        # only the protocol's own classes: a subclass elsewhere (the SDK's TxFailed) inherits
        # a code without standing for it
        if cls.abci_code == code and cls is not TxError and cls.__module__ == __name__:
            return cls(message, data=data)
    return TxError(message, data=data)


# --- bounded reads (eth_call, eth_estimateGas, eth_getLogs) ----------------------------------


class CallTimeout(ConsortiumError):
    """A read ran past its wall-clock budget and was stopped (geth: "execution aborted
    (timeout = 5s)")."""

    rpc_code = -32000


class CallCancelled(ConsortiumError):
    """A read was stopped because its client went away (or the node is stopping)."""

    rpc_code = -32000


class HistoryNotHere(ConsortiumError):
    """A read of a height before the snapshot this node was restored from by state sync:
    the blocks and states before it were never on this node (docs/state-sync.md)."""
