"""Invoice fingerprints: normalisation, HMAC under the consortium key, and where the key
lives (node configuration, never the chain)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from pathlib import Path

import pytest

from consortium.apps.invoices.fingerprint import (
    FieldError,
    compute,
    date_number,
    find_key,
    key_from_node_home,
    normalise,
    read_key,
    write_key,
)
from consortium.errors import ConfigError
from consortium.network.node_config import NodeConfig

KEY = bytes(range(32))


def test_normalisation() -> None:
    f = normalise(" 9131 0000ma1fl4xx7j\t", "  inv-0042   a ", "2025/3/1", " 0100 ")
    assert (f.seller_tax_id, f.invoice_number, f.issue_date, f.amount) == (
        "91310000MA1FL4XX7J", "INV-0042 A", "2025-03-01", 100)
    # Full-width characters (as typed on a Chinese keyboard) normalise too (NFKC).
    assert normalise("９１３１", "ＩＮＶ１", 20250301, 5).seller_tax_id == "9131"
    assert normalise("x", "y", date(2025, 3, 1), 5).issue_date == "2025-03-01"
    assert normalise("x", "y", "20250301", 5) == normalise("X", "Y", "2025-03-01", "5")
    assert f.message() == (
        b"consortium-invoice-v1\x1f91310000MA1FL4XX7J\x1fINV-0042 A\x1f2025-03-01\x1f100")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (("", "n", "2025-03-01", 1), "seller tax id is empty"),
        (("t", "  ", "2025-03-01", 1), "invoice number is empty"),
        (("t", "n", "2025-02-30", 1), "not a date"),
        (("t", "n", "1/3/2025", 1), "not a date"),
        (("t", "n", "2025-03-01", "12.50"), "no fractions"),
        (("t", "n", "2025-03-01", "1e3"), "no fractions"),
        (("t", "n", "2025-03-01", 0), "above 0"),
        (("t", "n", "2025-03-01", True), "integer"),
        (("t", "a\x00b", "2025-03-01", 1), "control character"),
    ],
)
def test_bad_fields(fields: tuple, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        normalise(*fields)


def test_fingerprint_is_hmac_sha256_under_the_key() -> None:
    fp = compute(KEY, "91310000MA1FL4XX7J", "INV-1", "2025-03-01", 100)
    msg = b"consortium-invoice-v1\x1f91310000MA1FL4XX7J\x1fINV-1\x1f2025-03-01\x1f100"
    assert fp == hmac.new(KEY, msg, hashlib.sha256).digest()
    # The same invoice typed differently collides; another key or field does not.
    assert compute(KEY, "91310000ma1fl4xx7j ", "inv-1", "20250301", "100") == fp
    assert compute(b"\x01" * 32, "91310000MA1FL4XX7J", "INV-1", "2025-03-01", 100) != fp
    assert compute(KEY, "91310000MA1FL4XX7J", "INV-1", "2025-03-01", 101) != fp
    with pytest.raises(ConfigError, match="32 bytes"):
        compute(b"short", "t", "n", "2025-03-01", 1)


def test_due_dates() -> None:
    assert date_number("2025-06-30") == 20250630
    assert date_number(20240229) == 20240229
    with pytest.raises(FieldError, match="due date"):
        date_number("2023-02-29")


def test_key_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "consortium.key"
    write_key(path, KEY)
    assert path.stat().st_mode & 0o077 == 0  # owner only
    assert read_key(path) == KEY
    (tmp_path / "bad.key").write_text("abcd\n")
    with pytest.raises(ConfigError, match="does not hold a consortium key"):
        read_key(tmp_path / "bad.key")

    home = tmp_path / "node0"
    home.mkdir()
    write_key(home / "consortium.key", KEY)
    NodeConfig(home=home, name="node0", member="Bank A",
               consortium_key_file="consortium.key").save()
    assert "key_file" in (home / "consortium.toml").read_text()
    assert NodeConfig.load(home).consortium_key_file == "consortium.key"
    assert key_from_node_home(home) == KEY

    monkeypatch.delenv("CONSORTIUM_KEY_FILE", raising=False)
    with pytest.raises(ConfigError, match="no consortium key"):
        find_key(None, tmp_path)
    assert find_key(path) == KEY
    monkeypatch.setenv("CONSORTIUM_KEY_FILE", str(path))
    assert find_key() == KEY
