"""Build the compiled copies of the native contracts' framework modules (Cython).

    .venv/bin/python scripts/compile_hot_paths.py [--force]

Writes `<engine dir>/compiled/` (`.engine/compiled` in a checkout): one extension module per
`consortium.compiled.HOT_MODULES` and a manifest naming the source each was built from.
Skips the build when the manifest already names this tree's sources, this Cython and this
interpreter. The package loads a copy only while its source is unchanged
(`consortium.compiled`); without copies everything runs as Python, the same results.
~50 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from consortium.compiled import (
    HOT_MODULES,
    MANIFEST,
    abi_tag,
    compiled_dir,
    module_file,
    source_digest,
    source_path,
)

# Python's semantics, only compiled: every value a Python object — no C types read from
# annotations (`x: float` would be a C double) or inferred for locals (`w = 20 if a else 32`
# would be a C long, and `2 ** (8 * w)` a C double) — and functions that bind and introspect
# as Python's
DIRECTIVES = {"language_level": 3, "binding": True, "annotation_typing": False,
              "infer_types": False}


def wanted_manifest(cython_version: str) -> dict[str, object]:
    modules = {}
    for name in HOT_MODULES:
        modules[name] = {"file": str(module_file(name, abi_tag())),
                         "sha256": source_digest(source_path(name))}
    return {"abi": abi_tag(), "cython": cython_version, "directives": DIRECTIVES,
            "modules": modules}


def build(out: Path, manifest: dict[str, object]) -> None:
    from Cython.Build import cythonize
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    with tempfile.TemporaryDirectory(prefix="consortium-compile-") as tmp:
        work = Path(tmp)
        # the sources as a package tree of their own (cythonize names modules by it)
        for name in HOT_MODULES:
            target = work / "src" / module_file(name, ".py")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_path(name), target)
            for parent in target.parents:
                if parent == work / "src":
                    break
                (parent / "__init__.py").touch()
        paths = [str(work / "src" / module_file(n, ".py")) for n in HOT_MODULES]
        extensions = cythonize(paths, compiler_directives=DIRECTIVES, quiet=True,
                               build_dir=str(work / "c"))
        for ext in extensions:  # named from the package tree above
            ext.name = ext.name.split("src.", 1)[-1]
        dist = Distribution({"ext_modules": extensions})
        cmd = build_ext(dist)
        cmd.build_lib = str(work / "lib")
        cmd.build_temp = str(work / "tmp")
        cmd.parallel = 2
        cmd.ensure_finalized()
        cmd.run()
        staged = Path(tempfile.mkdtemp(prefix="compiled-", dir=out.parent))
        try:
            for name, entry in manifest["modules"].items():  # type: ignore[union-attr]
                built = work / "lib" / entry["file"]
                if not built.is_file():
                    raise SystemExit(f"error: {name} was not built ({built} missing)")
                (staged / entry["file"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(built, staged / entry["file"])
            (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            if out.exists():
                shutil.rmtree(out)
            staged.rename(out)  # the new copies and their manifest in one step
        finally:
            shutil.rmtree(staged, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")
    a = p.parse_args()
    try:
        import Cython
    except ImportError:
        print("error: Cython is not installed (pip install -e '.[compile]')", file=sys.stderr)
        return 1
    out = compiled_dir()
    manifest = wanted_manifest(Cython.__version__)
    try:
        current = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        current = None
    if current == manifest and not a.force:
        print(f"· compiled framework modules up to date ({out})")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"· compiling {len(HOT_MODULES)} framework modules with Cython {Cython.__version__} "
          "(about a minute)", flush=True)
    started = time.monotonic()
    try:
        build(out, manifest)
    except Exception as exc:  # no C compiler or Python headers, say: one line, not a trace
        print(f"error: compiling failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"· compiled modules written to {out} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
