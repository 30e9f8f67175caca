"""The Invoices native contract (0x…2004); rules in docs/services/invoices.md. An invoice is
keyed by its fingerprint (computed off chain: `fingerprint.py`), so the chain never sees its
fields. Checked here: a fingerprint registered once, financing never over the face amount,
every caller's role. Every write emits `InvoiceTransition` (from = to for a further tranche
or a tax verification)."""

from __future__ import annotations

from typing import Any

from consortium.apps.invoices.model import (
    BUYER,
    CANCELLABLE,
    FINANCING_BANK,
    INVOICES_ADDRESS,
    MAX_AMOUNT,
    SELLER,
    STATES,
    TAX_AUTHORITY,
    currency_problem,
    date_problem,
    show_date,
    utc_date,
)
from consortium.apps.invoices.state import InvoiceRecord, InvoiceState, PaymentRecord, TrancheRecord
from consortium.apps.service import (
    MAX_BATCH_READ,
    MAX_REASON,
    ZERO_ADDRESS,
    ServiceContract,
    index_read,
    keyed_reads,
    state_read,
    transition,
)
from consortium.evm.native import StateOf, event, method, register, view
from consortium.evm.records import hex0x as fp_hex
from consortium.system.permissions import as_address, hex_address

S = InvoiceState
INVOICE, TRANCHE = InvoiceRecord.abi_type(), TrancheRecord.abi_type()
PAYMENT = PaymentRecord.abi_type()


@register
class Invoices(ServiceContract):
    address = INVOICES_ADDRESS

    InvoiceTransition = transition("bytes32 fingerprint")
    InvoiceIssued = event("bytes32 indexed fingerprint", "address indexed seller",
                          "address indexed buyer", "uint256 amount", "string currency",
                          "uint256 dueDate")
    TrancheFinanced = event("bytes32 indexed fingerprint", "address indexed bank",
                            "uint256 tranche", "uint256 amount", "uint256 financed")
    PaymentMade = event("bytes32 indexed fingerprint", "address indexed payee", "uint256 amount",
                        "string currency")
    TaxVerification = event("bytes32 indexed fingerprint", "address indexed authority",
                            "bool verified", "string reason")

    state = StateOf(InvoiceState)

    # the chain's date: the UTC date of this block's time, yyyymmdd
    today = view("today()", "uint256", (), lambda c: utc_date(c.host.block.timestamp))
    is_registered = view("isRegistered(bytes32)", "bool", ("fingerprint",),
                         lambda c, fp: c.state.exists(bytes(fp)))

    invoice, invoices_of = keyed_reads(
        "invoice(bytes32)", "invoicesOf(bytes32[])", ("fingerprint", "fingerprints"), INVOICE,
        lambda c, f: c._require_invoice(bytes(f)).abi_tuple(), "invoices")

    invoice_count = view("invoiceCount()", "uint256", (), lambda c: len(c.state.all()))

    @method("invoiceList(uint256,uint256)", returns="bytes32[]", view=True)
    def invoice_list(self, offset: int, limit: int) -> list[bytes]:
        every = self.state.all()
        end = min(len(every), offset + min(limit, MAX_BATCH_READ))
        return [every.item(i).to_bytes(32, "big") for i in range(offset, end)]

    invoices_by_seller = index_read("invoicesBySeller(address)", "seller", S.BY_SELLER,
                                    returns="bytes32[]")
    invoices_by_buyer = index_read("invoicesByBuyer(address)", "buyer", S.BY_BUYER,
                                   returns="bytes32[]")
    invoices_by_bank = index_read("invoicesByBank(address)", "bank", S.BY_BANK,
                                  returns="bytes32[]")

    invoices_by_state = state_read("invoicesByState(string)", STATES, "state", "bytes32[]")

    tranches = view("tranches(bytes32)", TRANCHE + "[]", ("fingerprint",),
                    lambda c, fp: c._entries(fp, "tranche"))
    payments = view("payments(bytes32)", PAYMENT + "[]", ("fingerprint",),
                    lambda c, fp: c._entries(fp, "payment"))

    def _entries(self, fingerprint: bytes, kind: str) -> list[tuple[Any, ...]]:
        """An invoice's tranches or payments (`kind`), in order."""
        inv = self._require_invoice(bytes(fingerprint))
        load = getattr(self.state, kind)
        return [load(inv.fingerprint, i).abi_tuple() for i in range(getattr(inv, kind + "_count"))]

    @method("issue(bytes32,address,address,uint256,string,uint256)")
    def issue(self, fingerprint: bytes, seller: str, buyer: str, amount: int, currency: str,
              due_date: int) -> None:
        fp = bytes(fingerprint)
        caller = self.caller
        seller_raw, buyer_raw = as_address(seller), as_address(buyer)
        if caller == seller_raw:
            self.require_role(caller, SELLER, "issue an invoice")
        else:
            self.require(self.has_role(caller, FINANCING_BANK), f"{hex_address(caller)} may not "
                         f"issue an invoice for {hex_address(seller_raw)}: an invoice is issued "
                         "by its seller, or entered by a financing bank")
        self.require(fp != b"\x00" * 32, "the fingerprint is zero")
        st = self.state
        # the reasons below are formatted only on a revert: issue is the hottest call
        if existing := st.state(fp):
            self.revert(f"invoice {fp_hex(fp)} is already registered (a duplicate; it is "
                        f"{existing})")
        self.require(ZERO_ADDRESS not in (seller_raw, buyer_raw), "seller and buyer are required")
        self.require(seller_raw != buyer_raw, "the seller and the buyer are the same account")
        if not self.has_role(seller_raw, SELLER):
            self.revert(f"seller {hex_address(seller_raw)} does not hold the seller role")
        if not self.has_role(buyer_raw, BUYER):
            self.revert(f"buyer {hex_address(buyer_raw)} does not hold the buyer role")
        self.require(0 < amount < MAX_AMOUNT, "the face amount must be above 0 and below 2**128")
        self.require_valid(currency_problem(currency) or date_problem(due_date))

        st.issue(fp, seller=seller_raw, buyer=buyer_raw, amount=amount, currency=currency,
                 due_date=due_date, assignee=seller_raw, registrant=caller,
                 issued_at=self.height)
        self.emit(self.InvoiceIssued, fp, seller_raw, buyer_raw, amount, currency, due_date)
        reason = ("issued by the seller"
                  if caller == seller_raw
                  else f"entered by financing bank {hex_address(caller)} for the seller")
        self.emit(self.InvoiceTransition, fp, caller, "", "issued", reason)

    @method("confirm(bytes32)")
    def confirm(self, fingerprint: bytes) -> None:
        inv = self._party(bytes(fingerprint), BUYER, "confirm it")
        self._require_state(inv, ("issued",), "be confirmed")
        self._move(inv, "confirmed", "confirmed by the buyer")

    @method("requestFinancing(bytes32)")
    def request_financing(self, fingerprint: bytes) -> None:
        inv = self._party(bytes(fingerprint), SELLER, "request financing")
        self._require_state(inv, ("confirmed",), "be offered for financing (the buyer must "
                                                 "confirm it first)")
        self._move(inv, "financing_requested", "financing requested by the seller")

    @method("finance(bytes32,uint256)", returns="uint256")
    def finance(self, fingerprint: bytes, amount: int) -> int:
        caller = self.caller
        self.require_role(caller, FINANCING_BANK, "finance an invoice")
        inv = self._require_invoice(bytes(fingerprint))
        fp = inv.fingerprint
        self._require_state(inv, ("financing_requested", "financed"), "be financed")
        self.require(caller not in (inv.seller, inv.buyer),
                     "the seller or the buyer cannot finance its own invoice")
        self.require(amount > 0, "a tranche must be above 0")
        total = inv.financed + amount
        self.require(total <= inv.amount, f"a tranche of {amount} would bring the financing of "
                     f"invoice {fp_hex(fp)} to {total}, over its face amount {inv.amount} "
                     f"({inv.amount - inv.financed} left)")
        st = self.state
        tranche = st.add_tranche(fp, caller, amount, self.height)
        st.set(fp, "financed", total)
        st.index(S.BY_BANK, caller).add(int.from_bytes(fp, "big"))
        if inv.state != "financed":
            st.set(fp, "assignee", caller)  # the receivable is assigned
        self.emit(self.TrancheFinanced, fp, caller, tranche, amount, total)
        self._move(inv, "financed",
                   f"tranche {tranche}: {amount} {inv.currency} by {hex_address(caller)}")
        return tranche

    @method("repay(bytes32)")
    def repay(self, fingerprint: bytes) -> None:
        inv = self._party(bytes(fingerprint), BUYER, "repay it")
        self._require_state(inv, ("financed",), "be repaid")
        today = self.today()
        self.require(today >= inv.due_date, f"invoice {fp_hex(inv.fingerprint)} is not due until "
                     f"{show_date(inv.due_date)} (today is {show_date(today)})")
        st = self.state
        fp = inv.fingerprint
        paid = []
        for i in range(inv.tranche_count):
            t = st.tranche(fp, i)
            if t.state != "active":
                continue
            st.set_tranche_state(fp, i, "repaid")
            self._pay(inv, t.bank, t.amount)
            paid.append(f"{t.amount} to {hex_address(t.bank)}")
        rest = inv.amount - inv.financed
        if rest:
            self._pay(inv, inv.seller, rest)
            paid.append(f"{rest} to the seller")
        self._move(inv, "repaid", f"repaid at maturity ({inv.currency}): {', '.join(paid)}")

    @method("markDefaulted(bytes32,string)")
    def mark_defaulted(self, fingerprint: bytes, reason: str) -> None:
        caller = self.caller
        self.require_role(caller, FINANCING_BANK, "mark an invoice defaulted")
        inv = self._require_invoice(bytes(fingerprint))
        self._require_state(inv, ("financed",), "be marked defaulted")
        self._require_reason(reason)
        st = self.state
        fp = inv.fingerprint
        active = [i for i in range(inv.tranche_count) if st.tranche(fp, i).state == "active"]
        self.require(any(st.tranche(fp, i).bank == caller for i in active),
                     f"{hex_address(caller)} holds no tranche of invoice {fp_hex(fp)}")
        today = self.today()
        self.require(today > inv.due_date,
                     f"invoice {fp_hex(fp)} is not overdue: due {show_date(inv.due_date)}, "
                     f"today is {show_date(today)}")
        for i in active:
            st.set_tranche_state(fp, i, "defaulted")
        self._move(inv, "defaulted", reason)

    @method("cancel(bytes32,string)")
    def cancel(self, fingerprint: bytes, reason: str) -> None:
        inv = self._party(bytes(fingerprint), SELLER, "cancel it")
        self.require(inv.state != "financed",
                     f"invoice {fp_hex(inv.fingerprint)} is financed: a financed invoice cannot be "
                     "cancelled")
        self._require_state(inv, CANCELLABLE, "be cancelled")
        self._require_reason(reason)
        self._move(inv, "cancelled", reason)

    @method("reimburse(bytes32)")
    def reimburse(self, fingerprint: bytes) -> None:
        inv = self._party(bytes(fingerprint), BUYER, "reimburse it")
        self.require(inv.state != "reimbursed",
                     f"invoice {fp_hex(inv.fingerprint)} was already reimbursed: an invoice is "
                     "reimbursed once")
        self._require_state(inv, ("issued",), "be reimbursed")
        self._move(inv, "reimbursed", "reimbursed to the consumer")

    @method("setTaxVerified(bytes32,bool,string)")
    def set_tax_verified(self, fingerprint: bytes, verified: bool, reason: str) -> None:
        caller = self.caller
        self.require_role(caller, TAX_AUTHORITY, "set an invoice's tax verification")
        inv = self._require_invoice(bytes(fingerprint))
        self.require(inv.tax_verified != verified, f"invoice {fp_hex(inv.fingerprint)} is already "
                     f"{'tax verified' if verified else 'not tax verified'}")
        self.require(len(reason.encode()) <= MAX_REASON, f"at most {MAX_REASON} bytes of reason")
        self.state.set(inv.fingerprint, "tax_verified", verified)
        self.state.set(inv.fingerprint, "updated_at", self.height)
        self.emit(self.TaxVerification, inv.fingerprint, caller, verified, reason)
        what = "tax verified" if verified else "tax verification withdrawn"
        self.emit(self.InvoiceTransition, inv.fingerprint, caller, inv.state, inv.state,
                  f"{what}: {reason}" if reason else what)

    def _pay(self, inv: InvoiceRecord, payee: bytes, amount: int) -> None:
        self.state.add_payment(inv.fingerprint, payee, amount, self.height)
        self.emit(self.PaymentMade, inv.fingerprint, payee, amount, inv.currency)

    def _move(self, inv: InvoiceRecord, new: str, reason: str) -> None:
        if new != inv.state:
            self.state.set_state(inv.fingerprint, inv.state, new, self.height)
        else:
            self.state.set(inv.fingerprint, "updated_at", self.height)
        self.emit(self.InvoiceTransition, inv.fingerprint, self.caller, inv.state, new,
                  reason)

    def _require_invoice(self, fingerprint: bytes) -> InvoiceRecord:
        self.require(self.state.exists(fingerprint), f"no invoice {fp_hex(fingerprint)}")
        return self.state.invoice(fingerprint)

    def _party(self, fingerprint: bytes, role: str, action: str) -> InvoiceRecord:
        """The invoice, when the caller holds `role` and is the invoice's seller or buyer."""
        caller = self.caller
        self.require_role(caller, role, action)
        inv = self._require_invoice(fingerprint)
        party = inv.seller if role == SELLER else inv.buyer
        self.require(caller == party,
                     f"only the invoice's {role} {hex_address(party)} may {action}; "
                     f"{hex_address(caller)} is not")
        return inv

    def _require_state(self, inv: InvoiceRecord, allowed: tuple[str, ...], action: str) -> None:
        self.require(inv.state in allowed,
                     f"invoice {fp_hex(inv.fingerprint)} is {inv.state}: it cannot {action}")

    def _require_reason(self, reason: str) -> None:
        self.require(bool(reason.strip()), "a reason is required")
        self.require(len(reason.encode()) <= MAX_REASON, f"at most {MAX_REASON} bytes of reason")
