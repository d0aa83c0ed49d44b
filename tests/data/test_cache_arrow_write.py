"""A cache write builds its Arrow columns straight from the numpy buffers: no pandas import
(a cron step that appends candles), and the same file, byte for byte, as pa.array's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa

from tradebot.data.cache import _arrow

SCRIPT = r"""
import sys
from tradebot.core.candles import Candles
from tradebot.data.cache import CandleCache
import numpy as np
n = 3000
ts = 1_699_999_980_000 + np.arange(n, dtype=np.int64) * 60_000
c = 100 + np.cumsum(np.random.default_rng(3).normal(0, 1, n))
cache = CandleCache(sys.argv[1])
cache.save(Candles(ts, c, c + 1, c - 1, c, np.full(n, 5.0), symbol="BTC/USDT", timeframe="1m", exchange="binance"))
back = cache.load("binance", "BTC/USDT", "1m")
assert np.array_equal(back.close, c) and np.array_equal(back.timestamp, ts)
print("pandas" in sys.modules)
"""


def test_arrow_columns_equal_pa_array():
    rng = np.random.default_rng(0)
    f = rng.normal(size=257)
    f[3] = np.nan
    t = np.arange(257, dtype=np.int64) * 60_000
    for arr, typ in ((f[5:200], pa.float64()), (t[1:], pa.int64())):
        got, want = _arrow(arr, typ), pa.array(arr, type=typ)
        assert got.type == want.type and got.null_count == 0 and len(got) == len(want)
        assert np.array_equal(got.to_numpy(zero_copy_only=False), want.to_numpy(zero_copy_only=False),
                              equal_nan=True)


def test_cache_write_imports_no_pandas(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
