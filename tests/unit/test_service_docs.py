"""docs/services/<service>.md cannot drift from the declarations (issue 19): each declared
service's page holds, between its markers, exactly the tables scripts/service_docs.py renders
from its surface today."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from consortium.apps.services import SERVICES
from consortium.apps.surface import ID, Param, Read, Service, Write

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("service_docs", ROOT / "scripts/service_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("service_docs", module)
    spec.loader.exec_module(module)
    return module


docs = _script()


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_page_is_up_to_date_with_the_declaration(service: Service) -> None:
    path = ROOT / "docs/services" / f"{service.name}.md"
    assert path.exists(), f"{path} missing: run scripts/service_docs.py"
    text = path.read_text()
    assert text.count(docs.BEGIN) == 1 and text.count(docs.END) == 1, path
    generated = docs.BEGIN + text.split(docs.BEGIN, 1)[1].split(docs.END, 1)[0] + docs.END
    assert generated == docs.render(service), (
        f"{path} is out of date with consortium.apps.{service.name}.surface: "
        "run .venv/bin/python scripts/service_docs.py")


def test_every_read_and_write_is_on_its_page() -> None:
    for service in SERVICES:
        text = (ROOT / "docs/services" / f"{service.name}.md").read_text()
        for read in service.reads:
            assert f"`{read.rpc}(" in text and service.rest_base + read.rest in text
        for write in service.writes:
            assert f"`{write.method}`" in text and f"`{write.client}(" in text


def _toy(reads: tuple[Read, ...], writes: tuple[Write, ...] = ()) -> Service:
    return Service(name="toy", title="Toy", reader=lambda call, logs: None, reads=reads,
                   writes=writes)


def test_a_changed_declaration_makes_the_page_stale(tmp_path: Path) -> None:
    one = Read("thing", "One thing", rpc="consortium_thing", rest="/things/{id}",
               params=(Param("id", ID),), nullable=True)
    service = _toy((one,))
    assert docs.write([service], tmp_path) == [tmp_path / "toy.md"]
    assert docs.stale([service], tmp_path) == []
    # a new read (what issue 19 asks of a service method: declare it, the docs follow)
    by_due = Read("by_due", "Things due by a date", rpc="consortium_thingsByDue",
                  rest="/things/due", filters=(Param("before", ID, "a height"),))
    grown = _toy((one, by_due),
                 (Write("poke", "pokeThing", "Pokes a thing.", "poke", (Param("id", ID),)),))
    assert docs.stale([grown], tmp_path) == [tmp_path / "toy.md"]
    docs.write([grown], tmp_path)
    text = (tmp_path / "toy.md").read_text()
    assert "`consortium_thingsByDue([{\"before\"}])`" in text
    assert "`GET /api/v1/toy/things/due` (query: `before`)" in text
    assert "| — | `pokeThing` | `poke(account, id)` |" in text  # no such CLI command
    assert docs.stale([grown], tmp_path) == []


def test_the_cli_column_is_the_command_the_cli_really_has() -> None:
    """A write's or read's command is read from the CLI itself (its arguments, its options
    but the shared ones), so the page shows what `consortium … --help` shows."""
    from consortium.apps.registry.surface import REGISTRY

    text = docs.render(REGISTRY)
    assert "| `consortium registry transfer <id> --to <to>` | `requestTransfer` |" in text
    assert "`consortium registry cancel-transfer <id> [--reason <reason>]`" in text
    assert "`consortium registry assets [--class <class>] [--owner <owner>]" in text
    assert "--from <" not in text and "[--json" not in text


def test_the_hand_written_rest_of_a_page_is_kept(tmp_path: Path) -> None:
    service = _toy((Read("things", "Every thing", rpc="consortium_things", rest="/things"),))
    page = tmp_path / "toy.md"
    page.write_text(f"# Toy\n\nRoles first.\n\n{docs.BEGIN}\nold table\n{docs.END}\n\n"
                    "## Examples\n\nkept\n")
    docs.write([service], tmp_path)
    text = page.read_text()
    assert text.startswith("# Toy\n\nRoles first.\n\n" + docs.BEGIN)
    assert "old table" not in text and "`consortium_things()`" in text
    assert text.endswith(docs.END + "\n\n## Examples\n\nkept\n")
    assert not list(tmp_path.glob(".*.partial"))


def test_check_names_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    service = _toy((Read("things", "Every thing", rpc="consortium_things", rest="/things"),))
    (tmp_path / "toy.md").write_text("# Toy\n")
    monkeypatch.setattr(docs, "SERVICES", (service,))
    monkeypatch.setattr(docs, "DOCS", tmp_path)
    assert docs.main(["--check"]) == 1
    assert "toy.md: out of date" in capsys.readouterr().err


def _anchors(text: str) -> set[str]:
    """GitHub's anchors for a page's headings."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_links_in_the_readme_and_docs_lead_somewhere() -> None:
    """Moving the reference from the README into docs/ must not leave a link dangling: every
    relative link (and its #anchor) in README.md and docs/ names a file (and heading) that
    exists."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text()):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, broken


def _commands_in(text: str) -> list[str]:
    """The `consortium …` command lines of a page: in its bash blocks (continuations joined,
    comments cut, `;`/`&&` split) and in inline code."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").split("\n"):
            line = re.split(r"\s#\s", " " + line)[0]
            found += [part.strip() for part in re.split(r" ; | && ", line)]
    found += re.findall(r"`((?:\.venv/bin/)?consortium [^`]*)`", text)
    return [c.replace(".venv/bin/consortium", "consortium") for c in found
            if c.startswith(("consortium ", ".venv/bin/consortium "))]


def test_the_commands_in_the_readme_and_docs_exist_with_their_options() -> None:
    """Every `consortium …` command the README and docs/ show names a real command, and
    every --option it passes is one that command takes (the reference moved out of the
    README must stay true to the CLI)."""
    import shlex

    import typer

    from consortium.cli.main import app

    root = typer.main.get_command(app)
    wrong, checked = [], 0
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for line in _commands_in(page.read_text()):
            try:
                words = shlex.split(line.replace("…", "X").replace("$(", "X("))[1:]
            except ValueError:
                continue
            command, path = root, ["consortium"]
            while hasattr(command, "commands") and words and words[0] in command.commands:
                command = command.commands[words[0]]
                path.append(words.pop(0))
            if hasattr(command, "commands"):
                # a group: the next word must be one of its commands, unless it is a
                # placeholder ("KIND", "up / down", "<node>", "…")
                if words and re.fullmatch(r"[a-z][a-z-]*", words[0]):
                    wrong.append(f"{page.name}: no command {' '.join(path)} {words[0]}: {line}")
                continue
            options = {"--help"}
            for param in command.params:
                options.update(param.opts)
                options.update(param.secondary_opts)
            for word in words:
                if word.startswith("--") and word.split("=")[0] not in options:
                    wrong.append(f"{page.name}: {' '.join(path)} takes no {word}: {line}")
            checked += 1
    assert checked > 200 and not wrong, wrong
