"""A service's surface declared once: its reads (reader method, parameters, JSON-RPC name,
REST path, CLI name) and plain writes (contract method, arguments, CLI and client names).
The API builds its JSON-RPC methods, REST routes and OpenAPI paths from it, the client its
methods (`with_writes`) and the CLI its commands (`cli/kit.py`).

Kinds parse what every transport hands them with one message for a bad value; this layer
knows no transport: a bad value raises `BadValue` (JSON-RPC -32602, REST 400, CLI exit 1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.exceptions import EncodingError

from consortium.errors import BadValue, ConfigError
from consortium.evm.abi_codec import decode as abi_decode
from consortium.evm.native import EventSpec, NativeCalls
from consortium.evm.records import account_hex, hash_bytes, hex0x

UINT256_MAX = 2**256 - 1  # the largest number a contract's uint256 argument holds
PAGE_LIMIT = 1000  # objects in one page of a list read (its default and its most)


class OutOfRange(ValueError):
    """A number of the right form that its kind cannot hold; its message (what the number
    is and the range) is kept after "<where>: ", not replaced by the kind's refusal."""


def shown_number(number: int) -> str:
    """A number as a message shows it: whole up to 24 digits, else its ends and length."""
    digits = str(number)
    return digits if len(digits) <= 24 else f"{digits[:6]}…{digits[-4:]} ({len(digits)} digits)"


def uint_problem(number: int, bits: int = 256, least: int = 0) -> str | None:
    """Why `number` does not fit an unsigned `bits`-bit argument from `least` (None: it
    does)."""
    if number < least:
        return (f"must be above 0, not {shown_number(number)}" if least == 1
                else f"must be {least} or more, not {shown_number(number)}")
    if number > 2**bits - 1:
        return f"{shown_number(number)} is out of range: {least} to 2**{bits}-1"
    return None


@dataclass(frozen=True)
class Kind:
    """What a parameter is: how a value of it is parsed, and its JSON schema."""

    name: str
    parse_value: Callable[[Any], Any]  # raises ValueError/TypeError for a bad value
    refusal: str  # what a bad value is told, after "<where>: "
    schema: dict[str, Any]

    def parse(self, value: Any, where: str) -> Any:
        try:
            return self.parse_value(value)
        except OutOfRange as err:
            raise BadValue(f"{where}: {err}") from None
        except (ValueError, TypeError, BadValue):
            raise BadValue(f"{where}: {self.refusal}") from None


def _id(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**256:
        raise ValueError(value)
    return value


def decode_log(spec: EventSpec, topics: list[bytes], data: bytes) -> dict[str, Any]:
    """One log of `spec` by its parameters' names: indexed ones from the topics (an address
    as 0x hex, a number as an int, anything else as its 0x word), the rest from the data
    (addresses and bytes as 0x hex)."""
    values = iter(abi_decode([t for t, _, indexed in spec.params if not indexed], bytes(data)))
    words = iter(topics[1:])
    out: dict[str, Any] = {}
    for type_str, name, indexed in spec.params:
        if indexed:
            raw = bytes(next(words))
            out[name] = (hex0x(raw[12:]) if type_str == "address"
                         else int.from_bytes(raw, "big") if type_str.startswith("uint")
                         else hex0x(raw))
        else:
            value = next(values)
            out[name] = (hex0x(value) if type_str == "address" or type_str.startswith("bytes")
                         else value)
    return out


def json_of(record: Any, **blank: Any) -> Callable[[Any], dict[str, Any]]:
    """A record's JSON from its ABI tuple (`blank`: the fields its tuple leaves out)."""
    return lambda values: record.from_abi(values, **blank).to_json()


def sha256_of(source: str | Path | bytes) -> bytes:
    """The SHA-256 of a file (path) or of bytes."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).digest()
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc}") from None
    return digest.digest()


def document_hash(source: str | Path | bytes) -> bytes:
    """A document's reference: a 0x hash as given, else the SHA-256 of bytes or a file
    (hashed here: the document never leaves this machine)."""
    if isinstance(source, str) and source.strip().lower().startswith("0x"):
        return hash_bytes(source)
    return sha256_of(source)


def _id_or_name(value: Any) -> int | str:
    if isinstance(value, str) and not value.strip().isdigit():
        if not value.strip():
            raise ValueError(value)
        return value
    return _id(value)


ID = Kind("id", _id, "expected an id (a positive integer)", {"type": "integer", "minimum": 1})
ACCOUNT = Kind("account", account_hex, "expected a 0x account address",
               {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"})


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


TEXT = Kind("text", _text, "expected a text", {"type": "string"})


def whole_number(value: Any) -> int:
    """0 or more: a JSON integer, or a decimal / 0x string (not a bool or a float)."""
    if isinstance(value, bool | float):
        raise ValueError(value)
    hexadecimal = isinstance(value, str) and value.strip().lower().startswith("0x")
    number = int(value, 16) if hexadecimal else int(value)
    if number < 0:
        raise ValueError(value)
    if number > UINT256_MAX:  # what a contract's uint256 holds: never an ABI traceback
        raise OutOfRange(uint_problem(number))
    return number


def _flag(value: Any) -> bool:
    """true or false: a JSON boolean, or the text of one (a REST query key)."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise ValueError(value)


AMOUNT = Kind("amount", whole_number, "expected an amount (a whole number, 0 or more)",
              {"type": "integer", "minimum": 0})
FLAG = Kind("flag", _flag, "expected true or false", {"type": "boolean"})
# a block height: a read at one above the chain's is refused by the API and the CLI
# ("height N is in the future; the chain is at M"), not answered with today's state
HEIGHT = Kind("height", whole_number, "expected a block height (a whole number, 0 or more)",
              {"type": "integer", "minimum": 0})
DOCUMENT = Kind("hash or file", document_hash, "expected a 0x SHA-256 or a file",
                {"type": "string"})


def _page_size(value: Any) -> int:
    number = whole_number(value)
    if not 1 <= number <= PAGE_LIMIT:
        raise OutOfRange(f"must be 1 to {PAGE_LIMIT}, not {shown_number(number)}")
    return number




def id_or_name(what: str) -> Kind:
    """A `what`'s id, or its name ("a class id or name")."""
    return Kind("id or name", _id_or_name, f"expected a {what} id or name",
                {"type": "string"})


def choice(names: tuple[str, ...]) -> Kind:
    """One of `names` (a state, say)."""

    def parse(value: Any) -> str:
        if value not in names:
            raise ValueError(value)
        return str(value)

    return Kind("choice", parse, "one of " + ", ".join(names),
                {"type": "string", "enum": list(names)})


REQUIRED: Any = object()  # a Param without a default


@dataclass(frozen=True)
class Param:
    """One parameter of a read: its public name (JSON-RPC docs, REST path or query key, CLI
    option) and the reader's keyword for it (`arg`, default: the name). A positional
    parameter with a `default` is optional: JSON-RPC may leave it out (or send null), REST
    takes it as a query key, not a path segment."""

    name: str
    kind: Kind
    doc: str = ""
    arg: str | None = None
    default: Any = REQUIRED
    flag: str | None = None  # the CLI option ("--to"); None: --<name in kebab case> (a
    #                          write's first parameter, if required: a positional argument)
    cli_kind: Kind | None = None  # what the CLI takes, when more than `kind` (a class's
    #                               name besides its id: the client resolves it)
    positional: bool = False  # a write's later parameter the CLI takes as an argument
    many: bool = False  # a list of values (the CLI's option repeated)

    @property
    def option(self) -> str:
        return self.flag or "--" + "".join("-" + c.lower() if c.isupper() else c
                                           for c in self.name).replace("_", "-")

    @property
    def keyword(self) -> str:
        return self.arg or self.name

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


REASON = Param("reason", TEXT, "Why (kept in the event).")  # a write's logged reason


# a list read's page: ids ascending, at most `limit`; the next page starts after the last id
# of this one, and a page shorter than `limit` is the last
PAGE = (Param("after", Kind("id", whole_number, "expected an id (0 or more)",
                            {"type": "integer", "minimum": 0}),
              "only ids above it: the last id of the page before (default 0: from the first)"),
        Param("limit", Kind("page size", _page_size, f"expected a page size (1 to {PAGE_LIMIT})",
                            {"type": "integer", "minimum": 1, "maximum": PAGE_LIMIT}),
              f"at most this many (default {PAGE_LIMIT}, the most); fewer: the last page"))


@dataclass(frozen=True)
class Read:
    """One read of a service: a reader method with its parameters and where it is served."""

    name: str  # the reader's method
    summary: str
    rpc: str  # the JSON-RPC method
    rest: str  # the REST path under the service's base ("/assets/{id}")
    params: tuple[Param, ...] = ()  # positional: JSON-RPC params[i], REST path parameters
    filters: tuple[Param, ...] = ()  # one optional filter object: JSON-RPC params[-1], query
    nullable: bool = False  # None means "not found" (REST 404, JSON-RPC null)
    noun: str = ""  # what it finds, for "<noun> not found" (default: its name)
    cli: str | None = None  # its command in the service's CLI group, if it has one

    @property
    def paged(self) -> bool:
        """Answers a page at a time (its filters end with `PAGE`)."""
        return self.filters[-len(PAGE):] == PAGE

    def parse_filters(self, value: Any, where: str) -> dict[str, Any]:
        """A filter object's keys, parsed, as the reader's keyword arguments."""
        known = [f.name for f in self.filters]
        if not isinstance(value, dict):
            raise BadValue(f"{where}: expected a filter object ({', '.join(known)})")
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise BadValue(f"{where}: unknown filter {unknown[0]!r} (filters: "
                           f"{', '.join(known)})")
        return {f.keyword: f.kind.parse(value[f.name], f"{where}.{f.name}")
                for f in self.filters if value.get(f.name) is not None}

    def run(self, reader: Any, args: list[Any], filters: dict[str, Any]) -> Any:
        return getattr(reader, self.name)(*args, **filters)

    def check_heights(self, args: list[Any], filters: dict[str, Any],
                      latest: Callable[[], int]) -> None:
        """Refuse a HEIGHT parameter above the chain's height (`latest()`, asked only when
        one is given): a read there would answer today's state under a future height."""
        given = [(p.name, value) for p, value in zip(self.params, args, strict=False)
                 if p.kind is HEIGHT and value is not None]
        given += [(f.name, filters[f.keyword]) for f in self.filters
                  if f.kind is HEIGHT and filters.get(f.keyword) is not None]
        chain = latest() if given else 0
        for where, height in given:
            future_height(where, height, chain)

    @property
    def path_params(self) -> tuple[Param, ...]:
        """The positional parameters the REST path names ("/assets/{id}")."""
        return tuple(p for p in self.params if "{" + p.name + "}" in self.rest)

    @property
    def query_params(self) -> tuple[Param, ...]:
        """The other positional parameters (optional, or required where the path names
        none: "/restriction?isin=…"), then the filter's keys: REST query keys."""
        return tuple(p for p in self.params if p not in self.path_params) + self.filters


def future_height(where: str, height: int, latest: int) -> None:
    """BadValue when `height` is above the chain's (`latest`)."""
    if height > latest:
        raise BadValue(f"{where}: height {height} is in the future; the chain is at {latest}")


def encoded(calls: NativeCalls, name: str, *args: Any) -> bytes:
    """`calls.encode(name, *args)`; an argument its ABI type cannot hold (a number of 2**256
    or more, a negative one) is refused as BadValue naming it and the range, never with the
    ABI encoder's traceback."""
    try:
        return calls.encode(name, *args)
    except EncodingError as err:
        raise BadValue(encoding_problem(calls, name, args) or f"{name}: {err}") from None


def encoding_problem(calls: NativeCalls, name: str, args: tuple[Any, ...]) -> str | None:
    """Which argument of `name(*args)` its unsigned-integer type cannot hold, and why."""
    spec = calls.specs[name]
    names = [p["name"] or f"argument {i + 1}" for i, p in enumerate(spec.abi()["inputs"])]
    for type_str, arg, value in zip(spec.inputs, names, args, strict=False):
        if type_str.startswith("uint") and type_str[4:].isdigit() and isinstance(value, int):
            problem = uint_problem(value, int(type_str[4:]))
            if problem:
                return f"{name}: {arg} {problem}"
    return None


# (to, calldata) -> return data, and (address, topics) -> logs: what a reader reads through
Call = Callable[[bytes, bytes], bytes]
Logs = Callable[[bytes, list[bytes | None]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Write:
    """One write of a service: a contract method, with its arguments as users give them,
    served as a CLI command (`cli`) and a method of the Python client (`client`)."""

    cli: str  # the command: "approve" ("": a client method only, its command hand-written)
    method: str  # the contract's method: "approveRegistration"
    summary: str  # what it does, for whom (the command's help)
    client: str  # the client's method: "approve_registration"
    args: tuple[Param, ...] = ()  # in the contract method's order
    done: str = "done"  # the outcome's first word in the CLI: "approved"
    propose: bool = False  # proposed to Governance (an app-call proposal members vote on)

    def call_args(self, values: tuple[Any, ...],
                  named: dict[str, Any] | None = None) -> list[Any]:
        """The contract call's arguments from a user's values, positional then by name
        (defaults filled, each parsed by its kind)."""
        if len(values) > len(self.args):
            raise BadValue(f"{self.client} takes {len(self.args)} arguments, got {len(values)}")
        named = dict(named or {})
        out = []
        for i, param in enumerate(self.args):
            value = values[i] if i < len(values) else named.pop(param.name, param.default)
            if value is REQUIRED:
                raise BadValue(f"{self.client}: {param.name} is required")
            out.append([param.kind.parse(v, param.name) for v in value] if param.many
                       else param.kind.parse(value, param.name))
        if named:
            raise BadValue(f"{self.client}: unknown argument {sorted(named)[0]!r}")
        return out


@dataclass(frozen=True)
class Service:
    """A service's surface: its name (REST base /api/v1/<name>, OpenAPI tag, CLI group),
    how to make its reader, its reads and its writes (`local_writes`: the CLI's and the
    client's alone, which the API and the console do not offer)."""

    name: str
    title: str
    reader: Callable[[Call, Logs | None], Any]
    reads: tuple[Read, ...]
    writes: tuple[Write, ...] = ()
    local_writes: tuple[Write, ...] = ()

    @property
    def rest_base(self) -> str:
        return f"/api/v1/{self.name}"


def with_writes(service: Service, *lead: Any) -> Callable[[type[Any]], type[Any]]:
    """A class decorator for a service's Python client (a `ServiceClient`): one method per
    declared write the class does not define, `client.<write.client>(account, *values,
    **by_name)`, that checks, sends and waits for the contract call (`transact`), or
    proposes it to Governance (`propose`); `lead`: what those take before the method (the
    securities client's two contracts: which one)."""

    def decorate(cls: type[Any]) -> type[Any]:
        for write in (*service.writes, *service.local_writes):
            if write.client in cls.__dict__:
                continue

            def call(self: Any, account: Any, *values: Any, write: Write = write,
                     **named: Any) -> Any:
                send = self.propose if write.propose else self.transact
                return send(account, *lead, write.method, *write.call_args(values, named))

            call.__name__ = call.__qualname__ = write.client
            call.__doc__ = write.summary
            setattr(cls, write.client, call)
        return cls

    return decorate


__all__ = ["ACCOUNT", "AMOUNT", "DOCUMENT", "FLAG", "HEIGHT", "ID", "REASON", "TEXT",
           "UINT256_MAX", "BadValue", "Kind", "OutOfRange", "Param", "Read", "Service", "Write",
           "account_hex", "choice", "decode_log", "document_hash", "encoded", "encoding_problem",
           "future_height", "hash_bytes", "id_or_name", "json_of", "sha256_of", "shown_number",
           "uint_problem", "with_writes"]
