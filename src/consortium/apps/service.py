"""What every service's contract and reader share: a native-contract base with the role
checks every write makes (`ServiceContract`), and reads by method name, batched, filtered
and with histories (`ServiceReader`)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from importlib import import_module
from typing import Any, ClassVar, overload

from consortium.apps.surface import PAGE_LIMIT, Call, Logs, encoded
from consortium.evm.abi_codec import decode as abi_decode
from consortium.evm.host import Storage
from consortium.evm.native import EventSpec, NativeCalls, NativeContract, StateOf, event, view
from consortium.evm.records import StateView, WordSet, hex0x
from consortium.system.model import GOVERNANCE_ADDRESS, PERMISSIONS_ADDRESS, role_bit
from consortium.system.permissions import as_address, hex_address
from consortium.system.state import PermissionsState

ZERO_ADDRESS = b"\x00" * 20
ZERO_HASH = b"\x00" * 32
MAX_REASON = 256  # bytes of a reason string
MAX_BATCH_READ = 1000  # objects read in one call


class _Height:
    """`contract.height`: the block's number, read from the host on first use and kept for
    the call (a contract lives one call; an order asks for it about seven times)."""

    @overload
    def __get__(self, contract: None, owner: Any = None) -> _Height: ...
    @overload
    def __get__(self, contract: ServiceContract, owner: Any = None) -> int: ...
    def __get__(self, contract: ServiceContract | None, owner: Any = None) -> int | _Height:
        if contract is None:
            return self
        height: int = contract.host.block.number
        contract.__dict__["height"] = height
        return height


class ServiceContract(NativeContract):
    """A service's contract: role checks against Permissions (0x…1001), the Governance
    caller, bounded texts. Not registered itself (it has no address)."""

    batch_limit: ClassVar[int] = MAX_BATCH_READ  # objects one batched read answers

    height = _Height()

    @property
    def caller(self) -> bytes:
        return self.host.caller

    perms = StateOf(PermissionsState, PERMISSIONS_ADDRESS)  # roles and freezes, read-only

    def has_role(self, account: bytes, role: str) -> bool:
        return bool(self.perms.role_bits(account) & role_bit(role))

    # the checks below format their reason only when they revert: every write makes some
    def require_role(self, account: bytes, role: str, action: str) -> None:
        if not self.has_role(account, role):
            self.revert(f"{hex_address(account)} does not hold the {role} role needed to {action}")

    def by_governance(self) -> bool:
        """Whether this call is Governance's (an app-call proposal that passed)."""
        return self.host.caller == GOVERNANCE_ADDRESS

    def require_governance(self, action: str) -> None:
        self.require(self.by_governance(), f"only the Governance contract may {action}: "
                                           "propose it (an app-call proposal)")

    def require_valid(self, problem: str | None) -> None:
        """Revert with a model check's problem (`currency_problem(…)`, say), if it found one."""
        if problem:
            self.revert(problem)

    def require_text(self, text: str, what: str, limit: int = MAX_REASON, *,
                     required: bool = True) -> None:
        if required and not text.strip():
            self.revert(f"a {what} is required")
        if len(text.encode()) > limit:
            self.revert(f"the {what} is longer than {limit} bytes")

    def require_account(self, account: str, missing: str) -> bytes:
        """An address argument as 20 bytes; reverts with `missing` if it is zero."""
        raw = as_address(account)
        self.require(any(raw), missing)
        return raw

    def require_hash(self, value: bytes, what: str) -> bytes:
        """A bytes32 argument as bytes; reverts "the <what> is zero" if it is."""
        raw = bytes(value)
        if not any(raw):
            self.revert(f"the {what} is zero")
        return raw

    def require_batch(self, ids: list[Any], what: str = "objects") -> None:
        limit = self.batch_limit
        if len(ids) > limit:
            self.revert(f"at most {limit} {what} in one read")

    def require_known(self, value: str, names: tuple[str, ...], what: str) -> None:
        if value not in names:
            self.revert(f"unknown {what} {value!r} ({what.split()[-1]}s: {', '.join(names)})")


def keyed_reads(one: str, many: str, args: tuple[str, str], returns: str,
                answer: Callable[[Any, Any], tuple[Any, ...]], what: str = "objects"
                ) -> tuple[Any, Any]:
    """A record's two views, `one(key)` and `many(keys)` (at most `batch_limit`), each
    answering `answer(contract, key)`: `consent(uint256)` and `consentsOf(uint256[])`, say.
    `args` names their parameters in the ABI."""

    def get_many(self: ServiceContract, keys: list[Any]) -> list[tuple[Any, ...]]:
        self.require_batch(keys, what)
        return [answer(self, k) for k in keys]

    return (view(one, returns, args[:1], answer),
            view(many, returns + "[]", args[1:], get_many))


def transition(key: str) -> EventSpec:
    """A service's transition event, `<Name>(<type> indexed <arg>, address indexed actor,
    string fromState, string toState, string reason)` for `key` "<type> <arg>", named by
    the attribute it is assigned to."""
    type_, arg = key.split()
    return event(f"{type_} indexed {arg}", "address indexed actor", "string fromState",
                 "string toState", "string reason")


def count_read(signature: str, slot: int) -> Any:
    """A view answering the counter at `slot` (`consentCount()`, say)."""
    return view(signature, "uint256", (), lambda c: c.storage.get_uint(slot))


def state_read(signature: str, states: tuple[str, ...], what: str,
               returns: str = "uint256[]") -> Any:
    """A view answering the objects in one state, `assetsByState(string)` say, from the
    contract state's `by_state(state)`: ids ascending, fingerprints (bytes32) as stored; an
    unknown state reverts naming the `what`s."""

    def read(self: Any, state: str) -> list[Any]:
        self.require_known(state, states, what)
        found = self.state.by_state(state)
        return words(found) if returns == "bytes32[]" else sorted(found)

    return view(signature, returns, ("state",), read)


def index_read(signature: str, arg: str, slot: int, *, sort: bool = False,
               returns: str = "uint256[]") -> Any:
    """A view answering the members of the index (a `WordSet`) at `slot` keyed by its one
    argument, `arg` (an address or a number): `consentsBySubject(address)`, say."""

    def read(self: ServiceContract, key: Any) -> list[Any]:
        found = WordSet(self.storage, Storage.at(slot, as_address(key) if isinstance(
            key, str) else key))
        ids = sorted(found) if sort else list(found)
        return words(ids) if returns == "bytes32[]" else ids

    return view(signature, returns, (arg,), read)


class ServiceReader:
    """Reads of one service's contract through `call` (an eth_call: the client's web3 or
    the API's ledger) and `logs` (for histories), answered as JSON-ready dicts."""

    address: ClassVar[bytes]
    calls: ClassVar[NativeCalls]
    histories: ClassVar[dict[str, EventSpec]] = {}
    batch_limit: ClassVar[int] = MAX_BATCH_READ  # objects one batched read asks for

    def __init__(self, call: Call, logs: Logs | None = None) -> None:
        self._call = call
        self._logs = logs

    def _read(self, name: str, *args: Any) -> Any:
        # a value the ABI cannot hold is BadValue naming it (the API's 400 / -32602)
        return self.calls.decode(name, self._call(self.address, encoded(self.calls, name, *args)))

    def _many(self, name: str, ids: list[Any], shape: Callable[[Any], dict[str, Any]]
              ) -> list[dict[str, Any]]:
        """The objects of `ids`, read `batch_limit` at a time by `name` (e.g. recordsOf)."""
        step = self.batch_limit
        return [shape(t) for start in range(0, len(ids), step)
                for t in self._read(name, ids[start:start + step])]

    def _exists(self, count: str, object_id: int) -> bool:
        return 1 <= object_id <= int(self._read(count))

    def _matching(self, count: str, indexes: dict[str, Any]) -> Sequence[int]:
        """Ids in every index given (method -> its argument; None: no filter), ascending;
        every id 1..count() without one."""
        lists = [self._read(m, lowered(arg)) for m, arg in indexes.items() if arg is not None]
        if not lists:
            return range(1, int(self._read(count)) + 1)
        return sorted(set(lists[0]).intersection(*lists[1:]))

    def _page(self, ids: Sequence[int], read: Callable[[list[int]], list[dict[str, Any]]],
              after: int = 0, limit: int = PAGE_LIMIT,
              keep: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """One page of a list read: the objects of the ascending `ids` above `after` that
        `keep` accepts, at most `limit`. They are read a batch at a time (the first the
        page's size, then doubling), so a page costs what it holds and what the filters
        pass over on the way, not the whole list; the next page starts after its last id."""
        if not 1 <= limit <= PAGE_LIMIT:
            raise ValueError(f"limit must be 1 to {PAGE_LIMIT}, not {limit}")
        start, step = bisect.bisect_right(ids, after), limit
        out: list[dict[str, Any]] = []
        while start < len(ids) and len(out) < limit:
            batch = read(list(ids[start:start + step]))
            out += batch if keep is None else [o for o in batch if keep(o)]
            start, step = start + step, min(step * 2, self.batch_limit)
        return out[:limit]

    @staticmethod
    def _check(value: str | None, names: tuple[str, ...], what: str) -> None:
        if value is not None and value not in names:
            raise ValueError(f"unknown {what} {value!r} ({what.split()[-1]}s: "
                             f"{', '.join(names)})")

    def history(self, kind: str, object_id: int | str | bytes) -> list[dict[str, Any]]:
        """The transitions of one object of a kind (by its id, or its 0x address or 32-byte
        key), oldest first, from the kind's transition events (`transition`): {"block",
        "txHash", "actor", "from", "to", "reason"}."""
        if self._logs is None:
            raise ValueError("this reader has no log source for histories")
        self._check(kind, tuple(self.histories), "kind")
        key = bytes.fromhex(object_id[2:]) if isinstance(object_id, str) else object_id
        word = key if isinstance(key, bytes) else key.to_bytes(32, "big")
        out = []
        for log in self._logs(self.address, [self.histories[kind].topic0,
                                             word.rjust(32, b"\x00")]):
            old, new, reason = abi_decode(["string", "string", "string"], bytes(log["data"]))
            out.append({"block": log["block"], "txHash": log["txHash"],
                        "actor": hex0x(bytes(log["topics"][2])[12:]), "from": old, "to": new,
                        "reason": reason})
        return out


Shape = Callable[[Any], dict[str, Any]]  # an ABI tuple -> its JSON


def one(name: str, shape: Shape, count: str = "") -> Callable[..., dict[str, Any] | None]:
    """A reader method answering one object by id, `name(id)` as `shape`, or None past its
    count (`count()`, default `<name>Count()`)."""

    def read(self: ServiceReader, object_id: int) -> dict[str, Any] | None:
        found = self._exists(count or name + "Count", object_id)
        return shape(self._read(name, object_id)) if found else None

    return read


def matching(count: str, many: str, shape: Shape, states: tuple[tuple[str, ...], str] = ((), ""),
             **indexes: str) -> Callable[..., list[dict[str, Any]]]:
    """A reader method answering the objects in every index its keywords name (keyword ->
    the index view: `subject="recordsBySubject"`), every one without filters, in id order,
    read by `many`, a page at a time (`after`, `limit`: `ServiceReader._page`); a `state`
    filter is checked against `states` (names, what they are)."""

    def read(self: ServiceReader, *, after: int = 0, limit: int = PAGE_LIMIT,
             **filters: Any) -> list[dict[str, Any]]:
        if unknown := sorted(set(filters) - set(indexes)):
            raise TypeError(f"unknown filter {unknown[0]!r} (filters: {', '.join(indexes)})")
        if states[0]:
            self._check(filters.get("state"), *states)
        ids = self._matching(count, {indexes[k]: v for k, v in filters.items()})
        return self._page(ids, lambda batch: self._many(many, batch, shape), after, limit)

    return read


def lowered(arg: Any) -> Any:
    """An account argument lower-case (others as they are)."""
    return arg.lower() if isinstance(arg, str) and arg.startswith("0x") else arg


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A service package's `__getattr__`: its client side (web3) loads only when asked for,
    so the ledger imports its contract alone. `where`: name -> the package's module."""

    def get(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{where[name]}"), name)

    return get


def words(index: Iterable[int]) -> list[bytes]:
    """An index of 32-byte keys (fingerprints) as bytes."""
    return [w.to_bytes(32, "big") for w in index]


__all__ = ["MAX_BATCH_READ", "MAX_REASON", "PAGE_LIMIT", "ZERO_ADDRESS", "ZERO_HASH",
           "ServiceContract", "ServiceReader", "StateView", "count_read", "index_read",
           "keyed_reads", "lazy_exports", "matching", "one", "state_read", "transition", "view",
           "words"]
