#!/usr/bin/env python3
"""Fetch the console's third-party browser code into src/consortium/console/static/vendor/.

Each file comes from a pinned npm tarball, downloaded straight from the npm registry (no npm
needed) and checked against the sha512 integrity value the registry published for that
version; only the file the console loads and the package's licence are extracted. The
folder is git-ignored: we never commit code fetched from other repositories, and the page
loads nothing from the internet. Idempotent: files already there and matching are kept.

    python3 scripts/vendor_console.py [--dest DIR] [--check]

`--check` downloads nothing and exits 1 if a file is missing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
DEST = Path(__file__).resolve().parents[1] / "src/consortium/console/static/vendor"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity for this version
    files: tuple[tuple[str, str], ...]  # (path in the tarball, name in vendor/)


PACKAGES = (
    Package("htmx.org", "2.0.11",
            "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
            (("package/dist/htmx.min.js", "htmx.min.js"),
             ("package/LICENSE", "htmx.LICENSE.txt"))),
    Package("ethers", "6.17.0",
            "sha512-BpyrpIPJ3ydEVow8zGaz1DuPS7YU8DcWxuBnY9a0UA/lvAPwrMr+EPXsfrul628SRaekPNeIM4UFh/91GWZang==",
            (("package/dist/ethers.umd.min.js", "ethers.umd.min.js"),
             ("package/LICENSE.md", "ethers.LICENSE.txt"))),
)


def tarball_url(pkg: Package) -> str:
    base = pkg.name.rpartition("/")[2]  # a scoped package's tarball drops the scope
    return f"{REGISTRY}/{pkg.name}/-/{base}-{pkg.version}.tgz"


def check_integrity(pkg: Package, data: bytes) -> None:
    algo, _, expected = pkg.integrity.partition("-")
    if algo != "sha512":
        raise SystemExit(f"{pkg.name}: only sha512 integrity values are pinned, got {algo}")
    got = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != expected:
        raise SystemExit(f"{pkg.name}@{pkg.version}: the tarball's sha512 is {got}, "
                         f"not the pinned {expected}: refusing it")


def fetch(pkg: Package, dest: Path) -> None:
    url = tarball_url(pkg)
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (a fixed https URL)
        data = answer.read()
    check_integrity(pkg, data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for inner, name in pkg.files:
            member = tar.extractfile(inner)
            if member is None:
                raise SystemExit(f"{pkg.name}@{pkg.version}: {inner} is not in the tarball")
            body = member.read()
            tmp = dest / f".{name}.tmp"
            tmp.write_bytes(body)
            tmp.replace(dest / name)  # never a partial file
    stamp(dest, pkg)


def stamp(dest: Path, pkg: Package) -> None:
    """What was fetched, for the next run to skip it (and for people to read)."""
    path = dest / "VERSIONS.json"
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[pkg.name] = {"version": pkg.version, "integrity": pkg.integrity,
                     "files": [name for _, name in pkg.files]}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def present(pkg: Package, dest: Path) -> bool:
    path = dest / "VERSIONS.json"
    doc = json.loads(path.read_text()) if path.exists() else {}
    entry = doc.get(pkg.name, {})
    return (entry.get("integrity") == pkg.integrity
            and all((dest / name).is_file() for _, name in pkg.files))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEST)
    parser.add_argument("--check", action="store_true", help="fetch nothing; fail if missing")
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    missing = [pkg for pkg in PACKAGES if not present(pkg, args.dest)]
    if args.check:
        for pkg in missing:
            print(f"missing: {pkg.name}@{pkg.version} (run scripts/vendor_console.py)",
                  file=sys.stderr)
        return 1 if missing else 0
    for pkg in missing:
        print(f"· console: fetching {pkg.name}@{pkg.version}")
        fetch(pkg, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
