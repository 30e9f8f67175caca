"""The vocabulary of consortium governance, shared by the system contracts, the ledger's
permission checks, the typed client, the API and the CLI: addresses, member tiers and
statuses, roles, proposal kinds with their parameters, and the default voting rules.

Rates are integers in basis points (10,000 = 100%); heights are block numbers. Nothing here
reads state: it is the one table every layer agrees on.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortium.evm.native import native_address

GOVERNANCE_ADDRESS = native_address(0x1000)
PERMISSIONS_ADDRESS = native_address(0x1001)
NODES_ADDRESS = native_address(0x1002)
SYSTEM_ADDRESSES = (GOVERNANCE_ADDRESS, PERMISSIONS_ADDRESS, NODES_ADDRESS)
# The finance services' contracts sit at 0x…2000 to 0x…2fff (docs/services/); an `app-call`
# proposal may call only those.
APP_ADDRESS_RANGE = range(0x2000, 0x3000)


def is_app_address(address: bytes) -> bool:
    return len(address) == 20 and int.from_bytes(address, "big") in APP_ADDRESS_RANGE

BASIS_POINTS = 10_000

# --- members ---------------------------------------------------------------------------------

TIERS = ("founding", "ordinary", "observer")  # stored as index + 1
MEMBER_STATUSES = ("active", "suspended", "expelled")  # stored as index + 1

# --- roles (a bit each, per account) --------------------------------------------------------

# Append only: an account's roles are stored as these bits (the services' follow the system's).
ROLES = (
    "committee", "member", "operator", "regulator", "auditor",
    "seller", "buyer", "financing_bank", "tax_authority",  # invoices
    "issuer_agent", "investor", "custodian", "cash_bank", "market_operator",  # securities
    "lender", "credit_agency", "mediator",  # credit information sharing
    "registrar", "court",  # digital asset registry
)


def role_bit(role: str) -> int:
    return 1 << ROLES.index(role)


def roles_of(mask: int) -> list[str]:
    return [r for i, r in enumerate(ROLES) if mask >> i & 1]


# --- proposals ----------------------------------------------------------------------------------

PROPOSAL_STATUSES = ("open", "executed", "failed", "rejected", "revoked")  # stored as index + 1
EXPIRED = "expired"  # an open proposal at or past its expiry height (derived, never stored)


@dataclass(frozen=True)
class ProposalKind:
    """One type of proposal: its number, its name, the ABI types and names of its parameters
    (the proposal's stored payload is their ABI encoding) and the methods that propose it."""

    number: int
    name: str  # as the CLI and the rules name it: "admit-member"
    types: tuple[str, ...]
    params: tuple[str, ...]
    supermajority: bool = False
    # Kinds added after chains were running: genesis writes no rule for them unless the
    # genesis names one (writing one would change the genesis state root of every existing
    # chain); their rule is then `default_rule`, read when the stored one is unset.
    added_later: bool = False

    @property
    def method(self) -> str:
        """Governance's method: "proposeAdmitMember" ("…TaskForce…" for "taskforce")."""
        words = self.name.replace("taskforce", "task-force").split("-")
        return "propose" + "".join(w.capitalize() for w in words)

    @property
    def client(self) -> str:
        """The Python client's method: "propose_admit_member"."""
        return "propose_" + self.name.replace("-", "_").replace("taskforce", "task_force")

    @property
    def signature(self) -> str:
        return f"{self.method}({','.join(self.types)})"


K = ProposalKind
PROPOSAL_KINDS: tuple[ProposalKind, ...] = (
    K(1, "admit-member", ("string", "string", "uint256", "address[]", "bytes20[]"),
      ("name", "tier", "weight", "accounts", "nodeIds")),
    K(2, "suspend-member", ("uint256",), ("member",)),
    K(3, "reinstate-member", ("uint256",), ("member",)),
    K(4, "expel-member", ("uint256",), ("member",), supermajority=True),
    K(5, "add-validator", ("bytes32", "uint256"), ("pubKey", "power")),
    K(6, "remove-validator", ("bytes32",), ("pubKey",)),
    K(7, "admit-node", ("uint256", "bytes20"), ("member", "nodeId")),
    K(8, "remove-node", ("bytes20",), ("nodeId",)),
    K(9, "grant-role", ("address", "string"), ("account", "role")),
    K(10, "revoke-role", ("address", "string"), ("account", "role")),
    K(11, "elect-officer", ("string", "address", "uint256"), ("office", "holder", "termBlocks")),
    K(12, "form-taskforce", ("string", "string", "address", "address[]"),
      ("name", "charter", "lead", "members")),
    K(13, "set-taskforce-members", ("string", "address", "address[]"), ("name", "lead", "members")),
    K(14, "dissolve-taskforce", ("string",), ("name",)),
    K(15, "change-rule", ("string", "uint256", "uint256", "uint256"),
      ("kind", "participation", "winRate", "period"), supermajority=True),
    K(16, "freeze", ("address",), ("target",)),
    K(17, "unfreeze", ("address",), ("target",)),
    K(18, "set-deploy-allowlist", ("address[]",), ("accounts",)),
    # A finance service's governed action (create an asset class, lift a blacklisting…):
    # Governance calls the service's contract with `call`, as the caller the service trusts.
    K(19, "app-call", ("address", "bytes"), ("contract", "call")),
    # Software upgrades (consortium.ledger.upgrades): the plan halts nodes without its
    # handler at its height, so scheduling one needs a supermajority; cancelling does not.
    K(20, "software-upgrade", ("string", "uint256", "string"),
      ("name", "height", "version"), supermajority=True, added_later=True),
    K(21, "cancel-software-upgrade", ("string",), ("name",), added_later=True),
    # The consortium acting on a user contract that trusts Governance's address: e.g. the
    # admin of an ERC-1967 proxy upgrading it (docs/operations.md, Upgrades).
    K(22, "contract-call", ("address", "bytes"), ("contract", "call"), added_later=True),
    # add-validator, recording whose validator it is (an expulsion then removes it)
    K(23, "add-member-validator", ("uint256", "bytes32", "uint256"),
      ("member", "pubKey", "power"), added_later=True),
)
del K
KIND_BY_NAME = {k.name: k for k in PROPOSAL_KINDS}


@dataclass(frozen=True)
class Rule:
    """How a kind of proposal is decided: it passes once voted weight / total weight ≥
    `participation` and yes weight / voted weight ≥ `win_rate` (basis points), and expires
    `period` blocks after it was proposed."""

    participation: int
    win_rate: int
    period: int

    def problem(self) -> str | None:
        """Why these numbers cannot be a rule, or None."""
        if not 1 <= self.participation <= BASIS_POINTS:
            return f"participation must be 1..{BASIS_POINTS} basis points"
        if not 1 <= self.win_rate <= BASIS_POINTS:
            return f"win rate must be 1..{BASIS_POINTS} basis points"
        if not 1 <= self.period <= MAX_PERIOD:
            return f"voting period must be 1..{MAX_PERIOD} blocks"
        return None


MAX_PERIOD = 10**9
DEFAULT_PERIOD = 10_000  # blocks: about 1.5 hours at 0.5 s blocks, a day at 9 s
# More than half of the voting weight takes part, more than half of it says yes: with four
# equal members, three yes votes pass a proposal and two do not.
SIMPLE_MAJORITY = Rule(participation=5001, win_rate=5001, period=DEFAULT_PERIOD)
# Rule changes and expulsions: two thirds take part and two thirds of them say yes.
SUPERMAJORITY = Rule(participation=6667, win_rate=6667, period=DEFAULT_PERIOD)


def default_rule(kind: ProposalKind) -> Rule:
    return SUPERMAJORITY if kind.supermajority else SIMPLE_MAJORITY


MAX_NAME = 128  # member, office and task force names, in bytes
MAX_TEXT = 4096  # a task force's charter
MAX_LIST = 256  # accounts, node ids or task force members in one proposal
# A validator's voting power: CometBFT refuses a set whose total passes 2**63 / 8, so keep
# each far below (a thousand validators at the cap still fit).
MAX_POWER = 10**12
