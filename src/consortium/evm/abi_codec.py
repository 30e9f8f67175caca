"""ABI coding on the native contracts' hot path: eth-abi's results, an order of magnitude
sooner.

Every call into a native decodes its arguments and encodes its answer, and every event
encodes its data; through eth-abi that is ~20 µs per decode and ~10 µs per encode here, more
than the EVM spends on a whole token transfer. `encode(types, values)` and
`decode(types, data)` answer exactly what `eth_abi.encode` / `eth_abi.decode` answer, from
codecs compiled once per type list:

- `decode` reads canonical encodings only — every offset where eth-abi's own encoder puts it,
  zero padding, integers and booleans in range, valid UTF-8, nothing after the end — which
  are what every ABI encoder produces, and which eth-abi decodes to the same values (tuples
  for arrays and tuples, lower-case hex strings for addresses). Anything else — a
  non-canonical layout, a malformed or truncated one — goes to eth-abi itself, which decodes
  it or raises as it always did. So what a native accepts, and what it is given, is eth-abi's
  decision on every input; only the time differs.
- `encode` takes values of exactly the types eth-abi produces and the natives use (`int` in
  range, `bool`, `bytes`, `str`, 20-byte `bytes` addresses, lists or tuples); any other value
  goes to eth-abi (which accepts more forms, or raises its error).
- Types outside uintN, intN, address, bool, bytesN, bytes, string, arrays and tuples
  (fixed-point, function) always go to eth-abi.

Type strings are parsed with eth-abi's own grammar. `tests/unit/test_abi_codec.py` checks the
equivalence against eth-abi on random values and on mutated encodings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from eth_abi import decode as _eth_decode
from eth_abi import encode as _eth_encode
from eth_abi.grammar import ABIType, BasicType, TupleType, parse

WORD = 32
ZERO_WORD = bytes(WORD)
U256 = 1 << 256


class _NotCanonical(Exception):
    """The fast path cannot answer for this input: eth-abi decides."""


Encoder = Callable[[Any], bytes]
# (data, position) -> (value, end): for a static type `end` is position + its size; for a
# dynamic one the end of its canonical encoding starting at `position`
Decoder = Callable[[bytes, int], tuple[Any, int]]


class _Codec:
    __slots__ = ("dynamic", "size", "encode", "decode", "min_size")

    def __init__(self, dynamic: bool, size: int, encode: Encoder, decode: Decoder,
                 min_size: int) -> None:
        self.dynamic = dynamic  # encoded out of line (head holds an offset)
        self.size = size  # bytes in the head (32 for a dynamic type)
        self.encode = encode
        self.decode = decode
        self.min_size = min_size  # the fewest bytes any encoding of it takes


# --- elementary types --------------------------------------------------------------------------


def _uint(bits: int) -> _Codec:
    limit = 1 << bits

    def enc(v: Any) -> bytes:
        if type(v) is not int or not 0 <= v < limit:
            raise _NotCanonical
        return v.to_bytes(WORD, "big")

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        end = pos + WORD
        v = int.from_bytes(data[pos:end], "big")
        if v >= limit or end > len(data):
            raise _NotCanonical
        return v, end

    return _Codec(False, WORD, enc, dec, WORD)


def _int(bits: int) -> _Codec:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def enc(v: Any) -> bytes:
        if type(v) is not int or not low <= v < high:
            raise _NotCanonical
        return v.to_bytes(WORD, "big", signed=True)

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        end = pos + WORD
        if end > len(data):
            raise _NotCanonical
        v = int.from_bytes(data[pos:end], "big", signed=True)
        if not low <= v < high:
            raise _NotCanonical
        return v, end

    return _Codec(False, WORD, enc, dec, WORD)


def _address() -> _Codec:
    def enc(v: Any) -> bytes:
        if type(v) is not bytes or len(v) != 20:
            raise _NotCanonical
        return bytes(12) + v

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        end = pos + WORD
        word = data[pos:end]
        if len(word) != WORD or word[:12] != ZERO_WORD[:12]:
            raise _NotCanonical
        return "0x" + word[12:].hex(), end

    return _Codec(False, WORD, enc, dec, WORD)


def _bool() -> _Codec:
    true_word = (1).to_bytes(WORD, "big")

    def enc(v: Any) -> bytes:
        if type(v) is not bool:
            raise _NotCanonical
        return true_word if v else ZERO_WORD

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        end = pos + WORD
        word = data[pos:end]
        if word == ZERO_WORD:
            return False, end
        if word == true_word:
            return True, end
        raise _NotCanonical

    return _Codec(False, WORD, enc, dec, WORD)


def _fixed_bytes(n: int) -> _Codec:
    pad = bytes(WORD - n)

    def enc(v: Any) -> bytes:
        if type(v) is not bytes or len(v) > n:
            raise _NotCanonical
        return v + bytes(WORD - len(v))

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        end = pos + WORD
        word = data[pos:end]
        if len(word) != WORD or word[n:] != pad:
            raise _NotCanonical
        return word[:n], end

    return _Codec(False, WORD, enc, dec, WORD)


def _padded(raw: bytes) -> bytes:
    """`bytes` and `string`'s encoding: the length, then the bytes padded to whole words."""
    n = len(raw)
    return n.to_bytes(WORD, "big") + raw.ljust(n + -n % WORD, b"\x00")


_TEXTS_MAX = 1 << 12  # strings' encodings remembered (a pure function of the string)
_texts: dict[str, bytes] = {}


def _text(v: Any) -> bytes:
    """A string's encoding, remembered: the same states, ISINs, currencies and kinds recur in
    nearly every event a native emits."""
    if type(v) is not str:
        raise _NotCanonical
    found = _texts.get(v)
    if found is None:
        try:
            found = _padded(v.encode("utf-8"))
        except UnicodeEncodeError:
            raise _NotCanonical from None
        if len(_texts) >= _TEXTS_MAX:
            _texts.clear()
        _texts[v] = found
    return found


def _byte_string(text: bool) -> _Codec:
    def enc(v: Any) -> bytes:
        if type(v) is not bytes:
            raise _NotCanonical
        return _padded(v)

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        start = pos + WORD
        n = int.from_bytes(data[pos:start], "big")
        end = start + n + (-n % WORD)
        if end > len(data) or start > len(data):
            raise _NotCanonical
        raw = data[start:start + n]
        if data[start + n:end] != bytes(end - start - n):
            raise _NotCanonical
        if not text:
            return raw, end
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError:
            raise _NotCanonical from None

    return _Codec(True, WORD, _text if text else enc, dec, WORD)


# --- tuples and arrays ---------------------------------------------------------------------


def _sequence_codec(items: Callable[[int], Sequence[_Codec]], count: int | None) -> _Codec:
    """A tuple (`count` = its arity, `items(n)` its components) or an array of a fixed
    `count` of items; both are laid out as heads then tails."""
    parts = items(count if count is not None else 0)
    dynamic = any(c.dynamic for c in parts)
    head = sum(c.size for c in parts)
    arity = len(parts)
    encode = _picking_encoder(parts, range(arity))

    def enc(v: Any) -> bytes:
        if type(v) is not tuple and type(v) is not list:
            raise _NotCanonical
        if len(v) != arity:
            raise _NotCanonical
        return encode(v)

    plan = _decoding_plan(parts)

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        return _decode_parts(plan, data, pos, head)

    size = WORD if dynamic else head
    return _Codec(dynamic, size, enc, dec, head)


def _picking_encoder(parts: Sequence[_Codec], places: Sequence[int]
                     ) -> Callable[[Sequence[Any]], bytes]:
    """The encoding of `parts` with part k's value at `values[places[k]]`, its plan (each
    part's encoder and whether it goes to the tail) made once: a tuple's, or an event's data
    taken from all of the event's arguments."""
    plan = tuple((place, c.encode, c.dynamic) for place, c in zip(places, parts, strict=True))
    if not any(c.dynamic for c in parts):
        return lambda values: b"".join([encode(values[place]) for place, encode, _ in plan])
    head = sum(c.size for c in parts)

    def encode_with_tails(values: Sequence[Any]) -> bytes:
        heads: list[bytes] = []
        tails: list[bytes] = []
        offset = head
        for place, encode, dynamic in plan:
            encoded = encode(values[place])
            if dynamic:
                heads.append(offset.to_bytes(WORD, "big"))
                tails.append(encoded)
                offset += len(encoded)
            else:
                heads.append(encoded)
        heads += tails
        return b"".join(heads)

    return encode_with_tails


def _decoding_plan(parts: Sequence[_Codec]) -> tuple[tuple[Decoder, bool], ...]:
    """Each part's decoder and whether it is in the tail, for `_decode_parts`."""
    return tuple((c.decode, c.dynamic) for c in parts)


def _decode_parts(plan: Sequence[tuple[Decoder, bool]], data: bytes, pos: int,
                  head: int) -> tuple[tuple[Any, ...], int]:
    out = []
    at = pos
    tail = pos + head
    if tail > len(data):
        raise _NotCanonical
    for decode, dynamic in plan:
        if dynamic:
            offset = int.from_bytes(data[at:at + WORD], "big")
            if pos + offset != tail:
                raise _NotCanonical
            value, tail = decode(data, tail)
            at += WORD
        else:
            value, at = decode(data, at)
        out.append(value)
    return tuple(out), tail


def _dynamic_array(item: _Codec) -> _Codec:
    plan = _decoding_plan([item])

    def enc(v: Any) -> bytes:
        if type(v) is not tuple and type(v) is not list:
            raise _NotCanonical
        n = len(v)
        return n.to_bytes(WORD, "big") + _picking_encoder([item] * n, range(n))(v)

    def dec(data: bytes, pos: int) -> tuple[Any, int]:
        start = pos + WORD
        n = int.from_bytes(data[pos:start], "big")
        if start > len(data) or n * item.min_size > len(data) - start:
            raise _NotCanonical
        return _decode_parts(plan * n, data, start, item.size * n)

    return _Codec(True, WORD, enc, dec, WORD)


# --- compiling type strings ----------------------------------------------------------------


def _compile(t: ABIType) -> _Codec:
    if t.arrlist:
        item = _compile(t.item_type)
        dims = t.arrlist[-1]
        if not dims:
            return _dynamic_array(item)
        return _sequence_codec(lambda n: [item] * n, dims[0])
    if isinstance(t, TupleType):
        components = [_compile(c) for c in t.components]
        return _sequence_codec(lambda _n: components, len(components))
    if not isinstance(t, BasicType):
        raise _NotCanonical
    base, sub = t.base, t.sub
    if base == "uint":
        return _uint(sub)  # type: ignore[arg-type]
    if base == "int":
        return _int(sub)  # type: ignore[arg-type]
    if base == "address":
        return _address()
    if base == "bool":
        return _bool()
    if base == "bytes":
        return _byte_string(False) if sub is None else _fixed_bytes(sub)  # type: ignore[arg-type]
    if base == "string":
        return _byte_string(True)
    raise _NotCanonical  # fixed-point, function: eth-abi's


@lru_cache(maxsize=4096)
def _parts(types: tuple[str, ...]) -> list[_Codec] | None:
    """The compiled codecs of a type list's types, or None: eth-abi handles it."""
    try:
        parsed = [parse(t) for t in types]
        for p in parsed:
            p.validate()
        return [_compile(p) for p in parsed]
    except Exception:
        return None


@lru_cache(maxsize=4096)
def _codec(types: tuple[str, ...]) -> _Codec | None:
    """The compiled codec of a type list (as a tuple), or None: eth-abi handles it."""
    parts = _parts(types)
    return None if parts is None else _sequence_codec(lambda _n: parts, len(parts))


class TypeList:
    """The codec of one list of ABI types: `encode` and `decode` as `eth_abi.encode(types,
    …)` / `eth_abi.decode(types, …)` answer (a native method keeps one for its arguments and
    one for its results)."""

    __slots__ = ("types", "_fast")

    def __init__(self, types: Sequence[str]) -> None:
        self.types = list(types)
        self._fast = _codec(tuple(types))

    def encode(self, values: Sequence[Any]) -> bytes:
        fast = self._fast
        if fast is not None:
            try:
                return fast.encode(values)
            except _NotCanonical:
                pass
        return _eth_encode(self.types, list(values))

    def decode(self, data: bytes) -> tuple[Any, ...]:
        fast = self._fast
        if type(data) is not bytes:
            data = bytes(data)
        if fast is not None:
            try:
                values, end = fast.decode(data, 0)
            except (_NotCanonical, IndexError, OverflowError):
                pass
            else:
                if end == len(data):
                    return values  # type: ignore[no-any-return]
        return tuple(_eth_decode(self.types, data))


@lru_cache(maxsize=4096)
def type_list(types: tuple[str, ...]) -> TypeList:
    return TypeList(types)


@lru_cache(maxsize=1024)
def value_encoder(type_str: str) -> Encoder:
    """`lambda v: eth_abi.encode([type_str], [v])` for one static type (an indexed event
    topic): the element's own codec, without a one-item tuple around it."""
    try:
        t = parse(type_str)
        t.validate()
        codec = _compile(t)
    except Exception:
        codec = None
    if codec is None or codec.dynamic:
        return lambda v: type_list((type_str,)).encode((v,))
    fast = codec.encode

    def enc(v: Any) -> bytes:
        try:
            return fast(v)
        except _NotCanonical:
            return _eth_encode([type_str], [v])

    return enc


def picking_encoder(types: tuple[str, ...], places: tuple[int, ...]
                    ) -> Callable[[Sequence[Any]], bytes]:
    """`lambda values: encode(types, [values[i] for i in places])`, planned once: an event's
    data, its non-indexed arguments taken from all of them without a list in between."""

    def slow(values: Sequence[Any]) -> bytes:
        return _eth_encode(list(types), [values[i] for i in places])

    parts = _parts(types)
    if parts is None:
        return slow
    fast = _picking_encoder(parts, places)

    def enc(values: Sequence[Any]) -> bytes:
        try:
            return fast(values)
        except _NotCanonical:
            return slow(values)

    return enc


def encode(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """`eth_abi.encode(types, values)`."""
    return type_list(tuple(types)).encode(values)


def decode(types: Sequence[str], data: bytes) -> tuple[Any, ...]:
    """`eth_abi.decode(types, data)`."""
    return type_list(tuple(types)).decode(data)


__all__ = ["TypeList", "decode", "encode", "picking_encoder", "type_list", "value_encoder"]
