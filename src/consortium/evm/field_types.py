"""The names a record's plain fields are annotated with: `price: Uint` is a stored uint256
(`records.PLAIN` maps each name to its field type). They are Python's own types to mypy."""

from typing import TypeAlias

Uint: TypeAlias = int
Id: TypeAlias = int
Int: TypeAlias = int
Address: TypeAlias = bytes
Bytes32: TypeAlias = bytes
Text: TypeAlias = str
Currency: TypeAlias = str
Bool: TypeAlias = bool
Bytes: TypeAlias = bytes  # stored as Solidity stores `bytes`
IdSet: TypeAlias = tuple[int, ...]  # an enumerable set of ids (two slots: `SetOf(UINT)`)
IdList: TypeAlias = tuple[int, ...]  # an append-only list of ids (`ListOf(UINT)`)
