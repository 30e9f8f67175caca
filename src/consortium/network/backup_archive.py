"""The backup archive of one node home: a tar whose first member is `manifest.json`.

The manifest names the chain, the node, the software, the heights the copy holds and the
size and SHA-256 of every other member, so a damaged or altered archive is refused before
anything is written (`read_archive`). Members live under `home/` with the layout of a node
home; nothing else (no absolute path, no `..`, no link) is accepted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from consortium.errors import ConsortiumError

# /2 added the manifest's left_out (a /1 reader would refuse it as malformed); /1 reads
# with left_out None
FORMAT = "consortium-backup/2"
READABLE = ("consortium-backup/1", FORMAT)
MANIFEST_NAME = "manifest.json"
HOME_PREFIX = "home/"
CHUNK = 1 << 20
PROGRESS_STEP = 256 << 20  # report a long copy every 256 MiB

Progress = Callable[[str], None]


class BackupError(ConsortiumError):
    """A backup cannot be made, or an archive cannot be restored (damaged, wrong chain)."""


@dataclass
class Manifest:
    """What an archive holds; `files` maps each member name to its size and sha256."""

    chain_id: str
    node: str
    member: str
    software_version: str
    engine_version: str
    created_at: str  # UTC, ISO 8601: when the backup was taken (never enters the ledger)
    ledger_height: int
    ledger_app_hash: str
    engine_height: int | None  # the engine's block store height; None when taken offline
    includes_keys: bool
    # the secret files the home held that the archive leaves out (relative to the home), for
    # the restore to name; None in an archive of an earlier version, which did not record it
    left_out: list[str] | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("format") not in READABLE:
                found = data.get("format") if isinstance(data, dict) else None
                raise BackupError(
                    f"{where} is not a {' or '.join(READABLE)} archive (its manifest says "
                    f"{found!r})")
            if data["format"] != FORMAT and "left_out" in data:
                raise BackupError(f"{where}: a {data['format']} manifest has no left_out")
            manifest = cls(**data)
            if manifest.left_out is not None and (
                    not isinstance(manifest.left_out, list)
                    or not all(isinstance(n, str) for n in manifest.left_out)):
                raise BackupError(f"{where}: the manifest's left_out is malformed")
            for name, entry in manifest.files.items():
                _check_member_name(name, where)
                if not isinstance(entry.get("size"), int) or not isinstance(
                        entry.get("sha256"), str):
                    raise BackupError(f"{where}: the manifest entry of {name} is malformed")
            return manifest
        except (ValueError, TypeError, AttributeError) as exc:
            raise BackupError(f"{where}: the manifest is malformed ({exc})") from None


def hash_file(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
            size += len(block)
    return {"size": size, "sha256": digest.hexdigest()}


def genesis_chain_id(path: Path) -> str | None:
    """The chain id of a genesis.json, or None when it cannot be read."""
    try:
        return str(json.loads(path.read_text())["chain_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _check_member_name(name: str, where: str) -> None:
    path = PurePosixPath(name)
    if (not name.startswith(HOME_PREFIX) or path.is_absolute() or ".." in path.parts
            or name.endswith("/")):
        raise BackupError(f"{where}: member {name!r} is outside the node home; refused")


def write_archive(staging: Path, manifest: Manifest, out: Path, progress: Progress) -> None:
    """Hash every file under `staging` (a node home) into `manifest` and write the tar to
    `out` atomically: a sibling temporary file, fsynced, then renamed."""
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    total = 0
    for path in files:
        name = HOME_PREFIX + path.relative_to(staging).as_posix()
        manifest.files[name] = hash_file(path)
        total += manifest.files[name]["size"]
    partial = out.with_name(f".{out.name}.partial")
    raw = manifest.to_json()
    try:
        # owner-only: the archive may hold keys, and always holds the ledger's data
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as sink, tarfile.open(fileobj=sink, mode="w",
                                                       format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size = len(raw)
            info.mode = 0o600
            tar.addfile(info, _BytesReader(raw))
            counted = _Counted(lambda n: progress(f"archive: {_mib(n)} of {_mib(total)} written"))
            for path in files:
                name = HOME_PREFIX + path.relative_to(staging).as_posix()
                info = tarfile.TarInfo(name)
                info.size = manifest.files[name]["size"]
                info.mode = 0o600
                with open(path, "rb") as f:
                    counted.source = f
                    tar.addfile(info, counted)
            tar.close()
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


class _Counted:
    """A file reader that reports every PROGRESS_STEP bytes read through it."""

    def __init__(self, report: Callable[[int], None]) -> None:
        self.source: IO[bytes] | None = None
        self._report = report
        self._done = 0

    def read(self, n: int = -1) -> bytes:
        assert self.source is not None
        chunk = self.source.read(n)
        before, self._done = self._done, self._done + len(chunk)
        if self._done // PROGRESS_STEP != before // PROGRESS_STEP:
            self._report(self._done)
        return chunk


class _BytesReader:
    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._at = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._raw) if n < 0 else self._at + n
        chunk, self._at = self._raw[self._at:end], min(end, len(self._raw))
        return chunk


def read_manifest(archive: Path) -> Manifest:
    """The manifest alone (no member is checked)."""
    with _open_tar(archive) as tar:
        return _first_manifest(tar, archive)


def read_archive(archive: Path, into: Path | None, progress: Progress) -> Manifest:
    """Check every member against the manifest, writing each under `into` (a folder that
    becomes the node home) when given. Raises BackupError naming the first problem: the
    caller removes `into` then, so nothing partial is left."""
    where = str(archive)
    with _open_tar(archive) as tar:
        manifest = _first_manifest(tar, archive)
        seen: set[str] = set()
        done = 0
        total = sum(e["size"] for e in manifest.files.values())
        for info in _members(tar, where):
            name = info.name
            entry = manifest.files.get(name)
            if entry is None:
                raise BackupError(f"{where} is corrupt: member {name} is not in its manifest")
            if not info.isfile() or name in seen:
                raise BackupError(f"{where} is corrupt: member {name} is not one regular file")
            seen.add(name)
            source = tar.extractfile(info)
            assert source is not None
            target = None
            if into is not None:
                target = into / name.removeprefix(HOME_PREFIX)
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            found = _copy_hashing(source, target, where)
            if found != entry:
                raise BackupError(
                    f"{where} is corrupt: {name} does not match its manifest entry "
                    f"(sha256 {found['sha256'][:16]}…, {found['size']} bytes; expected "
                    f"{entry['sha256'][:16]}…, {entry['size']} bytes)")
            before, done = done, done + entry["size"]
            if done // PROGRESS_STEP != before // PROGRESS_STEP:
                progress(f"restore: {_mib(done)} of {_mib(total)} checked")
        missing = sorted(set(manifest.files) - seen)
        if missing:
            raise BackupError(f"{where} is corrupt: {missing[0]} is missing "
                              f"({len(missing)} member(s) of the manifest are absent)")
    return manifest


def _open_tar(archive: Path) -> tarfile.TarFile:
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist or is not a file")
    try:
        return tarfile.open(archive, mode="r:")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} is not a backup archive or is damaged ({exc})") from None


def _members(tar: tarfile.TarFile, where: str) -> Iterator[tarfile.TarInfo]:
    while True:
        try:
            info = tar.next()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupError(f"{where} is damaged ({exc})") from None
        if info is None:
            return
        yield info


def _first_manifest(tar: tarfile.TarFile, archive: Path) -> Manifest:
    first = next(_members(tar, str(archive)), None)
    if first is None or first.name != MANIFEST_NAME or not first.isfile():
        raise BackupError(f"{archive} is not a consortium backup (no {MANIFEST_NAME} first)")
    if first.size > 64 << 20:
        raise BackupError(f"{archive}: its manifest is implausibly large; refused")
    source = tar.extractfile(first)
    assert source is not None
    try:
        raw = source.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{archive} is damaged ({exc})") from None
    return Manifest.from_json(raw, str(archive))


def _copy_hashing(source: IO[bytes], target: Path | None, where: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    # Owner-only, like the node's own files: the archive may hold keys.
    sink = (os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
            if target is not None else None)
    try:
        while True:
            try:
                block = source.read(CHUNK)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise BackupError(f"{where} is damaged ({exc})") from None
            if not block:
                break
            digest.update(block)
            size += len(block)
            if sink is not None:
                sink.write(block)
    finally:
        if sink is not None:
            sink.close()
    return {"size": size, "sha256": digest.hexdigest()}


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB"
