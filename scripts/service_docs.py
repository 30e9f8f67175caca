"""Write each declared service's surface into its page in docs/services/ (issue 19).

A service's reads (JSON-RPC method, REST route, CLI command, parameters) and writes (CLI
command, contract method, client method, arguments) are declared once, in
`consortium.apps.<service>.surface`; its page's tables of them are rendered from that
declaration, between the markers below, so the page cannot say what the code does not do.
The rest of the page (roles, states, rules, examples) is written by hand and left as is.

    .venv/bin/python scripts/service_docs.py           # rewrite the generated parts
    .venv/bin/python scripts/service_docs.py --check   # exit 1 naming each stale page

tests/unit/test_service_docs.py fails when a page's generated part is out of date.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer

from consortium.apps.services import SERVICES
from consortium.apps.surface import Param, Read, Service, Write

BEGIN = "<!-- surface:begin -->"
END = "<!-- surface:end -->"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "services"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _kind(param: Param) -> str:
    enum = param.kind.schema.get("enum")
    return "one of " + ", ".join(f"`{v}`" for v in enum) if enum else param.kind.name


def _param_doc(param: Param, optional: bool = False) -> str:
    doc = f"`{param.name}` ({_kind(param)}"
    if optional:
        doc += ", optional"
    elif not param.required:
        doc += ", optional" if param.default in (None, "") else f", default `{param.default}`"
    doc += ")"
    return doc + (f": {param.doc.rstrip('.')}" if param.doc else "")


def _rpc_call(read: Read) -> str:
    args = [p.name if p.required else f"[{p.name}]" for p in read.params]
    if read.filters:
        args.append("[{" + ", ".join(f'"{f.name}"' for f in read.filters) + "}]")
    return f"`{read.rpc}({', '.join(args)})`"


def _rest_route(service: Service, read: Read) -> str:
    route = f"`GET {service.rest_base}{read.rest}`"
    query = read.query_params
    if query:
        route += " (query: " + ", ".join(f"`{p.name}`" for p in query) + ")"
    return route


SHARED_OPTIONS = {"--from", "--dir", "--rpc", "--password-file", "--json", "--help"}


def _cli_group(service: Service) -> tuple[str, Any] | None:
    """The `consortium …` group that serves `service`'s commands, found in the real CLI:
    the group holding every declared command (`consortium invoice` for invoices,
    `consortium securities cash` for cash), None if the service declares none."""
    from consortium.cli.main import app

    names = {w.cli for w in service.writes if w.cli} | {r.cli for r in service.reads if r.cli}
    if not names:
        return None
    found = []
    groups: list[tuple[str, Any]] = [("consortium", typer.main.get_command(app))]
    while groups:
        path, group = groups.pop(0)
        if names <= set(group.commands):
            found.append((path, group))
        groups += [(f"{path} {name}", cmd) for name, cmd in group.commands.items()
                   if hasattr(cmd, "commands")]
    stem = service.name.rstrip("s")
    found.sort(key=lambda item: (not item[0].split()[-1].startswith(stem), len(item[0])))
    return found[0] if found else None


def _cli_usage(service: Service, command: str) -> str:
    """`consortium <group> <command> ARG --option <option> [--optional <optional>]`, read
    from the command the CLI really has (its arguments, then its options but the shared
    signing and output ones); "—" when the CLI has no such command."""
    group = _cli_group(service)
    if group is None or command not in group[1].commands:
        return "—"
    words = [f"{group[0]} {command}"]
    params = group[1].commands[command].params
    words += [f"<{p.name}>" for p in params if p.param_type_name == "argument"]
    for p in params:
        if p.param_type_name == "option" and p.opts[0] not in SHARED_OPTIONS:
            value = f"{p.opts[0]} <{p.opts[0].lstrip('-')}>"
            words.append(value if p.required else f"[{value}]")
    return "`" + " ".join(words) + "`"


def _read_cli(service: Service, read: Read) -> str:
    return _cli_usage(service, read.cli) if read.cli else "—"


def _write_row(service: Service, write: Write) -> str:
    args = [*write.args]
    usage = _cli_usage(service, write.cli)
    client = f"`{write.client}(account{''.join(', ' + p.name for p in args)})`"
    details = "; ".join(_param_doc(p) for p in args) or "—"
    return (f"| {_cell(usage)} | `{write.method}` | {_cell(client)} | {_cell(details)} "
            f"| {_cell(write.summary)} |")


def declared_in(service: Service) -> str:
    """The module that declares `service` (`consortium.apps.securities.surface` declares
    both SECURITIES and CASH)."""
    for name, module in sorted(sys.modules.items()):
        if name.startswith("consortium.apps.") and name.endswith(".surface") and any(
                value is service for value in vars(module).values()):
            return name
    return f"consortium.apps.{service.name}.surface"


def render(service: Service) -> str:
    """The generated part of `service`'s page: its reads and writes as tables."""
    lines = [BEGIN,
             f"<!-- generated by scripts/service_docs.py from {declared_in(service)}: edit "
             "the declaration, not this table -->", "",
             f"### Reads ({len(service.reads)})", "",
             "Open to every client of a node. JSON-RPC answers `null` and REST 404 for what "
             "does not exist; a bad parameter is JSON-RPC error -32602, REST 400, CLI exit 1.",
             "", "| read | JSON-RPC | REST | CLI | parameters |",
             "| --- | --- | --- | --- | --- |"]
    for read in service.reads:
        params = "; ".join([*(_param_doc(p) for p in read.params),
                            *(_param_doc(p, optional=True) for p in read.filters)]) or "—"
        lines.append(f"| {_cell(read.summary)} | {_cell(_rpc_call(read))} "
                     f"| {_cell(_rest_route(service, read))} | {_cell(_read_cli(service, read))} "
                     f"| {_cell(params)} |")
    if service.writes:
        lines += ["", f"### Writes declared on the surface ({len(service.writes)})", "",
                  "Each is a CLI command (signed `--from` a member name, keystore or address; "
                  "`--dir` / `--rpc`, `--password-file`, `--json`; accounts as 0x addresses "
                  "or member names) and a method of the Python client (checked with "
                  "`eth_estimateGas` first: a refusal raises `ExecutionReverted` with the "
                  "contract's reason, nothing sent).", "",
                  "| CLI | contract method | client method | arguments | does |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [_write_row(service, write) for write in service.writes]
    lines.append(END)
    return "\n".join(lines)


def updated(text: str, service: Service) -> str:
    """`text` (a page) with its generated part replaced by the current one; a page without
    markers gets them in a section at its end."""
    part = render(service)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + part + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n## Surface\n\n" + part + "\n"


def page(service: Service, docs: Path = DOCS) -> Path:
    return docs / f"{service.name}.md"


def stale(services: Iterable[Service] = SERVICES, docs: Path = DOCS) -> list[Path]:
    """The pages whose generated part differs from their service's declaration."""
    out = []
    for service in services:
        path = page(service, docs)
        text = path.read_text() if path.exists() else ""
        if updated(text, service) != text:
            out.append(path)
    return out


def write(services: Iterable[Service] = SERVICES, docs: Path = DOCS) -> list[Path]:
    """Rewrite the generated part of every stale page (a missing page is started)."""
    changed = []
    for service in services:
        path = page(service, docs)
        text = path.read_text() if path.exists() else f"# {service.title}\n"
        new = updated(text, service)
        if new != text or not path.exists():
            docs.mkdir(parents=True, exist_ok=True)
            partial = path.with_name("." + path.name + ".partial")
            partial.write_text(new)
            partial.replace(path)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    if args.check:
        old = stale(SERVICES, DOCS)
        for path in old:
            print(f"{path}: out of date with its service's declaration "
                  f"(run scripts/service_docs.py)", file=sys.stderr)
        return 1 if old else 0
    for path in write(SERVICES, DOCS):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
