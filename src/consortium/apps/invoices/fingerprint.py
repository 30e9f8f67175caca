"""Invoice fingerprints: HMAC-SHA256 over an invoice's identifying fields with the
consortium key, so the same invoice entered by two members collides on chain while its fields
stay off chain.

    fingerprint = HMAC-SHA256(key, "consortium-invoice-v1" 0x1F tax_id 0x1F number 0x1F
                              issue_date 0x1F amount)

Normalisation (`normalise`), so the same invoice typed by two people gives the same bytes:

- seller tax id: Unicode NFKC, every whitespace character removed, upper-case
  (" 91310000 mA1fl4xx7j " -> "91310000MA1FL4XX7J");
- invoice number: NFKC, trimmed, inner runs of whitespace made one space, upper-case
  ("inv-0042 " -> "INV-0042");
- issue date: ISO 8601 `YYYY-MM-DD` (accepted: a `date`, "2025-03-01", "20250301",
  "2025/03/01", the integer 20250301);
- amount: the integer amount in the currency's smallest unit, in decimal without leading
  zeros (accepted: an int or a string of digits; a fraction is refused, never rounded).

Fields may not contain control characters. The key is 32 random bytes that consortium members
hold in their node configuration (`consortium.toml`, `[consortium] key_file`, written by
`consortium init`); it never goes on chain: without it, nobody can link a fingerprint to an
invoice by guessing fields.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
import unicodedata
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from consortium.errors import ConfigError

KEY_BYTES = 32
DOMAIN = "consortium-invoice-v1"
SEPARATOR = "\x1f"
KEY_ENV = "CONSORTIUM_KEY_FILE"
KEY_FILE_NAME = "consortium.key"

_DATE_FORMS = (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
               re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"), re.compile(r"(\d{4})(\d{2})(\d{2})"))


class FieldError(ValueError):
    """An invoice field that cannot be normalised; the message names the field."""


@dataclass(frozen=True)
class InvoiceFields:
    """The fields that identify an invoice, normalised."""

    seller_tax_id: str
    invoice_number: str
    issue_date: str  # YYYY-MM-DD
    amount: int

    def message(self) -> bytes:
        parts = (DOMAIN, self.seller_tax_id, self.invoice_number, self.issue_date,
                 str(self.amount))
        return SEPARATOR.join(parts).encode("utf-8")


def normalised_text(value: str, what: str, sep: str, limit: int) -> str:
    """NFKC, whitespace runs made `sep`, upper-case; no control characters, not empty, at
    most `limit` characters (FieldError naming `what` otherwise)."""
    if not isinstance(value, str):
        raise FieldError(f"{what} must be text")
    text = sep.join(unicodedata.normalize("NFKC", value).split()).upper()
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise FieldError(f"{what} contains a control character")
    if not text:
        raise FieldError(f"{what} is empty")
    if len(text) > limit:
        raise FieldError(f"{what} is longer than {limit} characters")
    return text


def parse_date(value: str | int | date, what: str = "date") -> date:
    """A calendar date from a `date`, an ISO / slashed / compact string, or yyyymmdd."""
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise FieldError(f"{what} must be a date")
    text = str(value).strip()
    for m in filter(None, (form.fullmatch(text) for form in _DATE_FORMS)):  # one at most
        with suppress(ValueError):
            return date(int(m[1]), int(m[2]), int(m[3]))
    raise FieldError(f"{what} {text!r} is not a date (YYYY-MM-DD)")


def date_number(value: str | int | date, what: str = "due date") -> int:
    """A date as the yyyymmdd integer the contract stores (20250630)."""
    return int(parse_date(value, what).strftime("%Y%m%d"))


def normalise_amount(value: str | int) -> int:
    if isinstance(value, bool):
        raise FieldError("amount must be an integer")
    digits = isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value)
    if not (isinstance(value, int) or digits):
        raise FieldError(f"amount {value!r} is not an integer in the currency's smallest unit (no "
                         "fractions)")
    amount = int(value)
    if amount <= 0:
        raise FieldError("amount must be above 0")
    if amount >= 2**128:
        raise FieldError("amount is too large")
    return amount


def normalise(seller_tax_id: str, invoice_number: str, issue_date: str | int | date,
              amount: str | int) -> InvoiceFields:
    return InvoiceFields(normalised_text(seller_tax_id, "seller tax id", "", 64),
                         normalised_text(invoice_number, "invoice number", " ", 128),
                         parse_date(issue_date, "issue date").isoformat(),
                         normalise_amount(amount))


def keyed_hash(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of `message` under the consortium key (fingerprints, external ids)."""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"the consortium key must be {KEY_BYTES} bytes")
    return hmac.new(key, message, hashlib.sha256).digest()


def fingerprint(key: bytes, fields: InvoiceFields) -> bytes:
    """The invoice's 32-byte fingerprint under the consortium key."""
    return keyed_hash(key, fields.message())


def compute(key: bytes, seller_tax_id: str, invoice_number: str, issue_date: str | int | date,
            amount: str | int) -> bytes:
    return fingerprint(key, normalise(seller_tax_id, invoice_number, issue_date, amount))


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def write_key(path: Path, key: bytes) -> None:
    """Write a key file (hex, one line), readable by its owner only from its first byte:
    a temporary file of mode 600 beside it, renamed over `path`, so the key is never
    readable by others (as a file written under the umask, then chmodded, briefly is) and
    a key file already there is replaced whole or not at all."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:  # mkstemp makes it 600
            out.write(key.hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def read_key(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the consortium key {path}: {exc}") from None
    with suppress(ValueError):
        key = bytes.fromhex(text.removeprefix("0x"))
        if len(key) == KEY_BYTES:
            return key
    raise ConfigError(f"{path} does not hold a consortium key ({KEY_BYTES} bytes in hex)")


def key_from_node_home(home: Path) -> bytes:
    """The consortium key a node's `consortium.toml` refers to."""
    from consortium.network.node_config import NodeConfig

    cfg = NodeConfig.load(home)
    if cfg.consortium_key_file is None:
        raise ConfigError(f"{home / 'consortium.toml'} names no [consortium] key_file")
    return read_key(cfg.consortium_key_path)


def find_key(key_file: Path | None = None, network_dir: Path | None = None) -> bytes:
    """The consortium key: `key_file`, else $CONSORTIUM_KEY_FILE, else the key of the local
    network in `network_dir` (its first node's configuration)."""
    if key_file is not None:
        return read_key(key_file.expanduser())
    env = os.environ.get(KEY_ENV)
    if env:
        return read_key(Path(env).expanduser())
    if network_dir is not None and (network_dir / "network.json").is_file():
        from consortium.network.layout import Network

        network = Network.load(network_dir)
        for node in network.nodes:
            home = network.node_home(node)
            if (home / "consortium.toml").is_file():
                return key_from_node_home(home)
    raise ConfigError("no consortium key: pass --key-file, set $CONSORTIUM_KEY_FILE, or use "
                      "--dir with a folder that holds a node (`consortium init`, `node setup` "
                      "or `join` made it)")
