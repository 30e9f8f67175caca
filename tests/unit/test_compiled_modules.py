"""The framework's compiled copies (`consortium.compiled`, built by
scripts/compile_hot_paths.py): loaded only from the source they were built from, used where
built, and a node with them commits what a node without them commits."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from consortium import compiled

ROOT = Path(__file__).resolve().parents[2]
BUILT = (compiled.compiled_dir() / compiled.MANIFEST).is_file()
needs_build = pytest.mark.skipif(not BUILT, reason="scripts/compile_hot_paths.py not run")


def _manifest(module: str, digest: str, file: str) -> dict[str, object]:
    return {"abi": compiled.abi_tag(), "modules": {module: {"file": file, "sha256": digest}}}


def test_a_copy_of_another_source_is_not_loaded(tmp_path: Path) -> None:
    module = "consortium.evm.records"
    binary = tmp_path / "records.so"
    binary.write_bytes(b"not loaded")
    stale = compiled.CompiledFinder(tmp_path, _manifest(module, "0" * 64, "records.so"))
    assert stale.find_spec(module) is None
    assert stale.stale == [module]
    # the right source but no binary: Python's own finder answers
    digest = compiled.source_digest(compiled.source_path(module))
    missing = compiled.CompiledFinder(tmp_path, _manifest(module, digest, "gone.so"))
    assert missing.find_spec(module) is None
    # built for another interpreter: nothing of it is used
    other = compiled.CompiledFinder(tmp_path, {"abi": ".cpython-312-x.so", "modules": {
        module: {"file": "records.so", "sha256": digest}}})
    assert other.entries == {} and other.find_spec(module) is None
    # a module not in the manifest is not this finder's
    assert stale.find_spec("consortium.evm.native") is None


def test_the_copy_of_an_unchanged_source_is_found(tmp_path: Path) -> None:
    module = "consortium.evm.records"
    digest = compiled.source_digest(compiled.source_path(module))
    (tmp_path / "records.so").write_bytes(b"")
    finder = compiled.CompiledFinder(tmp_path, _manifest(module, digest, "records.so"))
    spec = finder.find_spec(module)
    assert spec is not None and spec.origin == str(tmp_path / "records.so")
    assert finder.loaded == [module]


@needs_build
def test_the_hot_modules_run_compiled_where_built() -> None:
    if os.environ.get(compiled.PURE_ENV, "") not in ("", "0"):
        pytest.skip(f"{compiled.PURE_ENV} is set")
    import consortium.apps.securities.state  # noqa: F401  (imports the evm modules too)

    status = compiled.status()
    assert status["stale"] == []
    assert {"consortium.evm.records", "consortium.evm.storage", "consortium.evm.abi_codec",
            "consortium.apps.securities.state"} <= set(status["compiled"])


# Runs service workloads on an in-process ledger (bench/services_inprocess.py) and prints a
# digest of every block's outcome: each transaction's result, gas and logs, the app hash.
_REPLAY = """
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import services_inprocess as si
from consortium import compiled
from consortium.ledger.ledger import Ledger
digest = hashlib.sha256()
finalize = Ledger.finalize_block
def recorded(self, ctx, txs):
    out = finalize(self, ctx, txs)
    digest.update(repr(out).encode())
    return out
Ledger.finalize_block = recorded
accounts = [si.BenchAccount.from_key((i + 1).to_bytes(32, "big")) for i in range(8)]
for name in ("securities", "securities-mix", "invoice", "credit", "registry"):
    si.run(name, 120, 40, accounts)
print(json.dumps({"digest": digest.hexdigest(), "compiled": compiled.status()["compiled"]}))
"""


def _replay(pure: bool) -> dict[str, object]:
    env = {**os.environ, compiled.PURE_ENV: "1" if pure else "0", "ETH_HASH_BACKEND": "pysha3"}
    done = subprocess.run([sys.executable, "-c", _REPLAY, str(ROOT / "bench")], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@needs_build
def test_compiled_and_pure_commit_the_same_blocks() -> None:
    pure, fast = _replay(pure=True), _replay(pure=False)
    assert pure["compiled"] == []
    assert set(fast["compiled"]) >= {"consortium.evm.records", "consortium.evm.storage"}  # type: ignore[arg-type]
    assert fast["digest"] == pure["digest"]
    assert len(str(pure["digest"])) == len(hashlib.sha256().hexdigest())


def test_the_node_log_line_says_what_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(compiled.PURE_ENV, raising=False)
    (tmp_path / "x.so").write_bytes(b"")  # the copies are there; only their sources differ
    fresh = {name: {"file": "x.so", "sha256": compiled.source_digest(compiled.source_path(name))}
             for name in compiled.HOT_MODULES}
    finder = compiled.CompiledFinder(tmp_path, {"abi": compiled.abi_tag(), "modules": fresh})
    monkeypatch.setattr(compiled, "_finder", finder)
    assert compiled.describe() == (
        f"framework modules run compiled ({len(compiled.HOT_MODULES)} modules)")
    edited = {**fresh, "consortium.evm.records": {"file": "x.so", "sha256": "0" * 64}}
    monkeypatch.setattr(compiled, "_finder", compiled.CompiledFinder(
        tmp_path, {"abi": compiled.abi_tag(), "modules": edited}))
    assert "but for consortium.evm.records (edited since built" in compiled.describe()
    monkeypatch.setattr(compiled, "_finder", None)
    assert "run as Python (not compiled" in compiled.describe()
    monkeypatch.setenv(compiled.PURE_ENV, "1")
    assert compiled.describe() == (
        f"framework modules run as Python ({compiled.PURE_ENV} is set)")
