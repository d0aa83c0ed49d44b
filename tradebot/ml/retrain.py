"""Cron-safe retraining: ``--if-older AGE`` and one training of a model at a time.

* :func:`parse_age` reads ``--if-older`` (``90m``, ``12h``, ``7d``, ``2w``).
* :func:`model_lock` is an exclusive ``flock`` on ``$TRADEBOT_HOME/locks/model-<name>.lock``
  (like the paper accounts' lock): held from before the age check until the registry row is
  committed, so two trainings of one model never interleave; the kernel releases it when
  the process dies, however it dies. ``wait=False`` raises :class:`ModelBusy` at once.

A kill at any instant leaves the registry as it was: the artifact is written atomically
before the row and the row is committed in one transaction; an artifact left behind by a
killed run has no row, and the next run (holding the lock) replaces it.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tradebot.core.errors import TradebotError, UsageError

_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class ModelBusy(TradebotError):
    """Another process is training the model (holds its lock)."""


def parse_age(text: str) -> float:
    """``--if-older``: a positive number and a unit (m, h, d, w) → seconds."""
    m = _AGE_RE.match(text or "")
    if m is None or float(m.group(1)) <= 0:
        raise UsageError(f"--if-older must be a positive age with a unit m, h, d or w (90m, 12h, 7d), got {text!r}")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def age_text(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"


def lock_path(home: Path, name: str) -> Path:
    return home / "locks" / f"model-{name}.lock"


@contextmanager
def model_lock(home: Path, name: str, wait: bool) -> Iterator[None]:
    """Hold the model's training lock (``name`` already checked: a path component;
    ``home`` already created by the caller)."""
    (home / "locks").mkdir(exist_ok=True)
    fd = os.open(lock_path(home, name), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ModelBusy(f"model {name!r} is being trained by another process (lock "
                            f"{lock_path(home, name)}); try again later, or pass --wait") from None
        yield
    finally:
        os.close(fd)
