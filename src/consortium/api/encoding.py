"""Ethereum JSON-RPC values: hex quantities and data, addresses, hashes, block parameters,
call objects. Every parser takes `where` ("params[0].to"…) and raises `InvalidParams` with
it, so a client reads "params[1]: block number must be a hex quantity", not a stack trace."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from consortium.api.eth_json import hx
from consortium.api.rpc_error import InvalidParams

T = TypeVar("T")
D = TypeVar("D")

UINT256_MAX = (1 << 256) - 1
UINT64_MAX = (1 << 64) - 1
BLOCK_TAGS = ("latest", "pending", "safe", "finalized", "earliest")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


# --- output ------------------------------------------------------------------------------



# --- input -------------------------------------------------------------------------------


def quantity(value: Any, where: str, *, maximum: int = UINT256_MAX) -> int:
    """A QUANTITY: "0x" hex (JSON integers are accepted too, as many clients send them)."""
    if isinstance(value, bool):
        raise InvalidParams(f"{where}: expected a hex quantity, got a boolean")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        if not value.startswith(("0x", "0X")):
            raise InvalidParams(f"{where}: hex quantity must start with 0x, got {_show(value)}")
        digits = value[2:]
        if not digits or len(digits) > 64 or not _HEX_DIGITS.fullmatch(digits):
            raise InvalidParams(f"{where}: {_show(value)} is not a hex quantity")
        n = int(digits, 16)
    else:
        raise InvalidParams(f"{where}: expected a hex quantity string, got {_kind(value)}")
    if n < 0:
        raise InvalidParams(f"{where}: must not be negative")
    if n > maximum:
        raise InvalidParams(f"{where}: {n} is out of range (max {maximum})")
    return n


def data(value: Any, where: str, *, size: int | None = None, what: str = "data") -> bytes:
    """DATA: "0x" followed by an even number of hex digits (exactly `size` bytes if given)."""
    if not isinstance(value, str):
        raise InvalidParams(f"{where}: {what} must be a 0x hex string, got {_kind(value)}")
    if not value.startswith(("0x", "0X")):
        raise InvalidParams(f"{where}: {what} must start with 0x")
    digits = value[2:]
    if len(digits) % 2:
        raise InvalidParams(f"{where}: {what} has an odd number of hex digits")
    try:
        out = bytes.fromhex(digits)
    except ValueError:
        out = b""
    if len(out) * 2 != len(digits):  # not hex, or spaces (which fromhex skips)
        raise InvalidParams(f"{where}: {what} is not valid hex")
    if size is not None and len(out) != size:
        raise InvalidParams(f"{where}: {what} must be {size} bytes hex, got {len(out)}")
    return out


def address(value: Any, where: str) -> str:
    """A 20-byte address, answered as 0x lower-case hex (checksums are not enforced)."""
    return "0x" + data(value, where, size=20, what="address").hex()


def hash32(value: Any, where: str, *, what: str = "hash") -> str:
    """A 32-byte hash, answered as 0x lower-case hex."""
    return "0x" + data(value, where, size=32, what=what).hex()


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"{where}: expected true or false, got {_kind(value)}")
    return value


# --- block parameters ------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockRef:
    """A block parameter as given: a tag, a number, or (EIP-1898) a block hash."""

    tag: str | None = None
    number: int | None = None
    hash: str | None = None


LATEST = BlockRef(tag="latest")


def block_ref(value: Any, where: str, *, allow_hash: bool = True) -> BlockRef:
    """A block tag ("latest", "earliest"…), a hex number, or an EIP-1898 object
    {"blockNumber": …} / {"blockHash": …, "requireCanonical": …}."""
    if value is None:
        return LATEST
    if isinstance(value, str):
        if value in BLOCK_TAGS:
            return BlockRef(tag=value)
        if value.startswith(("0x", "0X")):
            if len(value) == 66 and allow_hash:
                return BlockRef(hash=hash32(value, where, what="block hash"))
            return BlockRef(number=quantity(value, where, maximum=UINT64_MAX))
        raise InvalidParams(f"{where}: block must be a hex number or one of "
                            f"{', '.join(BLOCK_TAGS)}, got {_show(value)}")
    if isinstance(value, int) and not isinstance(value, bool):
        return BlockRef(number=quantity(value, where, maximum=UINT64_MAX))
    if isinstance(value, dict) and allow_hash:
        if "blockHash" in value and "blockNumber" in value:
            raise InvalidParams(f"{where}: give blockHash or blockNumber, not both")
        if "blockHash" in value:
            canonical = value.get("requireCanonical", False)
            if not isinstance(canonical, bool):
                raise InvalidParams(f"{where}.requireCanonical: expected true or false")
            return BlockRef(hash=hash32(value["blockHash"], f"{where}.blockHash",
                                        what="block hash"))
        if "blockNumber" in value:
            return block_ref(value["blockNumber"], f"{where}.blockNumber", allow_hash=False)
        raise InvalidParams(f"{where}: block object needs blockHash or blockNumber")
    raise InvalidParams(f"{where}: expected a block number, tag or object, got {_kind(value)}")


# --- call objects (eth_call, eth_estimateGas) ------------------------------------------------

_CALL_QUANTITIES = ("gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value", "nonce",
                    "type", "chainId")
_CALL_IGNORED = frozenset(("blobVersionedHashes", "maxFeePerBlobGas", "authorizationList",
                           "sidecars"))


def call_object(value: Any, where: str) -> dict[str, Any]:
    """A transaction call object, validated and normalized to canonical JSON-RPC hex:
    addresses lower-case, quantities without leading zeros, `input`/`data` both set when
    either is given (they must agree if both are)."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{where}: transaction must be an object, got {_kind(value)}")
    out: dict[str, Any] = {}
    for key, raw in value.items():
        at = f"{where}.{key}"
        if raw is None or key in _CALL_IGNORED:
            continue
        if key in ("from", "to"):
            out[key] = address(raw, at)
        elif key in _CALL_QUANTITIES:
            out[key] = hex(quantity(raw, at))
        elif key in ("data", "input"):
            out[key] = hx(data(raw, at))
        elif key == "accessList":
            out[key] = _access_list(raw, at)
        else:
            raise InvalidParams(f"{at}: unknown transaction field")
    if "data" in out and "input" in out and out["data"] != out["input"]:
        raise InvalidParams(f"{where}: both data and input given, with different values")
    payload = out.get("input", out.get("data"))
    if payload is not None:
        out["input"] = out["data"] = payload
    return out


def _access_list(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidParams(f"{where}: access list must be an array")
    result = []
    for i, entry in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise InvalidParams(f"{at}: expected {{address, storageKeys}}")
        keys = entry.get("storageKeys", [])
        if not isinstance(keys, list):
            raise InvalidParams(f"{at}.storageKeys: must be an array")
        result.append({
            "address": address(entry.get("address"), f"{at}.address"),
            "storageKeys": [hash32(k, f"{at}.storageKeys[{j}]", what="storage key")
                            for j, k in enumerate(keys)],
        })
    return result


# --- positional parameters ------------------------------------------------------------------


class Params(list[Any]):
    """A method's positional parameters, read one by one with a parser each."""

    def __init__(self, raw: Any, method: str) -> None:
        raw = [] if raw is None else raw
        if not isinstance(raw, list):
            raise InvalidParams(f"{method}: params must be an array, got {_kind(raw)}")
        super().__init__(raw)
        self.method = method

    def required(self, index: int, parse: Callable[[Any, str], T]) -> T:
        if index >= len(self):
            raise InvalidParams(f"params[{index}]: missing value for required argument")
        return parse(self[index], f"params[{index}]")

    def optional(self, index: int, parse: Callable[[Any, str], T], default: D) -> T | D:
        if index >= len(self) or self[index] is None:
            return default
        return parse(self[index], f"params[{index}]")

    def at_most(self, count: int) -> None:
        if len(self) > count:
            raise InvalidParams(f"too many arguments, want at most {count}, got {len(self)}")


def list_of(parse: Callable[[Any, str], T]) -> Callable[[Any, str], list[T]]:
    """A parser for "one value or an array of values" of the same kind."""

    def parse_list(value: Any, where: str) -> list[T]:
        if isinstance(value, list):
            return [parse(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return [parse(value, where)]

    return parse_list


def topics(value: Any, where: str) -> list[str | Sequence[str] | None]:
    """Log topic criteria: per position null (any), one topic, or an array (any of)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidParams(f"{where}: topics must be an array")
    if len(value) > 4:
        raise InvalidParams(f"{where}: at most 4 topic positions, got {len(value)}")
    result: list[str | Sequence[str] | None] = []
    for i, entry in enumerate(value):
        at = f"{where}[{i}]"
        if entry is None:
            result.append(None)
        elif isinstance(entry, list):
            options = [hash32(t, f"{at}[{j}]", what="topic") for j, t in enumerate(entry)]
            result.append(options or None)
        else:
            result.append(hash32(entry, at, what="topic"))
    return result


def _kind(value: Any) -> str:
    kinds = {type(None): "null", bool: "a boolean", int: "a number", float: "a number",
             str: "a string", list: "an array", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")

