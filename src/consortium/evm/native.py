"""Native contracts: Python classes served at fixed addresses as EVM precompiles.

A native contract subclasses `NativeContract`, sets its `address`, and declares its methods
with their Solidity signature:

    @register
    class Crypto(NativeContract):
        address = native_address(0x1003)

        @method("sm3(bytes)", returns="bytes32", view=True)
        def sm3(self, data: bytes) -> bytes: ...

Calls arrive ABI-encoded (eth-abi) and answers leave ABI-encoded, so web3 tools and EVM
contracts call natives like any contract. A native sees only its `Host` (`consortium.evm.
storage`): caller, value, block facts, typed storage over its own EVM storage slots (so the
state root covers it), logs, revert with a reason, calls to other contracts. It never sees
py-evm objects, so the engine behind the host can be replaced.

Errors: `self.revert("reason")` reverts with Solidity's Error(string) encoding; any other
Python exception reverts with the exception's type name only (its text may hold memory
addresses, which would differ between nodes). Gas follows `NATIVE_GAS`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Generic, NoReturn, TypeVar, overload

from eth_hash.auto import keccak

from consortium.evm.abi_codec import (
    Encoder,
    TypeList,
    picking_encoder,
    type_list,
    value_encoder,
)
from consortium.evm.abi_codec import decode as abi_decode
from consortium.evm.abi_codec import encode as abi_encode
from consortium.evm.storage import Host, Storage

NATIVE_STUB_CODE = b"\xfe"  # INVALID: never executed, the precompile answers first
ERROR_SELECTOR = keccak(b"Error(string)")[:4]

# The gas schedule of every native contract: simple, deterministic, in one place.
NATIVE_GAS: dict[str, int] = {
    "call": 700,  # every call into a native
    "word": 3,  # per 32-byte word of input and of output
    "sload": 2_100,
    "sstore": 20_000,  # any write under gas schedule 1; setting an empty slot under 2
    "sstore_change": 2_900,  # schedule 2: changing or clearing a set slot (EIP-2929's reset)
    "sstore_same": 100,  # schedule 2: writing the value a slot holds (EIP-2929's warm read)
    "log": 375,
    "log_topic": 375,
    "log_byte": 8,
    "subcall": 2_600,  # a call from a native to another contract (plus the gas it uses)
    # Crypto
    "keccak": 30,
    "keccak_word": 6,
    "sm3": 60,
    "sm3_word": 12,
    # gmssl's pure-Python SM2 verification takes ~10 ms here; py-evm executes ~50 M gas/s,
    # so a verification is priced like 10 ms of EVM work
    "sm2_verify": 500_000,
}


# The chain's native gas schedule (the chain rule `consortium.evm.chain_rules.NATIVE_GAS_RULE`)
# decides what a native's storage write pays. 1: every write `sstore` (20,000). 2: by the
# slot's present value, as the EVM prices SSTORE (EIP-2200/2929, without refunds): setting
# an empty slot `sstore`, changing or clearing a set one `sstore_change`, leaving it as it
# is `sstore_same`. Everything else is the same under both.

def write_gas(schedule: int, present: int, value: int) -> int:
    """What writing `value` over `present` costs a native under gas schedule `schedule`
    (a value no slot holds, a negative one say, is never "the same")."""
    if schedule < 2:
        return NATIVE_GAS["sstore"]
    if present == value:
        return NATIVE_GAS["sstore_same"]
    return NATIVE_GAS["sstore"] if present == 0 else NATIVE_GAS["sstore_change"]


# the prices every call and event pays, read once (the schedule above is their one source)
_CALL_GAS, _WORD_GAS = NATIVE_GAS["call"], NATIVE_GAS["word"]
_LOG_GAS, _TOPIC_GAS, _LOG_BYTE_GAS = NATIVE_GAS["log"], NATIVE_GAS["log_topic"], \
    NATIVE_GAS["log_byte"]


def log_gas(topics: Sequence[bytes], data: bytes) -> int:
    """A native's log costs the same on both engines; at most 4 topics, as LOG4."""
    n = len(topics)
    if n > 4:
        raise ValueError("at most 4 topics")
    return _LOG_GAS + _TOPIC_GAS * n + _LOG_BYTE_GAS * len(data)


def child_gas(available: int, asked: int | None) -> int:
    """A native's subcall gets what EIP-150 leaves it (all but a 64th of what is left),
    or less if the native asks for less: one rule for both engines."""
    gas = available - available // 64
    return gas if asked is None else min(gas, asked)


def native_address(n: int) -> bytes:
    """The 20-byte address 0x000…n (natives sit at small, fixed addresses)."""
    return n.to_bytes(20, "big")


class NativeRevert(Exception):
    """Raised by `NativeContract.revert`: the call reverts with `reason` (Error(string)),
    or with the raw revert bytes `data` when given (b"": a revert without a reason)."""

    def __init__(self, reason: str, data: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data


def error_data(reason: str) -> bytes:
    """Solidity's revert encoding of a reason string."""
    return ERROR_SELECTOR + abi_encode(["string"], [reason])


def revert_output(exc: Exception) -> bytes:
    """What a native's failed call returns, alike on both engines: a `NativeRevert`'s reason
    or raw bytes; for a bug only the exception's type name (its text may differ by node)."""
    if isinstance(exc, NativeRevert):
        return error_data(exc.reason) if exc.data is None else exc.data
    return error_data(type(exc).__name__)


def delegatecall_refusal(cls: type[NativeContract]) -> bytes:
    """A native answers only at its own address: DELEGATECALL or CALLCODE reverts so."""
    return error_data(f"{cls.__name__} cannot be called with DELEGATECALL or CALLCODE")


def revert_reason(output: bytes) -> str | None:
    """The reason of an Error(string) revert, or None (no reason, or not that encoding)."""
    if output[:4] != ERROR_SELECTOR:
        return None
    try:
        (reason,) = abi_decode(["string"], output[4:])
    except Exception:
        return None
    return str(reason)


def split_types(inner: str) -> list[str]:
    """Top-level comma split of an ABI type list ("uint256,(bytes,bool)[]" -> two types)."""
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _parse_signature(signature: str) -> tuple[str, list[str]]:
    signature = signature.replace(" ", "")
    name, _, rest = signature.partition("(")
    if not name or not rest.endswith(")"):
        raise ValueError(f"not a Solidity signature: {signature!r}")
    return name, split_types(rest[:-1])


@dataclass(frozen=True)
class MethodSpec:
    name: str
    signature: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    view: bool
    payable: bool
    fn: Callable[..., Any]
    args: TypeList  # the arguments' codec
    results: TypeList  # the answer's codec

    def abi(self) -> dict[str, Any]:
        params = list(inspect.signature(self.fn).parameters)[1:]
        names = params if len(params) == len(self.inputs) else [""] * len(self.inputs)
        mutability = "view" if self.view else ("payable" if self.payable else "nonpayable")
        return {
            "type": "function",
            "name": self.name,
            "inputs": [_abi_param(t, n) for t, n in zip(self.inputs, names, strict=True)],
            "outputs": [_abi_param(t, "") for t in self.outputs],
            "stateMutability": mutability,
        }


def _abi_param(type_str: str, name: str) -> dict[str, Any]:
    if type_str.startswith("("):
        close = type_str.rindex(")")
        inner, suffix = type_str[1:close], type_str[close + 1:]
        return {"name": name, "type": "tuple" + suffix,
                "components": [_abi_param(t, "") for t in split_types(inner)]}
    return {"name": name, "type": type_str}


def method(signature: str, *, returns: str | Sequence[str] = (), view: bool = False,
           payable: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a native method by its Solidity signature and return type(s)."""
    name, inputs = _parse_signature(signature)
    canonical = f"{name}({','.join(inputs)})"
    outputs = (returns,) if isinstance(returns, str) else tuple(returns)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__native_method__ = MethodSpec(  # type: ignore[attr-defined]
            name, canonical, keccak(canonical.encode())[:4], tuple(inputs), outputs, view,
            payable, fn, type_list(tuple(inputs)), type_list(outputs),
        )
        return fn

    return decorate


def view(signature: str, returns: str | tuple[str, ...], args: tuple[str, ...],
         answer: Callable[..., Any]) -> Any:
    """A view answering `answer(contract, *arguments)`, its ABI inputs named `args`: the one
    builder of the natives' one-line reads (`memberCount()`, a service's declared reads)."""

    def read(self: NativeContract, *values: Any) -> Any:
        return answer(self, *values)

    read.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in ("self", *args)])
    return method(signature, returns=returns, view=True)(read)


@dataclass(frozen=True)
class EventSpec:
    """An event declared like Solidity's parameter list, named by the class attribute it is
    assigned to: `Verified = event("address indexed caller", "bool ok")`."""

    name: str
    params: tuple[tuple[str, str, bool], ...]  # (type, name, indexed)

    @property
    def signature(self) -> str:
        if not self.name:
            raise TypeError("an event declared by its parameters is named by the contract "
                            "attribute it is assigned to")
        return f"{self.name}({','.join(t for t, _, _ in self.params)})"

    @cached_property
    def topic0(self) -> bytes:
        return keccak(self.signature.encode())

    @cached_property
    def _plan(self) -> tuple[int, tuple[tuple[int, Encoder], ...],
                             Callable[[Sequence[Any]], bytes]]:
        """The parameter count; the indexed parameters' places with their topic's codec (a
        value type's own, a dynamic value's hash); the data's encoder, which takes the other
        parameters from all of them. Made once per event."""
        topics: list[tuple[int, Encoder]] = []
        data: list[int] = []
        for i, (type_str, _, indexed) in enumerate(self.params):
            if not indexed:
                data.append(i)
            elif type_str in ("bytes", "string") or type_str.endswith("]"):
                topics.append((i, _hashed_topic))
            else:
                topics.append((i, value_encoder(type_str)))
        data_types = tuple(self.params[i][0] for i in data)
        return len(self.params), tuple(topics), picking_encoder(data_types, tuple(data))

    def encode(self, *args: Any) -> tuple[list[bytes], bytes]:
        count, topic_plan, data = self._plan
        if len(args) != count:
            raise TypeError(f"{self.name} takes {count} values")
        topics = [self.topic0]
        topics += [codec(args[i]) for i, codec in topic_plan]
        return topics, data(args)

    def __set_name__(self, owner: Any, name: str) -> None:
        if not self.name:  # a contract's declaration says its name once: the attribute's
            object.__setattr__(self, "name", name)

    def abi(self) -> dict[str, Any]:
        return {
            "type": "event",
            "name": self.name,
            "anonymous": False,
            "inputs": [{"name": n, "type": t, "indexed": i} for t, n, i in self.params],
        }


def _hashed_topic(value: Any) -> bytes:
    """An indexed dynamic value's topic: the keccak of its bytes (a string's UTF-8)."""
    return keccak(value.encode() if isinstance(value, str) else bytes(value))


def event(*params: str) -> EventSpec:
    """`event("uint256 indexed id", "string reason")` as a contract's attribute: its
    parameters, one a string ("type [indexed] name"), its name the attribute's. A whole
    declaration, `event("Verified(address indexed caller, bool ok)")`, names it itself."""
    name = ""
    if len(params) == 1 and params[0].rstrip().endswith(")") and params[0][:1].isalpha():
        name, _, rest = params[0].strip().partition("(")
        params = tuple(split_types(rest.rstrip().removesuffix(")")))
    parsed = []
    for part in params:
        words = part.split()
        indexed = "indexed" in words
        words = [w for w in words if w != "indexed"]
        parsed.append((words[0], words[1] if len(words) > 1 else "", indexed))
    return EventSpec(name.strip(), tuple(parsed))


V = TypeVar("V")


class StateOf(Generic[V]):
    """`state = StateOf(InvoiceState)`: a contract's typed view of its storage slots, made
    on first use from `contract.storage` (a view keeps nothing but the storage it reads);
    `StateOf(PermissionsState, PERMISSIONS_ADDRESS)`: another native's, read-only."""

    def __init__(self, view: Callable[[Storage], V], at: bytes | None = None) -> None:
        self.view, self.at = view, at
        self.name = ""

    def __set_name__(self, owner: Any, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, contract: None, owner: Any = None) -> StateOf[V]: ...
    @overload
    def __get__(self, contract: NativeContract, owner: Any = None) -> V: ...
    def __get__(self, contract: NativeContract | None, owner: Any = None) -> V | StateOf[V]:
        if contract is None:
            return self
        view = self.view(contract.storage if self.at is None else Storage(contract.host, self.at))
        if self.name:  # kept for the rest of the call, as cached_property does: a view is
            contract.__dict__[self.name] = view  # stateless, and a contract lives one call
        return view


class _OwnStorage:
    """`contract.storage`: typed access to the native's own storage slots, made on first use
    (a call that reads no storage pays nothing for it) and kept for the call: what
    functools.cached_property does, without the lock it takes on each first use (3.11)."""

    @overload
    def __get__(self, contract: None, owner: Any = None) -> _OwnStorage: ...
    @overload
    def __get__(self, contract: NativeContract, owner: Any = None) -> Storage: ...
    def __get__(self, contract: NativeContract | None,
                owner: Any = None) -> Storage | _OwnStorage:
        if contract is None:
            return self
        storage = contract.__dict__["storage"] = Storage(contract.host)
        return storage


class NativeContract:
    """Base of every native contract. Subclasses set `address` and declare methods."""

    address: ClassVar[bytes]
    _methods: ClassVar[dict[bytes, MethodSpec]] = {}

    def __init__(self, host: Host) -> None:
        self.host = host

    storage = _OwnStorage()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        methods: dict[bytes, MethodSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                spec = getattr(attr, "__native_method__", None)
                if spec is not None:
                    methods[spec.selector] = spec
        cls._methods = methods

    # --- what subclasses use ---------------------------------------------------------------

    def revert(self, reason: str) -> NoReturn:
        raise NativeRevert(reason)

    def fail_without_reason(self) -> NoReturn:
        """Revert with empty revert data, as the EVM does when a call runs out of gas: for
        passing on a failure that had no reason."""
        raise NativeRevert("", data=b"")

    def require(self, condition: bool, reason: str) -> None:
        if not condition:
            raise NativeRevert(reason)

    def require_id(self, ident: int, count: int, noun: str) -> int:
        """`ident` if it names one of `count` objects numbered from 1, else "no <noun> <id>"."""
        if not 1 <= ident <= count:
            self.revert(f"no {noun} {ident}")
        return ident

    @staticmethod
    def is_native(address: bytes) -> bool:
        """Whether a native contract (system or service) is registered at `address`."""
        return bytes(address) in _REGISTRY

    def emit(self, spec: EventSpec, *args: Any) -> None:
        self.host.emit(*spec.encode(*args))

    # --- description -----------------------------------------------------------------------

    @classmethod
    def methods(cls) -> dict[bytes, MethodSpec]:
        return dict(cls._methods)

    @classmethod
    def events(cls) -> list[EventSpec]:
        return [v for k in reversed(cls.__mro__) for v in vars(k).values()
                if isinstance(v, EventSpec)]

    @classmethod
    def abi(cls) -> list[dict[str, Any]]:
        """The contract's ABI, as solc/vyper would emit it (functions, then events)."""
        functions = sorted((m.abi() for m in cls._methods.values()), key=lambda f: f["name"])
        return functions + [e.abi() for e in cls.events()]

    # --- dispatch (called by the host adapter) ---------------------------------------------

    def dispatch(self, calldata: bytes) -> bytes:
        host = self.host
        host.charge(_CALL_GAS + _WORD_GAS * _words(len(calldata)))
        if len(calldata) < 4:
            self.revert(f"{type(self).__name__}: no method selector in call data")
        calldata = bytes(calldata)
        spec = self._methods.get(calldata[:4])
        if spec is None:
            self.revert(f"{type(self).__name__}: unknown method 0x{calldata[:4].hex()}")
        if not spec.payable and host.value:
            self.revert(f"{spec.signature} is not payable")
        try:
            args = spec.args.decode(calldata[4:])
        except Exception:
            self.revert(f"bad arguments for {spec.signature}")
        result = spec.fn(self, *args)
        if not spec.outputs:
            return b""
        values = (result,) if len(spec.outputs) == 1 else tuple(result)
        output = spec.results.encode(values)
        host.charge(_WORD_GAS * _words(len(output)))
        return output


def _words(n: int) -> int:
    return (n + 31) // 32


# --- the registry ---------------------------------------------------------------------------

_REGISTRY: dict[bytes, type[NativeContract]] = {}
# Told of every native registered, before and after they subscribe: how an engine serves
# the natives (py-evm installs precompiles, `consortium.evm.host.serve_natives`) without this
# module knowing any engine.
_LISTENERS: list[Callable[[type[NativeContract]], None]] = []


def register(cls: type[NativeContract]) -> type[NativeContract]:
    """Serve `cls` at `cls.address` (class decorator; idempotent for the same class)."""
    address = bytes(cls.address)
    if len(address) != 20:
        raise ValueError(f"{cls.__name__}.address must be 20 bytes")
    existing = _REGISTRY.get(address)
    if existing is not None and existing is not cls:
        raise ValueError(f"0x{address.hex()} is already {existing.__name__}")
    _REGISTRY[address] = cls
    for listener in _LISTENERS:
        listener(cls)
    return cls


def on_register(listener: Callable[[type[NativeContract]], None]) -> None:
    """Call `listener` with every native registered so far and every one registered later
    (idempotent for the same function)."""
    if listener in _LISTENERS:
        return
    _LISTENERS.append(listener)
    for cls in list(_REGISTRY.values()):
        listener(cls)


def registered_natives() -> dict[bytes, type[NativeContract]]:
    """Every registered native, by address."""
    return dict(_REGISTRY)


def native_abi(address: bytes) -> list[dict[str, Any]] | None:
    cls = _REGISTRY.get(bytes(address))
    return None if cls is None else cls.abi()


class NativeCalls:
    """Encode calls to a native contract's methods by name, decode their answers."""

    def __init__(self, cls: type[NativeContract]) -> None:
        self.cls = cls
        self.specs: dict[str, MethodSpec] = {s.name: s for s in cls.methods().values()}

    def encode(self, name: str, *args: Any) -> bytes:
        spec = self.specs[name]
        return spec.selector + spec.args.encode(args)  # the method's own codecs, made once

    def decode(self, name: str, output: bytes) -> Any:
        values = self.specs[name].results.decode(output)
        return values[0] if len(values) == 1 else values
