"""What the CashTokens and Securities contracts share: role checks against Permissions
(0x…1001), bounded texts, and calling the other native with its reason passed on."""

from __future__ import annotations

from typing import Any

from consortium.apps.securities.model import MAX_TEXT
from consortium.evm.abi_codec import decode as abi_decode
from consortium.evm.abi_codec import encode as abi_encode
from consortium.evm.host import Storage
from consortium.evm.native import ERROR_SELECTOR, MethodSpec, NativeContract
from consortium.system.model import PERMISSIONS_ADDRESS, role_bit
from consortium.system.permissions import hex_address
from consortium.system.state import PermissionsState

ZERO = b"\x00" * 20


class ServiceNative(NativeContract):
    """Base of the two securities contracts (not registered itself: it has no address)."""

    @property
    def height(self) -> int:
        return self.host.block.number

    @property
    def caller(self) -> bytes:
        return self.host.caller

    def role_bits(self, account: bytes) -> int:
        return PermissionsState(Storage(self.host, PERMISSIONS_ADDRESS)).role_bits(account)

    def has_role(self, account: bytes, role: str) -> bool:
        return bool(self.role_bits(account) & role_bit(role))

    def require_role(self, account: bytes, role: str, action: str) -> None:
        self.require(
            self.has_role(account, role),
            f"{hex_address(account)} does not hold the {role} role needed to {action}",
        )

    def require_text(self, text: str, what: str, *, required: bool = True) -> None:
        if required:
            self.require(bool(text.strip()), f"a {what} is required")
        self.require(len(text.encode()) <= MAX_TEXT, f"the {what} is longer than {MAX_TEXT} bytes")

    def call_native(self, to: bytes, spec: MethodSpec, *args: Any) -> Any:
        """Call another native's method as this contract; a revert there reverts here with
        the same reason."""
        ok, out = self.host.call(to, spec.selector + abi_encode(list(spec.inputs), list(args)))
        if not ok:
            if out[:4] == ERROR_SELECTOR:
                try:
                    (reason,) = abi_decode(["string"], out[4:])
                except Exception:
                    reason = f"{spec.name} failed"
                self.revert(str(reason))
            self.fail_without_reason()  # out of gas in the callee: pass it on
        if not spec.outputs:
            return None
        values = abi_decode(list(spec.outputs), out)
        return values[0] if len(values) == 1 else values
