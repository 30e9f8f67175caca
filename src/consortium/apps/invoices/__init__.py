"""Invoice management and financing (docs/services/invoices.md): the Invoices native
contract at 0x…2004, fingerprints under the consortium key, a typed client and CSV import."""

from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.fingerprint import (
    FieldError,
    InvoiceFields,
    compute,
    find_key,
    fingerprint,
    normalise,
    read_key,
)
from consortium.apps.invoices.model import INVOICE_ROLES, INVOICES_ADDRESS, STATES
from consortium.apps.invoices.upgrade import INVOICES_LAYOUT_UPGRADE  # registers its handler
from consortium.apps.service import lazy_exports

_LAZY = {"InvoiceClient": "client", "InvoiceReader": "reader", "ImportReport": "csv_import",
         "import_csv": "csv_import"}
__all__ = ["INVOICES_ADDRESS", "INVOICES_LAYOUT_UPGRADE", "INVOICE_ROLES", "STATES",
           "FieldError", "InvoiceFields", "Invoices", "compute", "find_key", "fingerprint",
           "normalise", "read_key", *_LAZY]
__getattr__ = lazy_exports(__name__, _LAZY)
