"""Calibration (reliability) table of out-of-sample probabilities.

:func:`reliability_table` bins the test folds' predicted P(up) into equal-width bins over
[0, 1] and gives, per bin, how many samples fell in it, their mean prediction and how often
the label was "up". A calibrated model has the two close in every populated bin; the
expected calibration error (ECE) is their gap averaged over the samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_BINS = 10


def reliability_table(p: np.ndarray, y: np.ndarray, bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Per equal-width bin of ``p``: samples, mean predicted, observed share of ``y == 1``
    (None where the bin is empty); the ECE and the overall base rate."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(p)
    p, y = p[ok], y[ok]
    idx = np.minimum((np.clip(p, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins)
    sum_p = np.bincount(idx, weights=p, minlength=bins)
    sum_y = np.bincount(idx, weights=y, minlength=bins)
    rows = []
    ece = 0.0
    for b in range(bins):
        n = int(count[b])
        mean_p = float(sum_p[b] / n) if n else None
        freq = float(sum_y[b] / n) if n else None
        if n:
            ece += n * abs(float(sum_p[b] / n) - float(sum_y[b] / n))
        rows.append({"low": b / bins, "high": (b + 1) / bins, "samples": n, "mean_predicted": mean_p,
                     "observed_up": freq})
    total = int(count.sum())
    return {"bins": rows, "samples": total, "ece": ece / total if total else None,
            "base_rate": float(y.mean()) if total else None}
