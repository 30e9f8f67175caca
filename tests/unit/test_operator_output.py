"""What operators read: `consortium status` at 80 columns (fewer columns, none cut to `…`;
all of them on a wide terminal), the key/value tables of keygen / node setup / join / key
seal (no empty header row), table cells shown as typed (not Rich markup), and `tls cert`'s
next step (the [api] section of consortium.toml, lines that load as they are printed)."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from consortium.api.auth import parse_access
from consortium.cli import kit
from consortium.cli.main import main as cli
from consortium.cli.network import status_table
from consortium.network.health import NodeHealth
from consortium.network.supervisor import NodeStatus
from consortium.network.tls import check_server_files

COLUMNS = ["node", "member", "state", "height", "behind", "block age", "peers", "mempool",
           "tx/s", "refused", "LMDB", "snapshot", "app hash", "API"]


def _rows() -> list[tuple[NodeStatus, NodeHealth]]:
    """Three nodes of a ceremony network as `status` reads them: up, catching up, down."""
    app_hash = "7c41e744a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aa93b8"
    up = NodeHealth(behind=0, last_block_age_s=0.4, mempool=3, tx_per_s=12.5, refused=7,
                    lmdb_bytes=123 * 2**20, snapshot_height=1000)
    return [
        (NodeStatus("bank-a", "Bank A", True, 123456, app_hash, 2, 10, False,
                    "https://10.77.0.11:8545", "http://127.0.0.1:26657", "6b45" * 10), up),
        (NodeStatus("bank-b", "Bank B", True, 123400, app_hash, 2, 10, True,
                    "https://10.77.0.12:8545", "http://127.0.0.1:26657", "3f67" * 10),
         NodeHealth(behind=56, last_block_age_s=12.0, mempool=0, tx_per_s=0.0)),
        (NodeStatus("bank-c", "Bank C", False, api_url="https://10.77.0.13:8545"),
         NodeHealth()),
    ]


def _render(monkeypatch: pytest.MonkeyPatch, width: int, draw: Any) -> str:
    """What `draw()` prints through kit's console on a terminal `width` columns wide."""
    out = io.StringIO()
    monkeypatch.setattr(kit, "console", Console(file=out, width=width, color_system=None))
    draw()
    return out.getvalue()


def _cells(text: str) -> list[list[str]]:
    """The cells of each row of a rendered table (the lines between │ or ┃ borders)."""
    return [[c.strip() for c in line.strip()[1:-1].replace("┃", "│").split("│")]
            for line in text.splitlines() if line.strip()[:1] in ("│", "┃")]


def test_status_at_80_columns_shows_fewer_columns_whole_and_wide_all(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = _render(monkeypatch, 80, lambda: status_table("consortium-xpl (/tmp/xpl/a)", _rows()))
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    header, *rows = _cells(text)
    assert header == ["node", "state", "height", "behind", "block age", "peers", "app hash"]
    assert rows == [["bank-a", "up", "123456", "0", "0.4 s", "2", "7c41e744a1b2"],
                    ["bank-b", "catching up", "123400", "56", "12 s", "2", "7c41e744a1b2"],
                    ["bank-c", "down", "-", "-", "-", "-", "-"]]
    caption = " ".join(text.split())  # (it may wrap)
    assert ("not shown at 80 columns: API, snapshot, LMDB, member, refused, tx/s, mempool"
            in caption)
    # a wide terminal shows every column
    text = _render(monkeypatch, 200, lambda: status_table("consortium-xpl", _rows()))
    header, first, *_ = _cells(text)
    assert header == COLUMNS
    assert first == ["bank-a", "Bank A", "up", "123456", "0", "0.4 s", "2", "3", "12.5", "7",
                     "123.0 MiB", "1000", "7c41e744a1b2", "https://10.77.0.11:8545"]
    assert "not shown" not in text


def test_a_table_of_names_and_values_has_no_header_row(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _render(monkeypatch, 80, lambda: kit.report(
        {}, False, "Keys of Bank A in bank-a-keys",
        [["node id", "6b45" * 10], ["account", "0x47ef" + "0" * 36]]))
    assert _cells(text) == [["node id", "6b45" * 10], ["account", "0x47ef" + "0" * 36]]
    lines = text.splitlines()
    assert lines[1].startswith("┌") and lines[2].startswith("│ node id")  # border, then rows
    # a titled table keeps its header
    header, *_ = _cells(_render(monkeypatch, 80, lambda: kit.table(
        "", ["field", "value"], [["name", "Bank A"]])))
    assert header == ["field", "value"]


def test_cells_are_shown_as_typed_not_as_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _render(monkeypatch, 80, lambda: kit.table(
        "Members", ["member", "keystore"], [["Bank [A]", "/srv/[bold]keys/a.json"]]))
    assert _cells(text)[1] == ["Bank [A]", "/srv/[bold]keys/a.json"]


def test_a_long_value_is_folded_never_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    path = "/srv/consortium/" + "very-long-folder-name/" * 6 + "keystores/bank-a.json"
    text = _render(monkeypatch, 60, lambda: kit.report({}, False, "t", [["keystore", path]]))
    assert "…" not in text
    assert "".join(row[1] for row in _cells(text)) == path


def test_tls_cert_says_where_the_files_go(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per line printed
    monkeypatch.chdir(tmp_path)
    assert cli(["tls", "ca", "--out", "ca"]) == 0
    assert cli(["tls", "cert", "--ca", "ca", "--name", "node0", "--host", "10.0.0.5",
                "--out", "home/tls"]) == 0
    out = capsys.readouterr().out
    assert "set them in the [api] section of the node's consortium.toml" in out
    assert "  " not in out.splitlines()[-3]  # no word lost between two spaces
    # the lines printed, pasted under [api], are what the node loads
    api = tomllib.loads("\n".join(out.splitlines()[-2:]))
    access = parse_access(api, tmp_path / "consortium.toml")
    home = tmp_path / "home"
    assert access.tls_cert is not None and access.tls_key is not None
    assert Path(access.tls_cert) == tmp_path / "home" / "tls" / "node0.pem"
    check_server_files(home / access.tls_cert, home / access.tls_key)
