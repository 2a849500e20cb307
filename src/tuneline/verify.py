"""Re-hash every DVC-tracked output, in the workspace and in the cache, against the recorded md5.

`dvc status` trusts its own record of what it hashed before, so a cache file that changed on disk
passes as up to date. This module reads the md5 values DVC recorded (stage outs in dvc.lock, outs
in every `*.dvc` file) and hashes the bytes itself, the way DVC 3 does:

- a file's md5 is the md5 of its raw bytes (DVC 3 no longer turns CRLF into LF first);
- a directory's md5 is `<md5 of its manifest>.dir`, where the manifest is
  `json.dumps(sorted([{"md5": ..., "relpath": ...}, ...]), sort_keys=True)` (relpath in POSIX
  form, sorted by relpath) and is stored in the cache under that same name;
- a cache object lives at `<cache>/files/md5/<first 2 hex digits>/<the rest>`.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneline.errors import DataError

CHUNK_BYTES = 1 << 20  # read 1 MiB at a time: memory stays flat on multi-GB files
DVC_IGNORED_NAMES = frozenset({".git", ".hg", ".dvc"})  # DVC leaves these out of a directory hash


@dataclass(frozen=True)
class Mismatch:
    """One file whose bytes do not hash to what DVC recorded, or that is not there at all."""

    path: str  # workspace path (relative to the repo) or cache object path
    where: str  # "workspace" | "cache"
    expected_md5: str
    actual_md5: str | None  # None = missing
    recorded_in: str  # "dvc.lock" or "data/raw.dvc" etc.


@dataclass(frozen=True)
class VerifyReport:
    """What was hashed (every file read, workspace and cache alike) and what did not match."""

    checked_files: int
    checked_bytes: int
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass(frozen=True)
class _Out:
    """One tracked output as recorded: where it lives, its md5 and whether DVC caches it."""

    path: Path
    md5: str
    cached: bool
    recorded_in: str

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def verify_tracked_data(root: Path) -> VerifyReport:
    """Hash every output recorded in dvc.lock and `*.dvc` files, workspace copy and cache object.

    Raises DataError for an output this check cannot verify (recorded by DVC 2, or with no md5).
    """
    root = root.resolve()
    verifier = _Verifier(root, cache_dir(root))
    for out in _recorded_outs(root):
        verifier.check(out)
    return VerifyReport(verifier.files, verifier.bytes, tuple(verifier.mismatches))


def cache_dir(root: Path) -> Path:
    """The repo's cache: `cache.dir` from .dvc/config.local or .dvc/config (relative to .dvc/)."""
    config = configparser.ConfigParser(interpolation=None)
    config.read([root / ".dvc" / "config", root / ".dvc" / "config.local"], encoding="utf-8")
    configured = config.get("cache", "dir", fallback="").strip().strip("\"'")
    return (root / ".dvc" / configured).resolve() if configured else root / ".dvc" / "cache"


def cache_object(cache: Path, md5: str) -> Path:
    """Where DVC 3 keeps the object with this md5 (`.dir` manifests included)."""
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def md5_file(path: Path) -> tuple[str | None, int]:
    """The md5 of a file's raw bytes and how many bytes were read; (None, 0) if it is not a file."""
    if not path.is_file():
        return None, 0
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with path.open("rb", buffering=0) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def manifest_md5(manifest: bytes) -> str:
    """The `.dir` md5 DVC gives a directory whose manifest (JSON) has exactly these bytes."""
    return hashlib.md5(manifest, usedforsecurity=False).hexdigest() + ".dir"


def manifest_bytes(entries: list[tuple[str, str]]) -> bytes:
    """A directory manifest as DVC 3 serialises it, from (relpath, md5) pairs."""
    rows = [{"md5": md5, "relpath": relpath} for relpath, md5 in sorted(entries)]
    return json.dumps(rows, sort_keys=True).encode("utf-8")


def _recorded_outs(root: Path) -> list[_Out]:
    """Outs of every dvc.lock (pipeline stages) and every `*.dvc` file, in a stable order."""
    locks, dvc_files = _find_records(root)
    outs = [out for lock in locks for out in _lock_outs(root, lock)]
    return outs + [out for dvc_file in dvc_files for out in _dvc_file_outs(root, dvc_file)]


def _find_records(root: Path) -> tuple[list[Path], list[Path]]:
    """dvc.lock files (beside their dvc.yaml, as DVC reads them) and `*.dvc` files under root.

    Hidden folders (.git, .dvc, .venv) and subrepos (folders with their own .dvc/, hence their
    own cache) are not searched; .dvcignore is not read.
    """
    locks: list[Path] = []
    dvc_files: list[Path] = []
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder)
        if here != root and ".dvc" in dirnames:
            dirnames.clear()
            continue
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        if "dvc.lock" in filenames and "dvc.yaml" in filenames:  # a lock alone is a copy
            locks.append(here / "dvc.lock")
        dvc_files += [here / name for name in sorted(filenames) if name.endswith(".dvc")]
    return locks, dvc_files


def _lock_outs(root: Path, lock: Path) -> list[_Out]:
    """Stage outs of one dvc.lock; its dvc.yaml says each stage's wdir and which outs are
    `cache: false` (dvc.lock records neither)."""
    recorded_in = lock.relative_to(root).as_posix()
    stages = _load_yaml(lock).get("stages") or {}
    specs = _load_yaml(lock.with_name("dvc.yaml"))
    outs = []
    for name, stage in stages.items():
        spec = (specs.get("stages") or {}).get(name.split("@")[0]) or {}
        spec = spec.get("do", spec)  # foreach stages keep their body under `do`
        base = lock.parent / str(spec.get("wdir", "."))
        uncached = _uncached_paths(spec)
        for entry in stage.get("outs") or []:
            cached = entry.get("path") not in uncached
            outs.append(_parse_out(entry, base, cached, recorded_in))
    return outs


def _uncached_paths(spec: dict[str, Any]) -> set[str]:
    """Paths a dvc.yaml stage marks `cache: false` among its outs, metrics and plots."""
    uncached = set()
    for section in ("outs", "metrics", "plots"):
        for entry in spec.get(section) or []:
            for path, opts in entry.items() if isinstance(entry, dict) else []:
                if isinstance(opts, dict) and opts.get("cache") is False:
                    uncached.add(path)
    return uncached


def _dvc_file_outs(root: Path, dvc_file: Path) -> list[_Out]:
    """Outs of one `*.dvc` file; their paths are relative to the file's folder (or its wdir)."""
    record = _load_yaml(dvc_file)
    base = dvc_file.parent / str(record.get("wdir", "."))
    recorded_in = dvc_file.relative_to(root).as_posix()
    return [
        _parse_out(entry, base, entry.get("cache", True) is not False, recorded_in)
        for entry in record.get("outs") or []
    ]


def _parse_out(entry: dict[str, Any], base: Path, cached: bool, recorded_in: str) -> _Out:
    """One recorded out; refuses those whose hash this module does not reproduce."""
    path, md5 = entry.get("path"), entry.get("md5")
    if not path or not md5:
        raise DataError(
            f"{recorded_in}: output {path!r} has no md5 recorded; run `dvc commit` "
            "(or `dvc pull` for an import) so there is something to verify"
        )
    if entry.get("hash") != "md5":
        raise DataError(
            f"{recorded_in}: output {path!r} was recorded by DVC 2 (md5 after turning CRLF into "
            "LF), which this check does not reproduce; run `dvc cache migrate --dvc-files` "
            "to re-record it in DVC 3 form"
        )
    return _Out(Path(os.path.normpath(base / str(path))), str(md5), cached, recorded_in)


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if loaded is not None and not isinstance(loaded, dict):
        raise DataError(f"{path}: expected a YAML mapping, found {type(loaded).__name__}")
    return loaded or {}


@dataclass
class _Verifier:
    """Hashes outs one by one, counting what it read; each cache object is hashed only once."""

    root: Path
    cache: Path
    files: int = 0
    bytes: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    _seen_objects: set[Path] = field(default_factory=set)

    def check(self, out: _Out) -> None:
        if not out.is_dir:
            self._check_workspace_file(out.path, out.md5, out.recorded_in)
            if out.cached:
                self._check_cache_object(out.md5, out.recorded_in)
            return
        manifest = self._cached_manifest(out) if out.cached else None
        if manifest is None:  # uncached, or the manifest is missing or corrupt
            manifest = self._workspace_manifest(out)
            for _, md5 in manifest if out.cached else []:
                self._check_cache_object(md5, out.recorded_in)
            return
        if not out.path.is_dir():
            self._mismatch(out.path, "workspace", out.md5, None, out.recorded_in)
        for relpath, md5 in manifest:
            if out.path.is_dir():
                self._check_workspace_file(out.path / relpath, md5, out.recorded_in)
            self._check_cache_object(md5, out.recorded_in)

    def _check_workspace_file(self, path: Path, md5: str, recorded_in: str) -> None:
        actual = self._hash(path)
        if actual != md5:
            self._mismatch(path, "workspace", md5, actual, recorded_in)

    def _check_cache_object(self, md5: str, recorded_in: str) -> None:
        path = cache_object(self.cache, md5)
        if path in self._seen_objects:  # one object can back many outs or files
            return
        self._seen_objects.add(path)
        actual = self._hash(path)
        if actual != md5:
            self._mismatch(path, "cache", md5, actual, recorded_in)

    def _cached_manifest(self, out: _Out) -> list[tuple[str, str]] | None:
        """The (relpath, md5) entries of a directory out, or None if its manifest is unusable."""
        path = cache_object(self.cache, out.md5)
        raw = path.read_bytes() if path.is_file() else None
        if raw is not None:
            self.files, self.bytes = self.files + 1, self.bytes + len(raw)
        actual = manifest_md5(raw) if raw is not None else None
        if path not in self._seen_objects and actual != out.md5:
            self._mismatch(path, "cache", out.md5, actual, out.recorded_in)
        self._seen_objects.add(path)
        if raw is None or actual != out.md5:
            return None
        try:
            return [(row["relpath"], row["md5"]) for row in json.loads(raw)]
        except (ValueError, TypeError, KeyError) as exc:
            raise DataError(f"{path}: directory manifest is not a list of md5/relpath") from exc

    def _workspace_manifest(self, out: _Out) -> list[tuple[str, str]]:
        """Rebuild a folder's manifest from its files; its entries if it hashes to the recorded
        `.dir` md5, else one mismatch for the folder and no entries."""
        if not out.path.is_dir():
            self._mismatch(out.path, "workspace", out.md5, None, out.recorded_in)
            return []
        entries = []
        for folder, dirnames, filenames in os.walk(out.path):
            dirnames[:] = [name for name in dirnames if name not in DVC_IGNORED_NAMES]
            for name in filenames:
                file = Path(folder, name)
                entries.append((file.relative_to(out.path).as_posix(), self._hash(file) or ""))
        actual = manifest_md5(manifest_bytes(entries))
        if actual != out.md5:
            self._mismatch(out.path, "workspace", out.md5, actual, out.recorded_in)
            return []
        return entries

    def _hash(self, path: Path) -> str | None:
        md5, size = md5_file(path)
        if md5 is not None:
            self.files, self.bytes = self.files + 1, self.bytes + size
        return md5

    def _mismatch(
        self, path: Path, where: str, expected: str, actual: str | None, recorded_in: str
    ) -> None:
        shown = path.relative_to(self.root) if path.is_relative_to(self.root) else path
        self.mismatches.append(Mismatch(shown.as_posix(), where, expected, actual, recorded_in))
