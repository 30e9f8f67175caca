"""The explorer's reads, in process: an address's transactions (the ledger's address index),
a transaction decoded (call, events, revert reason) from the ABIs the node knows, the ABI
registry, and CSV export. The JSON-RPC methods and the CSV route (`api.explorer_rpc`) and the
console's pages call these; every function runs in a worker thread (LMDB and EVM reads block).

ABIs known: the shipped ones (the system contracts and the services, by their fixed
addresses), those registered with this node (`register_abi`: node-local, never consensus,
checked against the deployed code's selectors), and for any address the standard ERC-20 /
ERC-721 events (Transfer, Approval, ApprovalForAll) and ERC-20 calls.

Bad input raises `ExplorerError` (one line naming the problem); the transports turn it into
a JSON-RPC invalid-params error or an HTTP 400.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_abi import decode as abi_decode
from eth_abi.grammar import ABIType, BasicType, TupleType, parse
from eth_hash.auto import keccak

from consortium.api.rpc_error import revert_reason
from consortium.evm.native import event
from consortium.evm.records import hex0x as _hx
from consortium.ledger import abi_registry, address_index
from consortium.ledger.chain_store import LogRecord, TxRecord

DEFAULT_PAGE = 25
MAX_PAGE = 200
MAX_ABI_BYTES = 512 * 1024
MAX_EXPORT_BLOCKS = 10_000  # heights one CSV export may cover
MAX_EXPORT_ROWS = 100_000  # rows one CSV export may hold (then it says it was cut)
EXPORT_KINDS = ("transactions", "blocks", "events")


class ExplorerError(ValueError):
    """Bad input to an explorer read (the message names the problem)."""


# --- ABIs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    name: str
    signature: str
    inputs: tuple[tuple[str, str], ...]  # (name, canonical type)


@dataclass(frozen=True)
class Event:
    name: str
    signature: str
    inputs: tuple[tuple[str, str, bool], ...]  # (name, canonical type, indexed)


@dataclass(frozen=True)
class ContractAbi:
    """What decoding needs of one ABI: functions by selector, events by topic 0, errors by
    selector."""

    name: str | None
    functions: dict[bytes, Function]
    events: dict[bytes, Event]
    errors: dict[bytes, Function]


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter, tuples spelled out: "(uint256,string)[]"."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        components = param.get("components")
        if not isinstance(components, list):
            raise ValueError("a tuple needs its components")
        return f"({','.join(abi_type(c) for c in components)}){kind[len('tuple'):]}"
    return kind


def _params(items: Any, where: str) -> list[tuple[str, str, bool]]:
    if not isinstance(items, list):
        raise ExplorerError(f"{where}: inputs must be a list")
    out = []
    for i, p in enumerate(items):
        if not isinstance(p, dict) or not isinstance(p.get("type"), str):
            raise ExplorerError(f"{where}: input {i} needs a type")
        try:
            kind = abi_type(p)
            parse(kind).validate()
        except Exception as exc:  # noqa: BLE001 - any malformed type is refused by name
            raise ExplorerError(f"{where}: input {i} has an invalid type "
                                f"{p.get('type')!r} ({exc})") from None
        name = p.get("name") if isinstance(p.get("name"), str) else ""
        out.append((name or f"arg{i}", kind, bool(p.get("indexed"))))
    return out


def parse_abi(abi: Any, name: str | None = None) -> ContractAbi:
    """An ABI (a JSON list, or its text) made ready for decoding; raises ExplorerError."""
    if isinstance(abi, str):
        try:
            abi = json.loads(abi)
        except ValueError as exc:
            raise ExplorerError(f"the ABI is not JSON: {exc}") from None
    if isinstance(abi, dict) and isinstance(abi.get("abi"), list):  # a compiler artifact
        abi = abi["abi"]
    if not isinstance(abi, list):
        raise ExplorerError("the ABI must be a JSON list of function and event entries")
    functions: dict[bytes, Function] = {}
    events: dict[bytes, Event] = {}
    errors: dict[bytes, Function] = {}
    for n, entry in enumerate(abi):
        if not isinstance(entry, dict):
            raise ExplorerError(f"ABI entry {n} is not an object")
        kind = entry.get("type", "function")
        if kind not in ("function", "event", "error"):
            continue  # constructor, fallback, receive
        label = entry.get("name")
        if not isinstance(label, str) or not label:
            raise ExplorerError(f"ABI entry {n} ({kind}) has no name")
        params = _params(entry.get("inputs", []), f"ABI entry {n} ({label})")
        signature = f"{label}({','.join(t for _, t, _ in params)})"
        digest = keccak(signature.encode())
        if kind == "event":
            if not entry.get("anonymous"):
                events[digest] = Event(label, signature, tuple(params))
        else:
            target = functions if kind == "function" else errors
            target[digest[:4]] = Function(label, signature,
                                          tuple((p, t) for p, t, _ in params))
    return ContractAbi(name, functions, events, errors)


def _entry(declaration: str, kind: str = "event") -> dict[str, Any]:
    """An ABI entry from its declaration as Solidity writes it ("Transfer(address indexed
    from, …)")."""
    return {**event(declaration).abi(), "type": kind}


ERC20_ABI: list[dict[str, Any]] = [
    _entry("transfer(address to, uint256 value)", "function"),
    _entry("transferFrom(address from, address to, uint256 value)", "function"),
    _entry("approve(address spender, uint256 value)", "function"),
    _entry("Transfer(address indexed from, address indexed to, uint256 value)"),
    _entry("Approval(address indexed owner, address indexed spender, uint256 value)"),
]
ERC721_EVENTS: list[dict[str, Any]] = [
    _entry("Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"),
    _entry("Approval(address indexed owner, address indexed approved, uint256 indexed tokenId)"),
    _entry("ApprovalForAll(address indexed owner, address indexed operator, bool approved)"),
]


@cache
def standard_abis() -> tuple[ContractAbi, ContractAbi]:
    """ERC-20 (calls and events) and ERC-721 (events): decoded for any address. The same
    topic 0 serves both standards; the number of topics tells them apart."""
    return parse_abi(ERC20_ABI, None), parse_abi(ERC721_EVENTS, None)


@cache
def shipped_abis() -> dict[bytes, ContractAbi]:
    """The system contracts' and the services' ABIs, by their fixed addresses."""
    from consortium.natives import chain_natives

    return {address: parse_abi(cls.abi(), cls.__name__)
            for address, cls in sorted(chain_natives().items())}


def selectors_in_code(code: bytes) -> set[bytes]:
    """Every 4-byte value a PUSH1…PUSH4 of `code` pushes, left-padded (solc pushes a
    selector with leading zero bytes in fewer bytes); push data is skipped, not read as code."""
    found: set[bytes] = set()
    i, n = 0, len(code)
    while i < n:
        op = code[i]
        if 0x60 <= op <= 0x7F:
            size = op - 0x5F
            if size <= 4:
                found.add(code[i + 1:i + 1 + size].rjust(4, b"\x00"))
            i += 1 + size
        else:
            if op == 0x5F:  # PUSH0: selector 0x00000000
                found.add(b"\x00" * 4)
            i += 1
    return found


# --- value shaping -------------------------------------------------------------------------


def _json_value(t: ABIType, value: Any) -> Any:
    """A decoded ABI value as JSON: integers as decimal strings (no precision lost in
    JavaScript), bytes and addresses as 0x hex (addresses lower case), lists for arrays and
    tuples."""
    if t.is_array:
        return [_json_value(t.item_type, v) for v in value]
    if isinstance(t, TupleType):
        return [_json_value(c, v) for c, v in zip(t.components, value, strict=True)]
    assert isinstance(t, BasicType)
    if t.base == "address":
        return str(value).lower()
    if t.base in ("uint", "int", "fixed", "ufixed"):
        return str(value)
    if t.base == "bytes":
        return _hx(value)
    return value  # bool, string


def _args(names_types: Sequence[tuple[str, str]], values: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"name": n, "type": t, "value": _json_value(parse(t), v)}
            for (n, t), v in zip(names_types, values, strict=True)]


def _decode_inputs(fn: Function, body: bytes) -> list[dict[str, Any]] | None:
    try:
        values = abi_decode([t for _, t in fn.inputs], body)
    except Exception:  # noqa: BLE001 - calldata that does not fit its ABI stays undecoded
        return None
    return _args(fn.inputs, values)


def _decode_event(ev: Event, topics: Sequence[bytes], data: bytes) -> list[dict[str, Any]] | None:
    indexed = [(n, t) for n, t, i in ev.inputs if i]
    plain = [(n, t) for n, t, i in ev.inputs if not i]
    if len(topics) != 1 + len(indexed):
        return None
    try:
        plain_values = list(abi_decode([t for _, t in plain], data))
        out: list[dict[str, Any]] = []
        for (n, t, is_indexed) in ev.inputs:
            if is_indexed:
                topic = topics[1 + len([x for x in out if x["indexed"]])]
                kind = parse(t)
                if kind.is_dynamic or isinstance(kind, TupleType) or kind.is_array:
                    value: Any = _hx(topic)  # a dynamic value's topic is its hash
                else:
                    value = _json_value(kind, abi_decode([t], topic)[0])
                out.append({"name": n, "type": t, "value": value, "indexed": True})
            else:
                out.append({"name": n, "type": t,
                            "value": _json_value(parse(t), plain_values.pop(0)),
                            "indexed": False})
    except Exception:  # noqa: BLE001 - a log that does not fit the ABI stays undecoded
        return None
    return out


# --- the explorer --------------------------------------------------------------------------


class Explorer:
    """The explorer's reads over one node's ledger (the in-process `Ledger`)."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self._registered: dict[bytes, ContractAbi | None] = {}
        self._lock = threading.Lock()

    # --- ABIs ----------------------------------------------------------------------------

    def abi_for(self, address: bytes) -> ContractAbi | None:
        """The ABI the node knows for `address`: shipped, else registered."""
        shipped = shipped_abis().get(address)
        if shipped is not None:
            return shipped
        with self._lock:
            if address in self._registered:
                return self._registered[address]
        raw = abi_registry.get_abi(self.ledger.store, address)
        found = None
        if raw is not None:
            doc = json.loads(raw)
            found = parse_abi(doc["abi"], doc.get("name"))
        with self._lock:
            self._registered[address] = found
        return found

    def register_abi(self, address: str, abi: Any, name: str | None = None) -> dict[str, Any]:
        """Store `abi` for the contract at `address` once every function selector it
        declares is in the deployed runtime code; raises ExplorerError naming what is not."""
        raw_address = _address(address)
        if raw_address in shipped_abis():
            raise ExplorerError(f"{address} is a shipped contract "
                                f"({shipped_abis()[raw_address].name}): its ABI is known "
                                "without registering")
        if name is not None and (not isinstance(name, str) or len(name) > 100):
            raise ExplorerError("the contract name must be a string of at most 100 characters")
        text = abi if isinstance(abi, str) else json.dumps(abi)
        if len(text.encode()) > MAX_ABI_BYTES:
            raise ExplorerError(f"the ABI is over {MAX_ABI_BYTES} bytes")
        parsed = parse_abi(abi, name)
        if not parsed.functions and not parsed.events:
            raise ExplorerError("the ABI declares no function and no event")
        code = self.ledger.get_code(_hx(raw_address))
        if not code:
            raise ExplorerError(f"no contract is deployed at {_hx(raw_address)}")
        present = selectors_in_code(code)
        missing = sorted(f.signature for sel, f in parsed.functions.items()
                         if sel not in present)
        if missing:
            raise ExplorerError(
                f"the code at {_hx(raw_address)} has no selector for "
                f"{len(missing)} of the ABI's functions: {', '.join(missing[:20])}"
                + (" …" if len(missing) > 20 else ""))
        items = json.loads(text)
        if isinstance(items, dict):
            items = items["abi"]
        doc = {"address": _hx(raw_address), "name": name, "abi": items}
        # the node's ledger stores it (handed to the node by an API in its own process)
        self.ledger.store_abi(raw_address, json.dumps(doc, sort_keys=True).encode())
        with self._lock:
            self._registered[raw_address] = parsed
        return {"address": _hx(raw_address), "name": name,
                "functions": len(parsed.functions), "events": len(parsed.events)}

    def get_abi(self, address: str) -> dict[str, Any] | None:
        """{"address", "name", "source": "shipped"|"registered", "abi"} or None."""
        raw_address = _address(address)
        natives = _native_classes()
        if raw_address in natives:
            cls = natives[raw_address]
            return {"address": _hx(raw_address), "name": cls.__name__, "source": "shipped",
                    "abi": cls.abi()}
        raw = abi_registry.get_abi(self.ledger.store, raw_address)
        if raw is None:
            return None
        doc = json.loads(raw)
        return {"address": doc["address"], "name": doc.get("name"), "source": "registered",
                "abi": doc["abi"]}

    # --- decoding ----------------------------------------------------------------------

    def describe_call(self, to: bytes, data: bytes) -> dict[str, Any] | None:
        """{contract, method, signature, args} of calldata to `to`, or None if unknown."""
        if len(data) < 4:
            return None
        known = self.abi_for(to)
        fn = known.functions.get(data[:4]) if known is not None else None
        contract = known.name if known is not None else None
        if fn is None:
            fn = standard_abis()[0].functions.get(data[:4])
            contract = None
        if fn is None:
            return None
        args = _decode_inputs(fn, data[4:])
        if args is None:
            return None
        return {"contract": contract, "method": fn.name, "signature": fn.signature,
                "args": args}

    def describe_log(self, log: LogRecord) -> dict[str, Any]:
        out: dict[str, Any] = {"address": _hx(log.address), "logIndex": log.log_index,
                               "contract": None, "name": None, "signature": None, "args": [],
                               "topics": [_hx(t) for t in log.topics], "data": _hx(log.data)}
        if not log.topics:
            return out
        known = self.abi_for(log.address)
        candidates: list[tuple[ContractAbi, str | None]] = []
        if known is not None:
            candidates.append((known, known.name))
        erc20, erc721 = standard_abis()
        candidates += [(erc20, None), (erc721, None)]
        for abi, contract in candidates:
            ev = abi.events.get(log.topics[0])
            if ev is None:
                continue
            args = _decode_event(ev, log.topics, log.data)
            if args is None:
                continue
            out.update(contract=contract, name=ev.name, signature=ev.signature, args=args)
            if contract is None:
                out["standard"] = "ERC-20" if abi is erc20 else "ERC-721"
            break
        return out

    def decode_transaction(self, tx_hash: str) -> dict[str, Any] | None:
        """A committed transaction decoded: {status, call, events, revertReason} (with
        hash, blockNumber, index, from, to, created); a transaction a block refused:
        status "rejected" and the reason; None if the node has neither."""
        raw_hash = _hash(tx_hash)
        found = self.ledger.receipt_record(_hx(raw_hash))
        if found is None:
            rejected = self.ledger.transaction_rejection(_hx(raw_hash))
            if rejected is None:
                return None
            return {"hash": _hx(raw_hash), "status": "rejected",
                    "blockNumber": rejected["blockNumber"], "index": None, "from": None,
                    "to": None, "created": None, "call": None, "events": [],
                    "revertReason": rejected["reason"]}
        rec, _block, logs = found
        tx: Any = PragueTransactionBuilder.decode(rec.raw)
        to = bytes(tx.to) if tx.to else b""
        call = self.describe_call(to, bytes(tx.data)) if to else None
        reason = None
        if rec.status != 1:
            reason = self._revert_reason(rec, tx, to)
        return {
            "hash": _hx(rec.hash), "status": "success" if rec.status == 1 else "failed",
            "blockNumber": rec.height, "index": rec.index, "from": _hx(rec.sender),
            "to": _hx(to) if to else None,
            "created": _hx(rec.contract_address) if rec.contract_address else None,
            "value": str(tx.value), "call": call,
            "events": [self.describe_log(log) for log in logs],
            "revertReason": reason,
        }

    def _revert_reason(self, rec: TxRecord, tx: Any, to: bytes) -> str | None:
        """Why a failed transaction failed: the node keeps no return data, so the call is
        replayed on the state before its block (exact unless an earlier transaction of the
        same block changed what it read). None if the replay succeeds."""
        call = {"from": _hx(rec.sender), "value": tx.value, "data": _hx(tx.data),
                "gas": tx.gas}
        if to:
            call["to"] = _hx(to)
        try:
            result = self.ledger.call(call, max(rec.height - 1, 0))
        except Exception as exc:  # noqa: BLE001 - history not on this node, a timeout
            return f"(not replayed: {exc})"
        if result.success:
            return None
        output = bytes(result.output)
        reason = revert_reason(output)
        if reason is None and len(output) >= 4:
            known = self.abi_for(to) if to else None
            err = known.errors.get(output[:4]) if known is not None else None
            if err is not None:
                args = _decode_inputs(err, output[4:])
                if args is not None:
                    reason = f"{err.name}(" + ", ".join(
                        f"{a['name']}={a['value']}" for a in args) + ")"
        if reason is None:
            reason = result.error or "execution failed"
        return reason

    # --- an address's transactions ------------------------------------------------------

    def address_transactions(self, address: str, *, from_block: int | None = None,
                             to_block: int | None = None, limit: int = DEFAULT_PAGE,
                             before: str | None = None) -> dict[str, Any]:
        """The address's transactions, newest first, from the ledger's address index:
        {transactions: [{hash, blockNumber, index, from, to, created, roles}], next,
        indexedFrom}. `next` is the `before` of the following page (None at the end);
        `indexedFrom` the first height the index covers on this node."""
        raw_address = _address(address)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ExplorerError(f"limit must be between 1 and {MAX_PAGE}")
        store = self.ledger.store
        latest = self.ledger.latest_height()
        lo = max(from_block or 0, address_index.indexed_from(store))
        hi = latest if to_block is None else min(to_block, latest)
        position = _position(before) if before is not None else None
        entries = address_index.address_entries(store, raw_address, lo=lo, hi=hi,
                                                limit=limit + 1, before=position)
        more = len(entries) > limit
        entries = entries[:limit]
        out = []
        chain = self.ledger.chain
        for e in entries:
            rec = chain.tx(e.height, e.tx_index)
            to = None
            if rec is not None:
                tx: Any = PragueTransactionBuilder.decode(rec.raw)
                to = _hx(tx.to) if tx.to else None
            out.append({
                "hash": _hx(rec.hash) if rec else None, "blockNumber": e.height,
                "index": e.tx_index,
                "from": _hx(rec.sender) if rec else None, "to": to,
                "created": _hx(rec.contract_address) if rec and rec.contract_address else None,
                "status": rec.status if rec else None,
                "roles": _roles(e.roles),
            })
        last = entries[-1] if entries else None
        return {"transactions": out,
                "next": f"{last.height}:{last.tx_index}" if more and last else None,
                "indexedFrom": address_index.indexed_from(store)}

    # --- CSV export ----------------------------------------------------------------------

    def export_range(self, *, from_block: int | None, to_block: int | None,
                     from_date: str | None = None, to_date: str | None = None
                     ) -> tuple[int, int]:
        """The heights an export covers (dates map to heights by block timestamps, UTC,
        both days included); raises ExplorerError for a range given backwards or beyond
        `MAX_EXPORT_BLOCKS`."""
        latest = self.ledger.latest_height()
        if (from_date or to_date) and (from_block is not None or to_block is not None):
            raise ExplorerError("give fromBlock/toBlock or fromDate/toDate, not both")
        if from_date or to_date:
            start = _day(from_date, "fromDate") if from_date else None
            end = _day(to_date, "toDate") + 86_400 if to_date else None
            if start is not None and end is not None and start >= end:
                raise ExplorerError(f"toDate: {to_date} is before fromDate {from_date}")
            lo = self._first_at_or_after(start) if start is not None else 1
            hi = (self._first_at_or_after(end) - 1) if end is not None else latest
        else:
            if from_block is not None and to_block is not None and from_block > to_block:
                # backwards, it would export a header alone, as if nothing happened
                raise ExplorerError(f"toBlock: {to_block} is before fromBlock {from_block}")
            if (from_block is not None and to_block is not None
                    and to_block - from_block + 1 > MAX_EXPORT_BLOCKS):
                raise ExplorerError(f"the range asks for {to_block - from_block + 1} blocks; "
                                    f"an export covers at most {MAX_EXPORT_BLOCKS}: narrow it")
            hi = latest if to_block is None else min(to_block, latest)
            lo = max(hi - MAX_EXPORT_BLOCKS + 1, 1) if from_block is None else from_block
        lo = max(lo, 1)
        if hi - lo + 1 > MAX_EXPORT_BLOCKS:
            raise ExplorerError(f"the range covers {hi - lo + 1} blocks; an export covers at "
                                f"most {MAX_EXPORT_BLOCKS}: narrow it")
        return lo, hi

    def _first_at_or_after(self, timestamp: int) -> int:
        """The first height whose block time is at or after `timestamp` (latest + 1 if
        none): block times never decrease, so a binary search."""
        lo, hi = 1, self.ledger.latest_height() + 1
        chain = self.ledger.chain
        while lo < hi:
            mid = (lo + hi) // 2
            block = chain.block(mid)
            if block is not None and block.timestamp >= timestamp:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def export_csv(self, kind: str, lo: int, hi: int, address: str | None = None,
                   chunk_heights: int = 500) -> Iterator[str]:
        """The CSV text of `kind` over heights lo..hi, a header first, in pieces (each a
        slice of heights, read when asked for). Checks its input before the first piece."""
        if kind not in EXPORT_KINDS:
            raise ExplorerError(f"kind must be one of {', '.join(EXPORT_KINDS)}")
        raw_address = _address(address) if address else None
        if kind == "blocks" and raw_address is not None:
            raise ExplorerError("a blocks export takes no address")
        return self._export(kind, lo, hi, raw_address, chunk_heights)

    def _export(self, kind: str, lo: int, hi: int, raw_address: bytes | None,
                chunk_heights: int) -> Iterator[str]:
        rows_fn = {"transactions": self._tx_rows, "blocks": self._block_rows,
                   "events": self._event_rows}[kind]
        yield _csv_line(EXPORT_HEADERS[kind])
        count = 0
        for start in range(lo, hi + 1, chunk_heights):
            end = min(hi, start + chunk_heights - 1)
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            for row in rows_fn(start, end, raw_address):
                if count >= MAX_EXPORT_ROWS:
                    yield buf.getvalue()
                    yield (f"# cut at {MAX_EXPORT_ROWS} rows (height {row[0]}): narrow the "
                           "range\n")
                    return
                writer.writerow(row)
                count += 1
            yield buf.getvalue()

    def _timestamps(self, lo: int, hi: int) -> dict[int, str]:
        out = {}
        for h in range(lo, hi + 1):
            block = self.ledger.chain.block(h)
            if block is not None:
                out[h] = _iso(block.timestamp)
        return out

    def _tx_rows(self, lo: int, hi: int, address: bytes | None) -> Iterator[list[Any]]:
        chain = self.ledger.chain
        if address is not None:
            entries = address_index.address_entries(
                self.ledger.store, address, lo=max(lo, address_index.indexed_from(
                    self.ledger.store)), hi=hi, limit=MAX_EXPORT_ROWS + 1)
            positions = sorted((e.height, e.tx_index) for e in entries)
            recs = [r for r in (chain.tx(h, i) for h, i in positions) if r is not None]
        else:
            recs = [r for h in range(lo, hi + 1) for r in chain.txs_of_block(h)]
        times = self._timestamps(lo, hi) if recs else {}
        for rec in recs:
            tx: Any = PragueTransactionBuilder.decode(rec.raw)
            to = bytes(tx.to) if tx.to else b""
            method = ""
            if to and len(tx.data) >= 4:
                known = self.abi_for(to)
                fn = known.functions.get(bytes(tx.data[:4])) if known else None
                fn = fn or standard_abis()[0].functions.get(bytes(tx.data[:4]))
                method = fn.name if fn else _hx(tx.data[:4])
            yield [rec.height, times.get(rec.height, ""), rec.index, _hx(rec.hash),
                   _hx(rec.sender), _hx(to) if to else "",
                   _hx(rec.contract_address) if rec.contract_address else "", tx.value,
                   "success" if rec.status == 1 else "failed", rec.gas_used, method]

    def _block_rows(self, lo: int, hi: int, _address: bytes | None) -> Iterator[list[Any]]:
        for h in range(lo, hi + 1):
            block = self.ledger.chain.block(h)
            if block is not None:
                yield [h, _iso(block.timestamp), _hx(block.hash), len(block.tx_hashes),
                       block.gas_used, _hx(block.miner)]

    def _event_rows(self, lo: int, hi: int, address: bytes | None) -> Iterator[list[Any]]:
        chain = self.ledger.chain
        if address is not None:
            logs = chain.logs_at(list(chain.log_positions_by_address(address, lo, hi)))
        else:
            logs = chain.logs_in_heights(lo, hi)
        times = self._timestamps(lo, hi) if logs else {}
        for log in logs:
            d = self.describe_log(log)
            args = "; ".join(f"{a['name']}={a['value']}" for a in d["args"])
            yield [log.height, times.get(log.height, ""), _hx(log.tx_hash), log.log_index,
                   d["address"], d["name"] or "", args, " ".join(d["topics"]), d["data"]]


EXPORT_HEADERS: dict[str, list[str]] = {
    "transactions": ["blockNumber", "timestamp", "index", "hash", "from", "to", "created",
                     "value", "status", "gasUsed", "method"],
    "blocks": ["number", "timestamp", "hash", "transactions", "gasUsed", "proposer"],
    "events": ["blockNumber", "timestamp", "transactionHash", "logIndex", "address", "event",
               "args", "topics", "data"],
}


@cache
def _native_classes() -> dict[bytes, Any]:
    from consortium.natives import chain_natives

    return chain_natives()


def _csv_line(row: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


def _iso(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(text: str, where: str) -> int:
    try:
        day = dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        raise ExplorerError(f"{where} must be a date as yyyy-mm-dd, got {text!r}") from None
    return int(day.timestamp())


def _roles(bits: int) -> list[str]:
    names = ((address_index.FROM, "from"), (address_index.TO, "to"),
             (address_index.CREATED, "created"), (address_index.EVENT, "event"))
    return [name for bit, name in names if bits & bit]


def _bytes_of(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise ExplorerError(f"{what} must be 0x and {2 * size} hex digits")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise ExplorerError(f"{what} must be 0x and {2 * size} hex digits") from None
    if len(raw) != size:
        raise ExplorerError(f"{what} must be 0x and {2 * size} hex digits")
    return raw


def _address(value: Any) -> bytes:
    return _bytes_of(value, 20, "an address")


def _hash(value: Any) -> bytes:
    return _bytes_of(value, 32, "a transaction hash")


def _position(value: Any) -> tuple[int, int]:
    """A page cursor, "height:index" as `next` gave it."""
    try:
        height, index = str(value).split(":")
        out = int(height), int(index)
    except ValueError:
        raise ExplorerError(f"before must be a cursor as 'height:index' (the previous "
                            f"page's next), got {value!r}") from None
    if out[0] < 0 or out[1] < 0:
        raise ExplorerError("before must not be negative")
    return out
