"""Where numbers come from: code version and data fingerprints."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import numpy as np

from tradebot import __version__
from tradebot.core.candles import COLUMNS, Candles


@cache
def code_version() -> str:
    """``<package version>`` plus ``+g<commit>`` when running from a git checkout.

    Reads ``.git`` directly (no subprocess, so it costs nothing at start-up).
    """
    root = Path(__file__).resolve().parents[2]
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            ref_file = git / ref
            if ref_file.is_file():
                commit = ref_file.read_text().strip()
            else:
                packed = (git / "packed-refs").read_text().splitlines()
                commit = next(line.split()[0] for line in packed if line.endswith(" " + ref))
        else:
            commit = head
        return f"{__version__}+g{commit[:12]}"
    except (OSError, StopIteration, IndexError):
        return __version__


def candles_sha256(candles: Candles) -> str:
    """Fingerprint of exactly the candles a run used (all six columns, in order)."""
    h = hashlib.sha256()
    for name in COLUMNS:
        arr = np.ascontiguousarray(getattr(candles, name))
        h.update(name.encode())
        h.update(arr.data.cast("B"))  # arr.data is memoryview(arr)
    return h.hexdigest()
