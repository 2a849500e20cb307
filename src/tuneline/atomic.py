"""Atomic outputs: a reader (or the next stage) sees a stage's previous files or its whole new
ones, never a torn file or a mix of old and new; a full disk is said as such.

Each file is written to a hidden temp file in its own folder (same filesystem, so the rename is
atomic), flushed and fsynced, then renamed over the target with `os.replace`. On any failure the
temp file is removed and the target is untouched.

A stage that writes several files (qa.jsonl + quarantine.jsonl + prepare.json; the three splits
+ split.json) wraps its writes in `group()`: every file goes to its temp first and the renames
happen only once all of them are written and synced. A failure while writing (disk full, bad
data found late, a bug) therefore leaves every previous output in place. Only the renames run
after the last byte is on disk; they write no data, so a full disk cannot interrupt them.

`ENOSPC` / `EDQUOT` become `DiskFull` (exit 3), a one-line message naming the path.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tuneline.errors import DataError, TunelineError

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# A write that failed while less than this was free is taken as a full disk, for libraries
# whose error does not say so (torch.save: "unexpected pos 576 vs 534").
LOW_SPACE_BYTES = 16 * 1024**2


class DiskFull(DataError):
    """The filesystem (or the user's quota) ran out of space while writing an output."""


# The renames waiting for the innermost open group(), in the order the files were written.
_pending: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar(
    "tuneline_atomic_pending", default=None
)


def disk_full_error(exc: BaseException, path: Path) -> DiskFull:
    """The message people get for ENOSPC/EDQUOT while writing `path`."""
    quota = isinstance(exc, OSError) and exc.errno == errno.EDQUOT
    what = "disk quota exceeded" if quota else "no space left on device"
    return DiskFull(
        f"{path}: {what} while writing it; the previous output (if any) is unchanged. Free "
        f"space on that filesystem (`df -h {path.parent}`) and run again"
    )


def is_out_of_space(exc: BaseException, path: Path) -> bool:
    """Whether `exc`, raised while writing under `path`, came from a full disk or quota: an
    ENOSPC/EDQUOT anywhere in its chain, the OS's words for it in a library's message
    (safetensors), or, for libraries that say neither (torch.save), a failure while the
    filesystem of `path` has almost nothing free."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in DISK_FULL_ERRNOS:
            return True
        if any(words in str(seen) for words in ("No space left on device", "os error 28")):
            return True
        seen = seen.__cause__ or seen.__context__
    folder = path if path.is_dir() else path.parent
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def reporting_out_of_space(path: Path) -> Iterator[None]:
    """Turn a full disk met in the body into `DiskFull` naming `path`, also from library code
    (a Trainer saving checkpoints, save_pretrained) whose errors may not carry ENOSPC (see
    `is_out_of_space`); other errors pass unchanged."""
    try:
        yield
    except TunelineError:  # ours already say what went wrong (DiskFull included)
        raise
    except Exception as exc:
        if is_out_of_space(exc, path):
            raise disk_full_error(exc, path) from exc
        raise


@contextlib.contextmanager
def group() -> Iterator[None]:
    """Write every file of the body to its temp, then rename them all (or none on failure).

    A group inside another one joins it: the outermost group decides when to rename.
    """
    if _pending.get() is not None:
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = _pending.set(pending)
    try:
        yield
    except BaseException:
        for temp, _ in pending:
            _remove(temp)
        raise
    finally:
        _pending.reset(token)
    for temp, target in pending:
        _commit(temp, target)


@contextlib.contextmanager
def output_path(path: Path) -> Iterator[Path]:
    """A temp path beside `path` for code that writes by name (e.g. a library's `save_html`);
    once the body returns, the file is synced and takes `path`'s place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temp = Path(name)
    temp.chmod(0o666 & ~_umask())  # mkstemp makes it private; outputs get the usual mode
    try:
        with reporting_out_of_space(path):
            yield temp
            _fsync_file(temp)
    except BaseException:
        _remove(temp)
        raise
    _finish(temp, path)


@contextlib.contextmanager
def open_output(path: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """`open(path, mode)` for writing, atomically (see the module docstring)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"open_output: mode {mode!r}; use 'w' or 'wb'")
    with output_path(path) as temp:
        with temp.open(mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()


def write_text(path: Path, text: str) -> None:
    """`path.write_text(text)` (UTF-8), atomically."""
    with open_output(path) as handle:
        handle.write(text)


def write_bytes(path: Path, data: bytes) -> None:
    """`path.write_bytes(data)`, atomically."""
    with open_output(path, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def output_dir(path: Path) -> Iterator[Path]:
    """A fresh temp folder beside `path` for code that writes a whole folder (save_pretrained);
    once the body returns, its files are synced and the folder replaces `path`.

    A folder cannot be renamed over a non-empty one, so the old folder is first renamed aside,
    the new one renamed in, then the old one removed: a crash between the two renames leaves no
    `path` (never a mix), and the old folder stays beside it as `.NAME.old-*`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    temp.chmod(0o777 & ~_umask())
    try:
        with reporting_out_of_space(path):
            yield temp
            for file in sorted(p for p in temp.rglob("*") if p.is_file()):
                _fsync_file(file)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _finish(temp, path)


def _finish(temp: Path, target: Path) -> None:
    """Rename now, or at the end of the enclosing group()."""
    pending = _pending.get()
    if pending is None:
        _commit(temp, target)
    else:
        pending.append((temp, target))


def _commit(temp: Path, target: Path) -> None:
    if temp.is_dir() and target.is_dir():
        aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.replace(target, aside / target.name)
        os.replace(temp, target)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(temp, target)
    _fsync_dir(target.parent)


@functools.cache
def _umask() -> int:
    """The process umask (read by setting it, so once, and set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(temp: Path) -> None:
    if temp.is_dir():
        shutil.rmtree(temp, ignore_errors=True)
    else:
        temp.unlink(missing_ok=True)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry lives in the folder)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
