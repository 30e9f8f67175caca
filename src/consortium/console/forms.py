"""Forms and tables generated from declarations, for the console's pages to sign and show.

A form is one contract method a signed-in member calls: every declared write of a service
(`apps.surface.Write`, the same declarations the CLI, the client and the docs are built
from), each kind of governance proposal (`system.model.PROPOSAL_KINDS`), a vote, a revoke.
Its spec names the contract (address and the method's ABI fragment, from the shipped ABI
files, so the page encodes the call with ethers) and each input's kind, which says what the
page checks before signing (`static/js/sign_forms.js`): an address's checksum or a member's
name, a whole number in smallest units, an ISIN's check digit, a date… The kind follows from
the parameter's declared kind and the method's ABI type. The server never signs.

A table is one declared read (`apps.surface.Read`): the page asks for it with its parameters
and shows the answer (`table_rows`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from consortium.apps.surface import Param, Read, Service, Write
from consortium.evm.native import native_address

# What the page checks and how it encodes, per input kind (sign_forms.js implements each):
#   account   0x address (a mixed-case one must pass its checksum) or a member's name
#   accounts  several of those, one per line or comma-separated
#   member    a member's id, name or account -> its id
#   id        a positive whole number;   integer: 0 or more;   amount: 0 or more, smallest unit
#   basis-points  1..10000, or a percentage ("66.67%")
#   isin      12 characters with a valid check digit;   currency: ISO 4217 (3 letters)
#   date      yyyy-mm-dd, a real date (a uint argument takes it as yyyymmdd)
#   choice    one of `choices` (a uint argument takes its position, from 1)
#   flag      a checkbox;   text: any text;   texts: one per line
#   hash      0x + 64 hex digits;   digest: that, or a file whose SHA-256 the page takes
#   bytes     0x hex;   node-id(s): 40 hex digits;   pubkey: ed25519 key, base64 or 0x hex
#   blocks-from-now  a positive number of blocks -> the height that many blocks after the
#             next (read when sent: the CLI's --blocks), for an expiry height argument
INPUT_KINDS = ("account", "accounts", "member", "id", "integer", "amount", "basis-points",
               "isin", "currency", "date", "choice", "flag", "text", "texts", "hash", "digest",
               "bytes", "node-id", "node-ids", "pubkey", "blocks-from-now")


@dataclass(frozen=True)
class Field:
    """One input of a form: the argument's name, what the page checks, its ABI type."""

    name: str
    kind: str
    abi: str
    label: str = ""
    doc: str = ""
    required: bool = True
    default: Any = None
    choices: tuple[str, ...] = ()

    @property
    def caption(self) -> str:
        """What the input is called on the page: "term blocks" for termBlocks."""
        return self.label or _words(self.name)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "abi": self.abi,
                "label": self.caption, "doc": self.doc,
                "required": self.required, "default": self.default,
                "choices": list(self.choices)}


@dataclass(frozen=True)
class Form:
    """One contract method as a form: where it goes, what it asks, who may use it (`roles`:
    any of them; empty: any signed-in account; the contract still decides)."""

    key: str  # unique on the page: "registry.approve", "governance.grant-role"
    title: str
    summary: str
    contract: str  # 0x address
    fragment: dict[str, Any]  # the method's ABI entry (ethers encodes the call from it)
    fields: tuple[Field, ...]
    roles: tuple[str, ...] = ()
    margin: int = 200_000  # gas on top of the dry run's estimate
    done: str = "done"  # the outcome's word: "approved"
    fixed: dict[str, Any] = field(default_factory=dict)  # arguments the page does not ask

    @property
    def method(self) -> str:
        return str(self.fragment["name"])

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "summary": self.summary,
                "contract": self.contract, "fragment": self.fragment,
                "fields": [f.to_json() for f in self.fields], "roles": list(self.roles),
                "margin": self.margin, "done": self.done, "fixed": self.fixed}

    def spec(self) -> str:
        """The spec as JSON for a template's `data-form` attribute (autoescaped there)."""
        return json.dumps(self.to_json(), separators=(",", ":"))


class FormError(ValueError):
    """A declaration the console cannot turn into a form (its method is not in the ABI)."""


def _words(name: str) -> str:
    """"termBlocks" / "record_height" -> "term blocks" / "record height"."""
    out = "".join(" " + c.lower() if c.isupper() else c for c in name).replace("_", " ")
    return out.strip()


def input_kind(abi_type: str, declared: str = "", choices: tuple[str, ...] = ()) -> str:
    """The page's input kind for an argument of `abi_type` declared as `declared` (a
    `surface.Kind` name, or a governance parameter's name)."""
    base, many = (abi_type[:-2], True) if abi_type.endswith("[]") else (abi_type, False)
    if base == "address":
        return "accounts" if many else "account"
    if base == "bool":
        return "flag"
    if base == "bytes20":
        return "node-ids" if many else "node-id"
    if base == "bytes32":
        if declared in ("pubKey", "pubkey"):
            return "pubkey"
        return "digest" if declared == "hash or file" else "hash"
    if base == "bytes":
        return "bytes"
    if base == "string":
        if many:
            return "texts"
        if declared in ("isin", "currency", "date"):
            return declared
        return "choice" if choices else "text"
    if base.startswith(("uint", "int")):
        if choices:
            return "choice"
        if declared in ("id", "amount", "date", "member", "basis-points"):
            return declared
        return "integer"
    raise FormError(f"no input for ABI type {abi_type}")


def _choices(param: Param) -> tuple[str, ...]:
    enum = param.kind.schema.get("enum")
    return tuple(str(e) for e in enum) if isinstance(enum, list) else ()


def write_form(service: Service, write: Write, contract: str,
               abi: list[dict[str, Any]], roles: tuple[str, ...] = ()) -> Form:
    """The form of a service's declared write: its arguments in the method's order, each
    input's kind from its declared kind and the ABI type it is encoded as."""
    fragment = _fragment(abi, write.method, len(write.args))
    fields = []
    for param, entry in zip(write.args, fragment["inputs"], strict=True):
        choices = _choices(param)
        default = None if param.required else param.default
        # a count named amount is money or units: said to be in the smallest unit
        declared = "amount" if param.name == "amount" else param.kind.name
        fields.append(Field(param.name, input_kind(entry["type"], declared, choices),
                            entry["type"], doc=param.doc, required=param.required,
                            default=default, choices=choices))
    # the page matches inputs to fields by name: the declared names (id, to) stand for the
    # ABI's (assetId, newOwner), which encoding by position does not need
    fragment = {**fragment, "inputs": [{**entry, "name": param.name} for param, entry
                                       in zip(write.args, fragment["inputs"], strict=True)]}
    key = f"{service.name}.{write.cli or write.client}"
    title = _words(write.cli or write.client).capitalize()
    return Form(key, title, write.summary, contract, fragment, tuple(fields),
                roles=tuple(getattr(write, "roles", ()) or roles), done=write.done)


def _fragment(abi: list[dict[str, Any]], method: str, arity: int) -> dict[str, Any]:
    for entry in abi:
        if (entry.get("type") == "function" and entry.get("name") == method
                and len(entry.get("inputs", [])) == arity):
            return entry
    raise FormError(f"the contract's ABI has no {method} with {arity} arguments")


# --- services ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceContract:
    """Where a declared service's writes go: its contract's address and shipped ABI."""

    address: str
    abi: list[dict[str, Any]]


# Who a service's writes are for, when its declaration does not say (`Write.roles`, if the
# framework grows it, wins): the page offers a write to accounts holding one of these roles;
# the contract still decides (a registrar of *this* class, the buyer of *this* invoice).
WRITE_ROLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("registry", "approveRegistration"): ("registrar",),
    ("registry", "rejectApplication"): ("registrar",),
    ("registry", "approveRetirement"): ("registrar",),
    ("registry", "freeze"): ("court",),
    ("registry", "unfreeze"): ("court",),
    ("invoices", "confirm"): ("buyer",),
    ("invoices", "requestFinancing"): ("seller",),
    ("invoices", "finance"): ("financing_bank",),
    ("invoices", "repay"): ("buyer",),
    ("invoices", "markDefaulted"): ("financing_bank",),
    ("invoices", "cancel"): ("seller",),
    ("invoices", "reimburse"): ("buyer",),
    ("invoices", "setTaxVerified"): ("tax_authority",),
    ("cash", "createToken"): ("cash_bank",),
    ("cash", "mint"): ("cash_bank",),
    ("cash", "burn"): ("cash_bank",),
    ("securities", "mint"): ("issuer_agent",),
    ("securities", "redeem"): ("issuer_agent",),
    ("securities", "pause"): ("issuer_agent", "regulator"),
    ("securities", "unpause"): ("issuer_agent", "regulator"),
    ("securities", "setSettlementCycle"): ("issuer_agent", "market_operator"),
    ("securities", "freezeInvestor"): ("regulator",),
    ("securities", "unfreezeInvestor"): ("regulator",),
    ("securities", "forceTransfer"): ("regulator",),
    ("securities", "setInvestor"): ("custodian",),
    ("securities", "declareDividend"): ("issuer_agent",),
    ("credit", "createQuery"): ("lender",),
    ("credit", "acceptQuery"): ("credit_agency",),
    ("credit", "rejectQuery"): ("credit_agency",),
    ("credit", "deliverReport"): ("credit_agency",),
    ("credit", "confirmReport"): ("lender",),
    ("credit", "disputeReport"): ("lender",),
    ("credit", "resolveDispute"): ("mediator",),
}


# Each declared service's contract: its address's number and its shipped ABI file
# (apps/<package>/abi/<Name>.json, as `apps.shipped_abi` writes them).
SERVICE_CONTRACTS = {"cash": (0x2000, "securities", "CashTokens"),
                     "securities": (0x2001, "securities", "Securities"),
                     "credit": (0x2002, "credit", "Credit"),
                     "registry": (0x2003, "registry", "Registry"),
                     "invoices": (0x2004, "invoices", "Invoices"),
                     "forum": (0x2005, "forum", "Forum")}


@cache
def service_contracts() -> dict[str, ServiceContract]:
    """Each declared service's contract, by service name."""
    import consortium.apps

    apps = Path(consortium.apps.__file__).parent
    return {name: ServiceContract("0x" + native_address(number).hex(),
                                  json.loads((apps / package / "abi" / f"{abi}.json").read_text()))
            for name, (number, package, abi) in SERVICE_CONTRACTS.items()}


def service_forms(service: Service) -> list[Form]:
    """A form per declared write of `service` (none if its contract is unknown here)."""
    contract = service_contracts().get(service.name)
    if contract is None:
        return []
    return [write_form(service, w, contract.address, contract.abi,
                       WRITE_ROLES.get((service.name, w.method), ()))
            for w in service.writes]


# --- governance -------------------------------------------------------------------------------

EXECUTION_GAS = 5_000_000  # a vote may be the one that passes (and executes) its proposal
# What a proposal parameter is, where its name says more than its ABI type
_GOVERNANCE_INPUTS = {"member": "member", "pubKey": "pubkey", "participation": "basis-points",
                      "winRate": "basis-points"}
_GOVERNANCE_DEFAULTS = {"tier": "ordinary", "weight": 1, "power": 10}
_GOVERNANCE_DOCS = {
    "member": "The member: its id, name or one of its accounts.",
    "account": "The account: 0x address or a member's name (its first account).",
    "accounts": "Accounts, one per line or comma-separated (0x addresses or member names).",
    "members": "Task force members: accounts or member names, one per line.",
    "lead": "The task force's lead (one of its members).",
    "nodeIds": "Node ids (40 hex digits), one per line; may be empty.",
    "nodeId": "The node id (40 hex digits, as in ID@HOST:PORT).",
    "pubKey": "The ed25519 consensus key, base64 (as `consortium join` prints it).",
    "participation": "Share of the weight that must vote: basis points (5001) or percent.",
    "winRate": "Share of the votes that must say yes: basis points or percent.",
    "period": "Voting period, in blocks.",
    "termBlocks": "Term length in blocks, from the election.",
    "height": "The first block the new version runs.",
    "call": "The ABI-encoded call, 0x hex.",
    "weight": "Committee weight (observers 0).",
    "power": "Voting power.",
}


@cache
def system_abi(name: str) -> list[dict[str, Any]]:
    """A system contract's shipped ABI file (consortium/system/abi/<name>.json): the stable
    entry point, whatever moves in the contracts' Python."""
    import consortium.system

    path = Path(consortium.system.__file__).parent / "abi" / f"{name}.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def governance_abi() -> list[dict[str, Any]]:
    return system_abi("Governance")


def permissions_abi() -> list[dict[str, Any]]:
    return system_abi("Permissions")


def proposal_forms() -> list[Form]:
    """A form per kind of proposal (`system.model.PROPOSAL_KINDS`), its inputs from the
    kind's `propose…` method in Governance's ABI; only committee accounts propose."""
    from consortium.system.model import (
        GOVERNANCE_ADDRESS,
        PROPOSAL_KINDS,
        ROLES,
        TIERS,
    )

    choices = {"tier": TIERS, "role": ROLES, "kind": tuple(k.name for k in PROPOSAL_KINDS)}
    forms = []
    for kind in PROPOSAL_KINDS:
        fragment = _fragment(governance_abi(), kind.method, len(kind.types))
        fields = []
        for entry in fragment["inputs"]:
            name, abi_type = entry["name"], entry["type"]
            options = choices.get(name, ()) if abi_type == "string" else ()
            declared = _GOVERNANCE_INPUTS.get(name, "")
            fields.append(Field(
                name, input_kind(abi_type, declared, options), abi_type,
                doc=_GOVERNANCE_DOCS.get(name, ""),
                # a member may have no node yet; an empty allowlist lets every member deploy
                required=name != "charter" and not (
                    name == "nodeIds" or kind.name == "set-deploy-allowlist"),
                default=_GOVERNANCE_DEFAULTS.get(name), choices=options))
        summary = "Needs a supermajority. " if kind.supermajority else ""
        forms.append(Form(f"governance.{kind.name}", _words(kind.name).capitalize(),
                          summary + f"Propose {kind.name}; members then vote.",
                          "0x" + GOVERNANCE_ADDRESS.hex(), fragment, tuple(fields),
                          roles=("committee",), margin=EXECUTION_GAS, done="proposed"))
    return forms


def vote_form(proposal_id: int, support: bool) -> Form:
    """A vote button's form: nothing to fill in."""
    from consortium.system.model import GOVERNANCE_ADDRESS

    word = "yes" if support else "no"
    return Form(f"vote.{proposal_id}.{word}", f"Vote {word}", f"Vote {word} on proposal "
                f"{proposal_id}", "0x" + GOVERNANCE_ADDRESS.hex(),
                _fragment(governance_abi(), "vote", 2), (), roles=("committee",),
                margin=EXECUTION_GAS, done=f"voted {word}",
                fixed={"proposal_id": proposal_id, "support": support})


def revoke_form(proposal_id: int) -> Form:
    from consortium.system.model import GOVERNANCE_ADDRESS

    return Form(f"revoke.{proposal_id}", "Revoke", f"Withdraw proposal {proposal_id}",
                "0x" + GOVERNANCE_ADDRESS.hex(), _fragment(governance_abi(), "revoke", 1), (),
                roles=("committee",), margin=EXECUTION_GAS, done="revoked",
                fixed={"proposal_id": proposal_id})


def regulator_forms() -> list[Form]:
    """What a regulator does directly, without a vote: freeze or unfreeze an account or a
    contract (Permissions)."""
    from consortium.system.model import PERMISSIONS_ADDRESS

    out = []
    for name, doc, done in (("freeze", "Freeze an account or contract now (no vote).", "frozen"),
                            ("unfreeze", "Unfreeze an account or contract now.", "unfrozen")):
        fragment = _fragment(permissions_abi(), name, 1)
        out.append(Form(f"regulator.{name}", name.capitalize(), doc,
                        "0x" + PERMISSIONS_ADDRESS.hex(), fragment,
                        (Field("target", "account", "address",
                               doc="An account or contract address."),),
                        roles=("regulator",), done=done))
    return out


def method_forms(service: str, *, purpose: str = "call", roles: tuple[str, ...] = (),
                 done: str = "done") -> list[Form]:
    """A form per state-changing method of a service contract's shipped ABI, inputs by ABI
    type (and what an input's name says: an ISIN, a currency, a side): the methods no
    declaration covers yet (placing an order, issuing an invoice) are callable from the page,
    and an app-call proposal's call is built from them. Keys: "<purpose>.<service>.<method>"."""
    contract = service_contracts().get(service)
    if contract is None:
        return []
    out = []
    for entry in contract.abi:
        if entry.get("type") != "function" or entry.get("stateMutability") in ("view", "pure"):
            continue
        try:
            fields = tuple(_abi_field(i) for i in entry["inputs"])
        except FormError:
            continue  # a tuple argument: not offered
        out.append(Form(f"{purpose}.{service}.{entry['name']}", entry["name"],
                        f"{service}: {entry['name']}", contract.address, entry, fields,
                        roles=roles, done=done))
    return out


def relabelled_form(service: str, method: str, docs: dict[str, tuple[str, str]],
                    field_changes: dict[str, dict[str, Any]] | None = None,
                    **form_changes: Any) -> Form | None:
    """A method's form as a page offers it apart from the generic one: the fields named in
    `docs` with their own (label, doc) and `field_changes`, the form with `form_changes`
    (key, title, summary, done); None where the contract lacks the method."""
    found = next((f for f in method_forms(service) if f.method == method), None)
    if found is None:
        return None
    changes = field_changes or {}
    fields = tuple(replace(f, label=docs[f.name][0], doc=docs[f.name][1],
                           **changes.get(f.name, {}))
                   if f.name in docs else f for f in found.fields)
    return replace(found, fields=fields, **form_changes)


def app_call_forms(service: str) -> list[Form]:
    """The calls an app-call proposal can make to a service's contract (the page encodes the
    call into the proposal; Governance dry-runs it when proposed, so a call the contract would
    refuse is refused with its reason)."""
    return method_forms(service, purpose="app-call", roles=("committee",), done="encoded")


# What an ABI input's name says its value is, where it says more than its type
_NAMED_KINDS = {"isin": "isin", "currency": "currency", "due_date": "date"}
_NAMED_CHOICES = {"side": ("buy", "sell")}  # stored as position + 1 (securities.model.SIDES)


def _abi_field(entry: dict[str, Any]) -> Field:
    name, abi_type = entry["name"], entry["type"]
    choices = _NAMED_CHOICES.get(name, ()) if abi_type.startswith("uint") else ()
    return Field(name, input_kind(abi_type, _NAMED_KINDS.get(name, ""), choices), abi_type,
                 choices=choices)


@dataclass(frozen=True)
class TableSpec:
    """One declared read as a table: what the page asks (its positional parameters and
    filters, as inputs) and the JSON-RPC method it calls."""

    key: str
    title: str
    rpc: str
    params: tuple[Field, ...]
    filters: tuple[Field, ...]
    nullable: bool

    @property
    def needs_input(self) -> bool:
        return any(p.required for p in self.params)


def read_table(service: Service, read: Read) -> TableSpec:
    def as_field(param: Param, optional: bool = False) -> Field:
        choices = _choices(param)
        kind = "choice" if choices else {"id": "id", "account": "account", "isin": "isin",
                                         "currency": "currency", "date": "date",
                                         "count": "integer"}.get(param.kind.name, "text")
        required = param.required and not optional  # a filter's keys are all optional
        return Field(param.name, kind, "", doc=param.doc, required=required,
                     default=None if param.required else param.default, choices=choices)

    return TableSpec(f"{service.name}.{read.name}", read.summary, read.rpc,
                     tuple(as_field(p) for p in read.params),
                     tuple(as_field(f, optional=True) for f in read.filters), read.nullable)


def read_params(table: TableSpec, service: Service, query: dict[str, str]) -> list[Any]:
    """A read's JSON-RPC parameters from a page's query string: its positional parameters
    (parsed by their declared kinds: a bad value raises `surface.BadValue`), then the filter
    object of the non-empty filters."""
    read = next(r for r in service.reads if f"{service.name}.{r.name}" == table.key)
    out: list[Any] = []
    for param in read.params:
        text = (query.get(param.name) or "").strip()
        if not text:
            if param.required:
                from consortium.apps.surface import BadValue

                raise BadValue(f"{param.name}: required")
            out.append(None)
            continue
        out.append(_json_value(param, param.kind.parse(text, param.name), text))
    while out and out[-1] is None:
        out.pop()
    if read.filters:
        given = {f.name: (query.get(f.name) or "").strip() for f in read.filters}
        chosen = {k: v for k, v in given.items() if v}
        read.parse_filters(chosen, "filter")  # the same refusal as JSON-RPC's, before asking
        if chosen:
            out.append(chosen)
    return out


def _json_value(param: Param, parsed: Any, text: str) -> Any:
    """What JSON-RPC takes for a parsed value: the text itself for a hash (parsed to bytes),
    the number for a count or id."""
    if isinstance(parsed, bytes):
        return text
    return parsed


def script_json(value: Any) -> str:
    """JSON to put inside a <script type="application/json"> block (rendered unescaped):
    "<" escaped, so no text in it can close the block."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


# --- tables -------------------------------------------------------------------------------------

def table_rows(value: Any) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows for any read's answer: a list of objects (one row each, columns in
    first-seen order), one object (field / value), or a plain value."""
    if isinstance(value, list):
        columns: list[str] = []
        for item in value:
            for key in item if isinstance(item, dict) else ["value"]:
                if key not in columns:
                    columns.append(key)
        rows = [[cell(item.get(c)) if isinstance(item, dict) else cell(item) for c in columns]
                for item in value]
        return columns, rows
    if isinstance(value, dict):
        return ["field", "value"], [[k, cell(v)] for k, v in value.items()]
    return ["value"], [[cell(value)]]


def cell(value: Any) -> str:
    """One cell's text: lists one per line, objects as compact JSON, null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "\n".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


__all__ = ["INPUT_KINDS", "WRITE_ROLES", "Field", "Form", "FormError", "ServiceContract",
           "TableSpec", "app_call_forms", "cell", "governance_abi", "input_kind",
           "method_forms", "permissions_abi", "proposal_forms", "read_params", "read_table",
           "regulator_forms", "relabelled_form", "revoke_form", "script_json", "service_forms",
           "table_rows", "vote_form", "write_form"]
