"""What the credit and registry services' contracts and readers share: a native-contract base
with the role checks every write makes, and a codec for calling a native by method name.

    class Credit(ServiceContract):
        address = CREDIT_ADDRESS
        ...
        self.require_role(caller, "lender", "report a credit record")

    calls = NativeCalls(Credit)
    data = calls.encode("report", subject, "default", record_hash)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode

from consortium.evm.host import Storage
from consortium.evm.native import EventSpec, NativeContract
from consortium.system.model import GOVERNANCE_ADDRESS, PERMISSIONS_ADDRESS, role_bit
from consortium.system.permissions import hex_address
from consortium.system.state import PermissionsState

ZERO_ADDRESS = b"\x00" * 20
ZERO_HASH = b"\x00" * 32
MAX_REASON = 256  # bytes of a reason string


class ServiceContract(NativeContract):
    """A finance service's contract: role checks against Permissions (0x…1001), the
    Governance caller, bounded texts. Not registered itself (it has no address)."""

    @property
    def height(self) -> int:
        return self.host.block.number

    @property
    def caller(self) -> bytes:
        return self.host.caller

    def has_role(self, account: bytes, role: str) -> bool:
        perms = PermissionsState(Storage(self.host, PERMISSIONS_ADDRESS))
        return bool(perms.role_bits(account) & role_bit(role))

    def require_role(self, account: bytes, role: str, action: str) -> None:
        self.require(
            self.has_role(account, role),
            f"{hex_address(account)} does not hold the {role} role needed to {action}",
        )

    def by_governance(self) -> bool:
        """Whether this call is Governance's (an app-call proposal that passed)."""
        return self.host.caller == GOVERNANCE_ADDRESS

    def require_governance(self, action: str) -> None:
        self.require(
            self.by_governance(),
            f"only the Governance contract may {action}: propose it (an app-call proposal)",
        )

    def require_text(self, text: str, what: str, limit: int = MAX_REASON, *,
                     required: bool = True) -> None:
        if required:
            self.require(bool(text.strip()), f"a {what} is required")
        self.require(len(text.encode()) <= limit, f"the {what} is longer than {limit} bytes")


# (contract address, topics position-wise: None = any) -> the matching logs, oldest first,
# each {"block": int, "txHash": "0x…", "topics": [bytes, …], "data": bytes}
LogSource = Callable[[bytes, list[bytes | None]], list[dict[str, Any]]]


def transition_history(logs: LogSource, address: bytes, spec: EventSpec,
                       object_id: int | bytes) -> list[dict[str, Any]]:
    """An object's transitions, oldest first, from its contract's transition events
    (`Name(<id> indexed, address indexed actor, string fromState, string toState,
    string reason)`)."""
    word = object_id if isinstance(object_id, bytes) else object_id.to_bytes(32, "big")
    out = []
    for log in logs(address, [spec.topic0, word.rjust(32, b"\x00")]):
        old, new, reason = abi_decode(["string", "string", "string"], bytes(log["data"]))
        out.append({
            "block": log["block"],
            "txHash": log["txHash"],
            "actor": "0x" + bytes(log["topics"][2])[12:].hex(),
            "from": old,
            "to": new,
            "reason": reason,
        })
    return out


def hex_of(value: Any) -> str:
    """An address or hash as lower-case 0x hex (eth-abi answers addresses as 0x strings)."""
    if isinstance(value, str):
        return value.lower()
    return "0x" + bytes(value).hex()


__all__ = [
    "MAX_REASON",
    "ZERO_ADDRESS",
    "ZERO_HASH",
    "LogSource",
    "ServiceContract",
    "hex_of",
    "transition_history",
]
