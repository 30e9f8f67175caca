"""The notary's vocabulary: its address, its role, its states and limits."""

from __future__ import annotations

from consortium.evm.native import native_address

# A service's address is in 0x…2000-0x…2fff (`consortium.system.model.APP_ADDRESS_RANGE`:
# app-call proposals may call it). The example sits at the end of the range, away from
# real services.
NOTARY_ADDRESS = native_address(0x2F00)
NOTARY_ROLE = "notary"  # appended to `consortium.system.model.ROLES` (append only)
NOTARIZED = "notarized"  # a document's one state (the to-state of its transition)
MAX_NOTE = 128  # bytes of a note
