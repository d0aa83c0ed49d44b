"""Atomic file writes: write a temp file beside the target, fsync, then rename over it.

A reader sees either the old file or the complete new one, never a half-written file,
even if the writer crashes or raises half-way. Failures to write (permission denied,
read-only file system, disk full, a parent that is a file) become one-line
:class:`~tradebot.core.errors.UsageError` messages naming the path.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from tradebot.core.errors import UsageError

__all__ = ["atomic_path", "atomic_write_bytes"]


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _cannot_write(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot write {path}: {_reason(exc)}")


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temp(path: Path) -> Path:
    """Create an empty, uniquely named temp file next to ``path`` (mode honours the umask)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a unique temp file beside {path}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is fsynced and renamed onto ``path``.

    The temp file already exists (empty) when yielded; the body may overwrite it by
    name with any writer. If the body raises, the temp file is removed and ``path`` is
    left untouched. Parent directories are created. ``OSError`` from any step
    (including the body) is raised as ``UsageError("cannot write <path>: <reason>")``.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temp(target)
    except OSError as e:
        raise _cannot_write(target, e) from e
    try:
        try:
            yield tmp
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            with contextlib.suppress(OSError):  # keep the mode of the file we replace
                os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
            os.replace(tmp, target)
        except OSError as e:
            raise _cannot_write(target, e) from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return target
