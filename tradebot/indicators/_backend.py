"""Which implementation the indicator functions use: TA-Lib when it imports, else numba.

``TRADEBOT_TALIB=0`` forces the numba fallback (the tests run both paths).
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import Any

import numpy as np


@cache
def talib_module() -> Any:
    """The ``talib`` module, or None when it is missing or disabled.

    TA-Lib's package imports pandas and polars (when installed) only to accept their
    Series; tradebot passes float64 arrays. When neither is imported yet, talib is
    imported without them: pandas alone is most of a cron ``paper`` step's start-up. (A
    strategy that calls talib with pandas Series imports talib itself, at load time,
    before any indicator is computed, and gets the wrapping as usual.)
    """
    if os.environ.get("TRADEBOT_TALIB", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    hidden = [name for name in ("pandas", "polars") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError
    try:
        import talib
    except ImportError:
        return None
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return talib


def backend() -> str:
    """``"talib"`` or ``"fallback"``."""
    return "talib" if talib_module() is not None else "fallback"


def f64(x: Any) -> np.ndarray:
    """A contiguous float64 view or copy of ``x`` (what TA-Lib and the kernels take)."""
    return np.ascontiguousarray(x, dtype=np.float64)
