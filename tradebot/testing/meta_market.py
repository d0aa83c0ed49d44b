"""A synthetic market for meta-labelling: half of a base strategy's trades are planted winners.

Episodes of quiet noise are each followed by a five-bar drop (the RSI falls below 30: the
``rsi`` strategy's entry signals) and an eight-bar move. In a *planted* episode (half, at
random) the drop comes on four times the usual volume and the move is a rally (the RSI
rises above 70: the base strategy exits with a gain). In the others the drop has the
usual volume and the move goes up with probability 0.3, down otherwise — trades a model
cannot tell apart from the features and that lose on average. A meta model that reads the
volume z-score can take the winners and skip the rest; the base strategy alone takes all.
"""

from __future__ import annotations

import numpy as np

from tradebot.core.candles import Candles

#: the feature spec that can see the planted volume (returns and a volume z-score)
META_SPEC = {"name": "meta", "features": [{"kind": "returns", "periods": [1, 4]},
                                          {"kind": "volume_z", "windows": [24]}]}


def meta_market(episodes: int, seed: int, *, quiet: int = 30, symbol: str = "META/USDT", exchange: str = "synth",
                start_ms: int = 1_704_067_200_000, step_ms: int = 3_600_000) -> Candles:
    """``episodes`` episodes of ``quiet + 13`` hourly bars (module docstring)."""
    rng = np.random.default_rng(seed)
    r: list[float] = []
    v: list[float] = []
    for _ in range(episodes):
        r += list(0.002 * rng.standard_normal(quiet))
        v += list(np.exp(0.2 * rng.standard_normal(quiet)))
        planted = bool(rng.random() < 0.5)
        r += [-0.012] * 5
        v += [4.0 if planted else 1.0] * 5
        sign = 1.0 if planted or rng.random() < 0.3 else -1.0
        r += list(sign * 0.015 + 0.002 * rng.standard_normal(8))
        v += list(np.exp(0.2 * rng.standard_normal(8)))
    ret = np.asarray(r)
    n = ret.size
    close = 100.0 * np.exp(np.cumsum(ret))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    ts = start_ms + step_ms * np.arange(n, dtype=np.int64)
    return Candles(ts, open_, high, low, close, 1000.0 * np.asarray(v), symbol=symbol, timeframe="1h",
                   exchange=exchange, source="test")
