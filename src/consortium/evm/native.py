"""Native contracts: Python classes served at fixed addresses as EVM precompiles."""

from __future__ import annotations

NATIVE_STUB_CODE = b"\xfe"  # INVALID: never executed, the precompile answers first

_REGISTRY: dict[bytes, type] = {}


def registered_natives() -> dict[bytes, type]:
    return dict(_REGISTRY)
