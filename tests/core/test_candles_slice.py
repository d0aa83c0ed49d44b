"""Candles.slice keeps per-bar meta arrays aligned with the rows."""

from __future__ import annotations

import numpy as np

from tradebot.core.candles import Candles


def test_slice_cuts_per_bar_meta_arrays_and_keeps_the_rest() -> None:
    n = 10
    ts = np.arange(n, dtype=np.int64) * 60_000
    px = np.linspace(100, 110, n)
    c = Candles(ts, px, px + 1, px - 1, px, np.ones(n),
                meta={"buy_volume": np.arange(n, dtype=float), "path": "x", "short": np.zeros(3)})
    part = c.slice(3, 7)
    np.testing.assert_array_equal(part.meta["buy_volume"], [3.0, 4.0, 5.0, 6.0])
    assert part.meta["path"] == "x" and part.meta["short"].shape == (3,)
    assert len(part) == 4 and part.timestamp[0] == 3 * 60_000
