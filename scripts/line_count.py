"""Issue 19's line count: lines of the `.py` files in src/consortium/{api,cli,apps,system} at a
git revision — all lines, and code lines (no blank, comment or docstring lines) — with and
without the files added since the count began for other issues (explorer, metrics, rate
limits, backup, upgrade plan, privacy groups).

    python3 scripts/line_count.py fd317cb HEAD
"""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tokenize

DIRS = ("api", "cli", "apps", "system")
OTHER_ISSUES = {
    "api/explorer.py", "api/explorer_rpc.py", "api/metrics.py", "api/metrics_probe.py",
    "api/rate_limits.py", "cli/backup.py", "system/upgrade_plan.py", "api/private_rpc.py",
    "api/private_submit.py", "cli/privacy.py", "system/privacy.py",
    "system/privacy_payload.py", "system/sealing.py",
}


def code_lines(source: str) -> int:
    """Lines holding a token that is not a comment, a docstring or layout."""
    docs: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                docs.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    layout = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
              tokenize.DEDENT, tokenize.ENDMARKER}
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in layout:
            lines.update(n for n in range(tok.start[0], tok.end[0] + 1) if n not in docs)
    return len(lines)


def count(rev: str) -> dict[str, int]:
    paths = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev,
                            *(f"src/consortium/{d}" for d in DIRS)],
                           capture_output=True, text=True, check=True).stdout.split()
    out = {"lines": 0, "code": 0, "other_lines": 0, "other_code": 0}
    for path in (p for p in paths if p.endswith(".py")):
        source = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True,
                                text=True, check=True).stdout
        lines, code = source.count("\n"), code_lines(source)
        out["lines"] += lines
        out["code"] += code
        if path.removeprefix("src/consortium/") in OTHER_ISSUES:
            out["other_lines"] += lines
            out["other_code"] += code
    return out


def main(revs: list[str]) -> None:
    base = None
    print("rev            lines   code   lines w/o others   code w/o others")
    for rev in revs or ["HEAD"]:
        c = count(rev)
        own = (c["lines"] - c["other_lines"], c["code"] - c["other_code"])
        change = "" if base is None else \
            f"   ({own[0] / base[0] - 1:+.1%} lines, {own[1] / base[1] - 1:+.1%} code)"
        print(f"{rev:<12} {c['lines']:>7} {c['code']:>6} {own[0]:>18} {own[1]:>17}{change}")
        base = base or own


if __name__ == "__main__":
    main(sys.argv[1:])
