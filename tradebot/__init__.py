"""tradebot: crypto trading research and operation from one engine."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__version__ = "0.1.0"


def _pin_numba_cache() -> None:
    """Keep compiled kernels in a cache directory named after the sources they come from.

    numba invalidates a cached kernel only when *its own* file changes, but the kernels
    inline helpers and read constants from other modules (engine/risk_nb.py,
    engine/config.py...): after an edit or an upgrade a stale kernel could run. Naming the
    cache directory after the size and time of every source file of the compiled packages
    makes any change start from a clean cache. An explicit ``NUMBA_CACHE_DIR`` wins.
    """
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    root = Path(__file__).resolve().parent
    h = hashlib.sha256(__version__.encode())
    for package in ("engine", "indicators", "strategies", "exchanges"):
        for path in sorted((root / package).rglob("*.py")):
            st = path.stat()
            h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = base / "tradebot" / "numba" / h.hexdigest()[:16]
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # numba falls back to __pycache__ next to the sources
    if os.access(target, os.W_OK):
        os.environ["NUMBA_CACHE_DIR"] = str(target)


_pin_numba_cache()
