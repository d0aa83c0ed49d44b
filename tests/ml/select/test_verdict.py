"""The verdict's statistics: the DSR benchmark under the null and the bootstrap's block length."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradebot.analysis.confidence import block_length
from tradebot.ml.select.evaluate import Line
from tradebot.ml.select.verdict import BEATS, auto_block_length, selector_verdict, verdict_block_length
from tradebot.optimize.overfit import expected_max_sharpe


def _ar1(phi: float, n: int, rng: np.random.Generator) -> np.ndarray:
    e = rng.standard_normal(n + 200)
    x = np.zeros(n + 200)
    for t in range(1, n + 200):
        x[t] = phi * x[t - 1] + e[t]
    return x[200:]


def test_auto_block_length_follows_the_dependence() -> None:
    rng = np.random.default_rng(0)
    assert auto_block_length(rng.standard_normal(2000)) < 3  # iid: no need for blocks
    assert auto_block_length(np.ones(50)) == 1.0  # no variance
    n = 5000
    for phi in (0.5, 0.8):
        est = float(np.median([auto_block_length(_ar1(phi, n, rng)) for _ in range(9)]))
        # the optimal circular-block length of an AR(1), (2 G^2 / D)^(1/3) n^(1/3) (Politis & White 2004)
        g, g0 = 2 * phi / (1 - phi) ** 2, (1 + phi) / (1 - phi)
        theory = (2 * g * g / (4 / 3 * g0 * g0)) ** (1 / 3) * n ** (1 / 3)
        assert abs(est / theory - 1) < 0.25, (phi, est, theory)
    # never shorter than the old n^(1/3) rule, never longer than min(3 sqrt(n), n / 3)
    x = rng.standard_normal(190)
    assert verdict_block_length(x) == block_length(190)
    assert auto_block_length(_ar1(0.99, 60, rng)) <= 20


def _line(name: str, kind: str, r: np.ndarray) -> Line:
    return Line(name, kind, r, np.cumprod(np.repeat(1 + r, 2) ** 0.5), 0, 0.0, 0)


def test_the_dsr_benchmark_does_not_rise_with_a_losing_candidate() -> None:
    rng = np.random.default_rng(3)
    t = 150
    sel = _line("selector", "selector", 0.01 + 0.02 * rng.standard_normal(t))
    a = _line("a", "candidate", 0.0 + 0.02 * rng.standard_normal(t))
    blend = _line("blend", "blend", 0.5 * (a.window_returns + 0.0))
    flat = _line("flat", "candidate", np.zeros(t))
    out = []
    for loss in (0.0, 0.02):  # a second candidate that loses more and more
        b = _line("b", "candidate", -loss + 0.02 * rng.standard_normal(t))
        out.append(selector_verdict(sel, [flat, a, b], blend, n_methods=4, seed=0))
    n_trials = 3 + 1 + 3 + 1  # candidates, blend, the other methods, the selector
    for v in out:
        assert v["n_trials"] == n_trials
        assert v["sharpe0_per_window"] == pytest.approx(expected_max_sharpe(n_trials, 1 / (t - 1)))
        assert v["bootstrap"]["block_length"]["best_candidate"] >= block_length(t)
    assert out[0]["dsr"] == out[1]["dsr"] and out[0]["dsr"] > 0.95
    assert out[0]["verdict"] == BEATS, out[0]["reasons"]
    # a selector without an edge over a candidate is not claimed, however high its Sharpe
    twin = selector_verdict(sel, [flat, _line("same", "candidate",
                                                    sel.window_returns + 0.01 * rng.standard_normal(t))], blend,
                            n_methods=4, seed=0)
    assert twin["verdict"] != BEATS and any("interval" in r for r in twin["reasons"])
    assert math.isfinite(twin["dsr"])
