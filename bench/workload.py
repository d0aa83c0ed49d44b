"""The standard workload (``docs/benchmark-workload.md``): data, reference answers, loaders.

``python bench/workload.py [--sizes 10000 100000 1000000] [--force]`` writes
``bench/data/ohlcv_<N>.csv`` exactly as WORKLOAD.md §1 specifies and checks each file
against the published SHA-256. The text format that reproduces the hashes is
``timestamp`` as an integer and every other column rounded with ``numpy.round(x, 6)`` and
then printed with ``%.6f``; ``\\n`` line endings; header ``timestamp,open,high,low,close,volume``
(``DataFrame.to_csv(index=False, float_format="%.6f")`` of the ``np.round``-ed frame).
Printing the unrounded values with ``%.6f`` (correct rounding) matches the 10k file but not
the 100k/1M ones: ``np.round`` (scale, rint, unscale) differs from correct decimal rounding
on a few values near a half.

The module also holds the reference answers (§5), the sweep grid (§4) and one loader every
implementation uses, so they all parse the same text into the same float64 values.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
OUT_DIR = BENCH_DIR / "out"
SIZES = (10_000, 100_000, 1_000_000)
HEADER = "timestamp,open,high,low,close,volume"
START_MS = 1_704_067_200_000
STEP_MS = 60_000

SHA256 = {
    10_000: "b2b34321b2652bacaaaf41ce27391b74746c3bedc31bc2ce8ff11201accdacbb",
    100_000: "4098ad32f82c35193fd9eab1c5600c808aee6643b596110d51a7c56e23cc0ab0",
    1_000_000: "803055ffbd6464b393c1e553310d825f0f0842d2c7de213b349e3e88510c2d36",
}

# §5: RSI 14/30/70 -> (trades, final equity, total return %, max drawdown %).
REFERENCE = {
    10_000: (36, 9_497.049925, -5.0295, 10.6995),
    100_000: (352, 6_932.961870, -30.6704, 34.4428),
    1_000_000: (3_491, 18.309502, -99.8169, 99.8233),
}
EQUITY_RTOL = 1e-4  # "final_equity within 0.01 %"

# §2 rules.
INIT_CASH = 10_000.0
FEE = 0.001
RSI_DEFAULT = (14, 30.0, 70.0)

# §4: 100 combos, period outermost.
SWEEP_PERIODS = (7, 10, 14, 21, 28)
SWEEP_LOWERS = (20.0, 25.0, 30.0, 35.0)
SWEEP_UPPERS = (65.0, 70.0, 75.0, 80.0, 85.0)
SWEEP_SIZE = 100_000


def sweep_grid() -> list[tuple[int, float, float]]:
    return [(p, lo, up) for p in SWEEP_PERIODS for lo in SWEEP_LOWERS for up in SWEEP_UPPERS]


def csv_path(n: int) -> Path:
    return DATA_DIR / f"ohlcv_{n}.csv"


def generate_arrays(n: int) -> tuple[np.ndarray, ...]:
    """(timestamp, open, high, low, close, volume), unrounded, per §1."""
    rng = np.random.default_rng(42)
    z = rng.standard_normal((n, 4))
    close = 30000.0 * np.exp(np.cumsum(0.001 * z[:, 0]))
    open_ = np.empty(n)
    open_[0] = 30000.0
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * (1.0 + np.abs(0.0005 * z[:, 1]))
    low = np.minimum(open_, close) * (1.0 - np.abs(0.0005 * z[:, 2]))
    volume = np.exp(3.0 + 1.0 * z[:, 3])
    ts = START_MS + STEP_MS * np.arange(n, dtype=np.int64)
    return ts, open_, high, low, close, volume


def _csv_bytes(cols: tuple[np.ndarray, ...], n: int) -> bytes:
    """The CSV text of the first ``n`` rows (``%d`` and ``%.6f``)."""
    import pandas as pd

    ts = cols[0][:n]
    o, h, lo, c, v = (np.round(a[:n], 6) for a in cols[1:])  # numpy's rounding, then %.6f
    df = pd.DataFrame({"timestamp": ts, "open": o, "high": h, "low": lo, "close": c,
                       "volume": v})
    text = df.to_csv(index=False, float_format="%.6f", lineterminator="\n")
    assert text.startswith(HEADER + "\n")
    return text.encode("ascii")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ensure_data(sizes=SIZES, force: bool = False, verbose: bool = True) -> dict[int, bool]:
    """Write the missing CSVs (all of them with ``force``); returns {N: hash matches}."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    todo = [n for n in sizes if force or not csv_path(n).exists()]
    cols = generate_arrays(max(todo)) if todo else ()
    ok: dict[int, bool] = {}
    for n in sizes:
        path = csv_path(n)
        if n in todo:
            data = _csv_bytes(cols, n)
            tmp = path.with_suffix(".csv.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: never a half-written file
            digest = hashlib.sha256(data).hexdigest()
        else:
            digest = sha256_file(path)
        expected = SHA256.get(n)
        ok[n] = digest == expected
        if verbose:
            status = ("OK" if ok[n] else f"MISMATCH (expected {expected})") if expected else \
                "(no reference hash)"
            print(f"{path.relative_to(BENCH_DIR.parent)}  sha256 {digest}  {status}")
    return ok


def load_arrays(n: int) -> dict[str, np.ndarray]:
    """The CSV parsed into contiguous arrays (correctly rounded float parsing)."""
    df = load_frame(n)
    return {"timestamp": df["timestamp"].to_numpy(np.int64),
            **{k: np.ascontiguousarray(df[k].to_numpy(np.float64))
               for k in ("open", "high", "low", "close", "volume")}}


def load_frame(n: int):  # type: ignore[no-untyped-def]
    import pandas as pd

    # pandas 3 parses floats correctly rounded by default (and deprecates the option)
    extra = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    return pd.read_csv(csv_path(n), dtype={"timestamp": np.int64}, **extra)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--force", action="store_true", help="regenerate even if present")
    args = ap.parse_args(argv)
    ok = ensure_data(args.sizes, force=args.force)
    return 0 if all(ok.get(n, True) for n in args.sizes if n in SHA256) else 1


if __name__ == "__main__":
    sys.exit(main())
