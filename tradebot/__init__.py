"""tradebot: crypto trading research and operation from one engine.

Compiled kernels are cached per fingerprint of their sources, for tradebot's kernels only
(see :mod:`tradebot._jit`); importing the package sets nothing in the environment.
"""

from __future__ import annotations

__version__ = "0.1.0"
