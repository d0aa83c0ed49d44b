"""Walk-forward prediction: retrain every N bars on the preceding data, predict the next block.

The backtest of an ML strategy (like freqAI's backtesting): the bars after a first
training window are cut into blocks of ``retrain_every`` bars; before each block a fresh
pipeline (the model record's recipe: feature spec, labels, model settings, seed) is fitted
on the samples whose labels were *fully known* at the block's first bar (``t1 < first``, the
purge: a 12-bar forward label of bar t is known only at bar t + 12) and, when the window
rolls, whose bar lies within ``train_window`` bars before it. The block's probabilities
come from that fit alone, so every probability is out of sample and the engine runs once
over the concatenation.

Features are built once over the whole history by :func:`tradebot.ml.features.build_features`
(causal: a row uses its bar and earlier ones), the same function paper trading uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.ml.spec import FeatureSpec

Progress = Callable[[str], None]
#: default share of the bars in the first training window, and blocks after it
DEFAULT_TRAIN_SHARE = 0.3
DEFAULT_BLOCKS = 10
#: fewest training samples a block is fitted on (fewer: no prediction for that block)
MIN_TRAIN_SAMPLES = 50


@dataclass(frozen=True)
class WalkForwardSettings:
    retrain_every: int = 0  # bars per block; 0: a tenth of the bars after the first window
    train_window: int = 0  # bars of the first window (and of every window when rolling); 0: 30 %
    rolling: bool = False

    def __post_init__(self) -> None:
        for name in ("retrain_every", "train_window"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be a number of bars >= 0 (0: automatic), "
                                 f"got {v!r}")

    def resolve(self, n: int) -> tuple[int, int]:
        """``(retrain_every, train_window)`` in bars for ``n`` bars of data."""
        window = self.train_window or max(1, int(n * DEFAULT_TRAIN_SHARE))
        if window >= n:
            raise UsageError(f"--train-window {window} bars leaves nothing to test on: the data has {n} bars")
        every = self.retrain_every or max(1, -(-(n - window) // DEFAULT_BLOCKS))
        return every, window


@dataclass(frozen=True)
class Block:
    first: int  # first bar predicted
    stop: int  # one past the last bar predicted
    train_from: int  # first bar a training sample may lie on
    samples: int  # training samples
    fitted: bool  # False: too few samples or one class; the block has no predictions

    def to_dict(self) -> dict[str, Any]:
        return {"first": self.first, "stop": self.stop, "train_from": self.train_from,
                "samples": self.samples, "fitted": self.fitted}


@dataclass(frozen=True)
class WalkForwardResult:
    proba: np.ndarray  # P(up) per bar; NaN before ``first_test`` and where not predicted
    first_test: int
    retrain_every: int
    train_window: int
    rolling: bool
    blocks: tuple[Block, ...]

    def summary(self) -> dict[str, Any]:
        return {"retrain_every": self.retrain_every, "train_window": self.train_window,
                "window": "rolling" if self.rolling else "expanding", "first_test_bar": self.first_test,
                "retrains": sum(b.fitted for b in self.blocks), "blocks": len(self.blocks),
                "unfitted_blocks": sum(not b.fitted for b in self.blocks)}


def walk_forward(candles: Candles, spec: FeatureSpec, label: Any, model: Any, seed: int,
                 settings: WalkForwardSettings, progress: Progress | None = None,
                 others: Mapping[str, Candles] | None = None) -> WalkForwardResult:
    """Out-of-sample P(up) for every bar after the first training window (module docstring).
    ``label``: :class:`tradebot.ml.evaluate.LabelSettings`; ``model``: :class:`tradebot.ml.pipeline.ModelSettings`;
    ``others``: the candles of the other symbols the spec names."""
    from threadpoolctl import threadpool_limits

    from tradebot.ml.evaluate import make_dataset, make_labels
    from tradebot.ml.features import build_features
    from tradebot.ml.pipeline import fit_pipeline, positive_proba

    n = len(candles)
    every, window = settings.resolve(n)
    features = build_features(candles, spec, others=others)
    ds = make_dataset(features, make_labels(candles, label))
    valid = features.valid_rows()
    proba = np.full(n, np.nan)
    blocks: list[Block] = []
    starts = range(window, n, every)
    for k, first in enumerate(starts):
        stop = min(first + every, n)
        train_from = max(0, first - window) if settings.rolling else 0
        mask = (ds.t1 < first) & (ds.t0 >= train_from)
        idx = np.flatnonzero(mask)
        ok = idx.size >= MIN_TRAIN_SAMPLES and np.unique(ds.y[idx]).size == 2
        if ok:
            w = ds.w[idx]
            w = w * (w.size / w.sum()) if w.sum() > 0 else np.ones_like(w)
            with threadpool_limits(limits=1):
                fitted = fit_pipeline(model, ds.columns, seed, ds.X[idx], ds.y[idx], w, ds.t0[idx], ds.t1[idx])
                rows = np.flatnonzero(valid[first:stop]) + first
                if rows.size:
                    proba[rows] = positive_proba(fitted, features.values[rows])
        blocks.append(Block(first, stop, train_from, int(idx.size), bool(ok)))
        if progress is not None:
            progress(f"walk-forward block {k + 1}/{len(starts)}: trained on {idx.size:,} samples, "
                     f"predicted bars {first:,}-{stop - 1:,}" + ("" if ok else " (too few samples: no signals)"))
    return WalkForwardResult(proba, window, every, window, settings.rolling, tuple(blocks))
