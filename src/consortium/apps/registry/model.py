"""The registry's vocabulary (contract, client, API, CLI): its address, asset and pledge
states, roles and limits. An asset moves applied -> registered (k approvals) -> retired
(k approvals), or rejected; registered <-> encumbered (pledges), registered ->
transfer_pending -> registered (new owner); the authority freezes any state and unfreezes
back to it. An external id stays claimed within its class unless its application is rejected.
"""

from __future__ import annotations

from consortium.evm.native import native_address

REGISTRY_ADDRESS = native_address(0x2003)

# Asset states, stored as index + 1 (0: no such asset). Append only.
ASSET_STATES = ("applied", "registered", "transfer_pending", "encumbered", "frozen", "retired",
                "rejected")
# Pledge states, stored as index + 1.
PLEDGE_STATES = ("active", "released")

# Asset classes have one state (the transitions of their events: "" -> active -> active).
ACTIVE = "active"

# The roles of Permissions each step checks (system/model.py ROLES holds them). Owners and
# secured parties need no role: they are the asset's own accounts.
REGISTRAR, COURT = "registrar", "court"
REGISTRY_ROLES = (REGISTRAR, COURT)

MAX_NAME = 128  # bytes of a class name
MAX_REGISTRARS = 32  # registrars of one class
