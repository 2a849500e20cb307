"""verify_tracked_data re-hashes what DVC tracks and names each file that changed on disk.

One throwaway DVC repo is built with the real `dvc add` and `dvc repro` (so the recorded md5
values are DVC's own, not ours); each test corrupts a copy of it in one way and expects exactly
that one change to be reported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tuneline.errors import DataError
from tuneline.verify import Mismatch, cache_object, verify_tracked_data

RAW_FILES = {
    "a.jsonl": b'{"q": "one"}\n',
    "b.jsonl": b'{"q": "two"}\n',
    "nested/c.jsonl": b'{"q": "three"}\n',
}
# CRLF on purpose: DVC 2 hashed text after CRLF -> LF, DVC 3 hashes raw bytes; if this module
# guessed wrong, the clean repo would already fail.
LABELS = b"id,label\r\n1,yes\r\n2,no\r\n"
STAGE_SCRIPT = """\
from pathlib import Path
Path("data/prepared.jsonl").write_text(Path("data/raw/a.jsonl").read_text() * 3)
Path("reports").mkdir(exist_ok=True)
Path("reports/prepare.json").write_text('{"rows": 3}')
"""
DVC_YAML = {
    "stages": {
        "prepare": {
            "cmd": "python prepare.py",
            "deps": ["data/raw", "prepare.py"],
            "outs": ["data/prepared.jsonl"],
            "metrics": [{"reports/prepare.json": {"cache": False}}],  # no cache object
        }
    }
}


def _run(cwd: Path, *args: str) -> None:
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
    }
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC repo: data/labels.csv and data/raw/ added, one stage reproduced."""
    repo = tmp_path_factory.mktemp("pristine")
    for relpath, content in RAW_FILES.items():
        (repo / "data/raw" / relpath).parent.mkdir(parents=True, exist_ok=True)
        (repo / "data/raw" / relpath).write_bytes(content)
    (repo / "data/labels.csv").write_bytes(LABELS)
    (repo / "prepare.py").write_text(STAGE_SCRIPT)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML))
    _run(repo, "git", "init", "-q")
    _run(repo, sys.executable, "-m", "dvc", "init", "-q")
    _run(repo, sys.executable, "-m", "dvc", "config", "core.analytics", "false")
    _run(repo, sys.executable, "-m", "dvc", "add", "-q", "data/raw", "data/labels.csv")
    _run(repo, sys.executable, "-m", "dvc", "repro", "-q")
    return repo


@pytest.fixture
def repo(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the pristine repo (workspace and cache are separate files in it)."""
    return Path(shutil.copytree(pristine, tmp_path / "repo", symlinks=True))


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _obj(repo: Path, content: bytes) -> Path:
    return cache_object(repo / ".dvc" / "cache", _md5(content))


def _flip_byte(path: Path, offset: int = 0) -> None:
    """Change one byte in a new file at `path`, so a hard-linked twin keeps the old bytes."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.chmod(0o644)  # DVC makes cache objects read-only
    path.unlink()
    path.write_bytes(bytes(data))


def _dir_md5(repo: Path) -> str:
    return yaml.safe_load((repo / "data/raw.dvc").read_text())["outs"][0]["md5"]


def _only(repo: Path) -> Mismatch:
    report = verify_tracked_data(repo)
    assert not report.ok
    assert len(report.mismatches) == 1, report.mismatches
    return report.mismatches[0]


def test_clean_repo_passes_and_hashes_every_file(repo: Path) -> None:
    report = verify_tracked_data(repo)
    assert report.ok, report.mismatches
    # labels: 2 (workspace + cache); raw: manifest + 3 + 3; prepared: 2; prepare.json: 1
    assert report.checked_files == 12
    assert report.checked_bytes > sum(map(len, RAW_FILES.values())) * 2


def test_corrupt_cache_object_of_a_file(repo: Path) -> None:
    _flip_byte(_obj(repo, LABELS))
    found = _only(repo)
    assert found.where == "cache"
    assert found.path == _obj(repo, LABELS).relative_to(repo).as_posix()
    assert (found.expected_md5, found.recorded_in) == (_md5(LABELS), "data/labels.csv.dvc")
    assert found.actual_md5 not in (None, found.expected_md5)


def test_corrupt_cache_object_of_a_file_inside_a_directory(repo: Path) -> None:
    content = RAW_FILES["nested/c.jsonl"]
    _flip_byte(_obj(repo, content), offset=3)
    found = _only(repo)
    assert (found.where, found.expected_md5) == ("cache", _md5(content))
    assert found.path.endswith(_md5(content)[2:])
    assert found.recorded_in == "data/raw.dvc"


def test_modified_workspace_file(repo: Path) -> None:
    _flip_byte(repo / "data/raw/b.jsonl")
    found = _only(repo)
    assert (found.where, found.path) == ("workspace", "data/raw/b.jsonl")
    assert found.expected_md5 == _md5(RAW_FILES["b.jsonl"])


def test_deleted_cache_object_reads_as_missing(repo: Path) -> None:
    _obj(repo, RAW_FILES["a.jsonl"]).unlink()
    found = _only(repo)
    assert (found.where, found.actual_md5) == ("cache", None)


def test_missing_workspace_folder(repo: Path) -> None:
    shutil.rmtree(repo / "data/raw")
    found = _only(repo)
    assert (found.where, found.path, found.actual_md5) == ("workspace", "data/raw", None)


def test_corrupt_directory_manifest_is_reported_once(repo: Path) -> None:
    # Still valid JSON after the flip, so a check that only parsed it would trust wrong md5s.
    manifest = cache_object(repo / ".dvc" / "cache", _dir_md5(repo))
    _flip_byte(manifest, offset=manifest.read_bytes().index(b'"md5": "') + 8)
    found = _only(repo)
    assert (found.where, found.expected_md5) == ("cache", _dir_md5(repo))
    assert found.path == manifest.relative_to(repo).as_posix()


def test_corrupt_manifest_does_not_hide_a_modified_workspace_file(repo: Path) -> None:
    cache_object(repo / ".dvc" / "cache", _dir_md5(repo)).unlink()
    (repo / "data/raw/a.jsonl").write_bytes(b"changed\n")
    report = verify_tracked_data(repo)
    assert {(m.where, m.path) for m in report.mismatches} == {
        ("cache", cache_object(repo / ".dvc/cache", _dir_md5(repo)).relative_to(repo).as_posix()),
        ("workspace", "data/raw"),
    }


def test_corrupt_cache_object_of_a_stage_out(repo: Path) -> None:
    prepared = RAW_FILES["a.jsonl"] * 3
    _flip_byte(_obj(repo, prepared))
    found = _only(repo)
    assert (found.where, found.recorded_in, found.expected_md5) == (
        "cache",
        "dvc.lock",
        _md5(prepared),
    )


def test_uncached_metric_is_checked_in_the_workspace_only(repo: Path) -> None:
    (repo / "reports/prepare.json").write_text('{"rows": 4}')
    found = _only(repo)
    assert (found.where, found.path) == ("workspace", "reports/prepare.json")


def test_cache_dir_from_dvc_config(repo: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared-cache"
    shutil.move(repo / ".dvc" / "cache", shared)
    with (repo / ".dvc" / "config").open("a") as config:
        config.write("[cache]\n    dir = ../../shared-cache\n")  # relative to .dvc/
    assert verify_tracked_data(repo).ok
    _flip_byte(cache_object(shared, _md5(LABELS)))
    assert _only(repo).path == cache_object(shared.resolve(), _md5(LABELS)).as_posix()


def test_dvc2_output_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / ".dvc").mkdir()
    legacy = {"outs": [{"md5": "0123456789abcdef0123456789abcdef", "path": "old"}]}  # no `hash`
    (tmp_path / "old.dvc").write_text(yaml.safe_dump(legacy))
    with pytest.raises(DataError, match=r"old\.dvc.*dvc cache migrate --dvc-files"):
        verify_tracked_data(tmp_path)
