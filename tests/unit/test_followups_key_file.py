"""The consortium key file is its owner's only from its first byte: never written under the
umask and chmodded afterwards (readable by others meanwhile), and an existing one is replaced
whole or not at all."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.apps.invoices.fingerprint import read_key, write_key

KEY = bytes(range(32))
OTHER = bytes(range(32, 64))


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files readable by everyone
    try:
        yield
    finally:
        os.umask(old)


def test_a_key_file_is_never_readable_by_others(
        tmp_path: Path, loose_umask: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chmod after the write comes too late: without it the file must already be 600."""
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    path = tmp_path / "consortium.key"
    write_key(path, KEY)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_key(path) == KEY


def test_an_existing_key_file_is_replaced_whole(
        tmp_path: Path, loose_umask: None, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "consortium.key"
    path.write_text(OTHER.hex() + "\n")
    path.chmod(0o644)
    write_key(path, KEY)
    assert read_key(path) == KEY and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["consortium.key"]  # no temporary left

    def fails(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fails)
    with pytest.raises(OSError, match="disk full"):
        write_key(path, OTHER)
    assert read_key(path) == KEY  # the old key stays, whole
    assert [p.name for p in tmp_path.iterdir()] == ["consortium.key"]
