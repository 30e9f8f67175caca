"""JSON-RPC 2.0 errors as the API answers them, and the mapping from the node's own errors
(`rpc_error_for`), so that no traceback reaches a client."""

from __future__ import annotations

from typing import Any

from consortium.errors import ConsortiumError
from consortium.evm.native import revert_reason as error_reason

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # Ethereum clients' "generic" error (nonce too low, out of gas…)
RESOURCE_NOT_FOUND = -32001
LIMIT_EXCEEDED = -32005
EXECUTION_REVERTED = 3

PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
PANIC_REASONS = {
    0x00: "generic panic",
    0x01: "assert(false)",
    0x11: "arithmetic underflow or overflow",
    0x12: "division or modulo by zero",
    0x21: "enum overflow",
    0x22: "invalid encoded storage byte array accessed",
    0x31: "out-of-bounds array access; popping on an empty array",
    0x32: "out-of-bounds access of an array or bytesN",
    0x41: "out of memory",
    0x51: "uninitialized function",
}


class RpcError(Exception):
    """A JSON-RPC error object: `code`, `message` and optional `data` (any JSON value)."""

    code: int = SERVER_ERROR

    def __init__(self, message: str, *, code: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.data = data

    def to_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


class InvalidRequest(RpcError):
    code = INVALID_REQUEST  # not JSON-RPC 2.0 (not an object, no method, bad id…)


class MethodNotFound(RpcError):
    code = METHOD_NOT_FOUND  # no such method, or not over this transport


class InvalidParams(RpcError):
    code = INVALID_PARAMS  # missing, mistyped or out of range; the message names it


class LimitExceeded(RpcError):
    code = LIMIT_EXCEEDED  # too large a query (block range, result count, batch size)


class NotFound(RpcError):
    code = RESOURCE_NOT_FOUND  # a block or transaction a read needs does not exist (yet)


class ExecutionRevertedError(RpcError):
    """eth_call / eth_estimateGas reverted: the revert bytes go back as `data`."""

    code = EXECUTION_REVERTED

    def __init__(self, output: bytes, fallback: str = "") -> None:
        reason = revert_reason(output)
        message = (f"execution reverted: {reason}" if reason
                   else fallback if fallback.startswith("execution reverted")
                   else "execution reverted")
        super().__init__(message, data="0x" + output.hex())


def revert_reason(output: bytes) -> str | None:
    """The human reason in revert bytes: Error(string) or Panic(uint256), else None."""
    if output[:4] == PANIC_SELECTOR and len(output) == 36:
        code = int.from_bytes(output[4:], "big")
        return f"panic: {PANIC_REASONS.get(code, 'unknown panic code')} ({hex(code)})"
    return error_reason(output)


def rpc_error_for(exc: ConsortiumError) -> RpcError:
    """The JSON-RPC error a node error answers with (its `rpc_code` and message)."""
    if exc.rpc_code == EXECUTION_REVERTED:
        return ExecutionRevertedError(exc.data or b"", exc.message)
    data = "0x" + exc.data.hex() if exc.data else None
    return RpcError(exc.message or type(exc).__name__, code=exc.rpc_code, data=data)


def call_answer(result: Any) -> str:
    """An eth_call's answer (a `ledger.types.CallResult`, public or private): its output as
    hex; a revert as error 3 (`ExecutionRevertedError`) with its data; any other failure as
    its error."""
    if result.success:
        return "0x" + bytes(result.output).hex()
    if not result.error or result.error.startswith("execution reverted"):
        raise ExecutionRevertedError(result.output, result.error)
    raise RpcError(result.error)
