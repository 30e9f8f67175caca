"""The fault suite's figures: a table printed at the end of a test (past pytest's output
capture, so the default run shows it) and the same figures as JSON in the test's tmp dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def emit(title: str, figures: dict[str, Any], tmp_path: Path,
         capsys: pytest.CaptureFixture[str], details: dict[str, Any] | None = None) -> Path:
    """Print `figures` under `title` and write them, with `details` (JSON only), to
    `tmp_path`/fault-figures.json."""
    out = tmp_path / "fault-figures.json"
    doc = {"title": title, **figures, "details": details or {}}
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    width = max(len(k) for k in figures)
    lines = [f"\n== {title} =="]
    for key, value in figures.items():
        if isinstance(value, dict):
            lines.append(f"  {key}:")
            lines += [f"    {k:<{width + 8}} {v}" for k, v in value.items()]
        else:
            lines.append(f"  {key:<{width}}  {value}")
    lines.append(f"  (json: {out})")
    with capsys.disabled():
        print("\n".join(lines))
    return out
