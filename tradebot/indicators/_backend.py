"""Which implementation the indicator functions use: TA-Lib when it imports, else numba.

``TRADEBOT_TALIB=0`` forces the numba fallback (the tests run both paths).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import numpy as np


@cache
def talib_module() -> Any:
    """The ``talib`` module, or None when it is missing or disabled."""
    if os.environ.get("TRADEBOT_TALIB", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        import talib
    except ImportError:
        return None
    return talib


def backend() -> str:
    """``"talib"`` or ``"fallback"``."""
    return "talib" if talib_module() is not None else "fallback"


def f64(x: Any) -> np.ndarray:
    """A contiguous float64 view or copy of ``x`` (what TA-Lib and the kernels take)."""
    return np.ascontiguousarray(x, dtype=np.float64)
