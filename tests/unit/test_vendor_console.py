"""scripts/vendor_console.py without the network: a tarball is taken only when its sha512 is
the pinned one, only the files named are extracted (with the licence), a rerun fetches
nothing, and --check says what is missing."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "vendor_console.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendor_console", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["vendor_console"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_pinned_tarballs_are_checked_and_extracted(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    vc = load()
    data = tarball({"package/dist/lib.min.js": b"window.lib = 1;",
                    "package/LICENSE": b"MIT", "package/src/other.js": b"not wanted"})
    pkg = vc.Package("lib", "1.2.3", integrity(data),
                     (("package/dist/lib.min.js", "lib.min.js"),
                      ("package/LICENSE", "lib.LICENSE.txt")))
    fetched: list[str] = []

    def urlopen(url: str, timeout: float) -> Any:
        fetched.append(url)
        return io.BytesIO(data)

    monkeypatch.setattr(vc, "PACKAGES", (pkg,))
    monkeypatch.setattr(vc.urllib.request, "urlopen", urlopen)
    dest = tmp_path / "vendor"
    assert vc.main(["--dest", str(dest), "--check"]) == 1
    assert vc.main(["--dest", str(dest)]) == 0
    assert fetched == ["https://registry.npmjs.org/lib/-/lib-1.2.3.tgz"]
    assert (dest / "lib.min.js").read_bytes() == b"window.lib = 1;"
    assert (dest / "lib.LICENSE.txt").read_bytes() == b"MIT"
    assert sorted(p.name for p in dest.iterdir()) == ["VERSIONS.json", "lib.LICENSE.txt",
                                                      "lib.min.js"]
    assert vc.main(["--dest", str(dest)]) == 0 and len(fetched) == 1  # nothing again
    assert vc.main(["--dest", str(dest), "--check"]) == 0


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    vc = load()
    good = tarball({"package/a.js": b"good"})
    pkg = vc.Package("@scope/lib", "2.0.0", integrity(good), (("package/a.js", "a.js"),))
    monkeypatch.setattr(vc, "PACKAGES", (pkg,))
    monkeypatch.setattr(vc.urllib.request, "urlopen",
                        lambda url, timeout: io.BytesIO(tarball({"package/a.js": b"evil"})))
    dest = tmp_path / "vendor"
    with pytest.raises(SystemExit, match="@scope/lib@2.0.0: the tarball's sha512 is .* not "
                                         "the pinned"):
        vc.main(["--dest", str(dest)])
    assert not (dest / "a.js").exists()
    assert vc.tarball_url(pkg) == "https://registry.npmjs.org/@scope/lib/-/lib-2.0.0.tgz"


def test_the_pins_are_sha512() -> None:
    for pkg in load().PACKAGES:
        assert pkg.integrity.startswith("sha512-") and len(pkg.integrity) == 95, pkg.name
