"""The selection model is walk-forward: a window's choice depends only on earlier windows'
returns and its own context; it is flat during the warm-up; agent methods dispatch to
tradebot.ml.agents."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tradebot.core.errors import UsageError
from tradebot.ml.select.model import design, methods, model_choices, walk_forward_choices
from tradebot.ml.select.record import CandidateRecord


def _record(w: int = 40, c: int = 3, seed: int = 0) -> CandidateRecord:
    rng = np.random.default_rng(seed)
    regime = rng.integers(0, 2, size=w)
    context = np.column_stack([regime + 0.1 * rng.standard_normal(w), rng.standard_normal(w)])
    returns = 0.01 * rng.standard_normal((w, c))
    returns[:, 0] = 0.0  # flat
    returns[regime == 1, 1] += 0.03  # candidate 1 wins in regime 1, candidate 2 in regime 0
    returns[regime == 0, 2] += 0.03
    starts = np.arange(w, dtype=np.int64) * 10
    return CandidateRecord(("flat", "a", "b"), starts * 1000, (starts + 10) * 1000,
                           np.column_stack([starts, starts + 10]), returns, context, ("x", "y"))


def test_choices_use_only_earlier_windows() -> None:
    rec = _record(30)
    base = model_choices(rec, seed=1, min_train_windows=6)
    for cut in (12, 24):
        changed = rec.returns.copy()
        changed[cut:] = np.random.default_rng(cut).standard_normal(changed[cut:].shape)
        ctx = rec.context.copy()
        ctx[cut + 1:] = 0.0  # later contexts changed too (window `cut`'s own context kept)
        other = model_choices(replace(rec, returns=changed, context=ctx), seed=1, min_train_windows=6)
        assert other[:cut + 1].tolist() == base[:cut + 1].tolist(), cut


def test_warm_up_is_flat_and_the_model_learns_the_context() -> None:
    rec = _record(60)
    ch = model_choices(rec, seed=0, min_train_windows=8)
    assert (ch[:8] == 0).all()
    best = np.argmax(rec.returns, axis=1)
    assert (ch[20:] == best[20:]).mean() > 0.8
    # the inputs: context and the previous window's returns (NaN for the first window)
    x = design(rec)
    assert x.shape == (60, 2 + 3) and np.isnan(x[0, 2:]).all()
    np.testing.assert_array_equal(x[1:, 2:], rec.returns[:-1])


def test_a_high_switch_cost_keeps_the_current_candidate() -> None:
    rec = _record(40)
    cheap = model_choices(rec, seed=0, min_train_windows=8, switch_cost=0.0)
    dear = model_choices(rec, seed=0, min_train_windows=8, switch_cost=1.0)
    assert (np.diff(cheap) != 0).sum() > 5 and (dear == 0).all()


def test_methods_and_agent_dispatch() -> None:
    assert methods()[0] == "model"
    with pytest.raises(UsageError, match="--method 'nope': unknown selection method"):
        walk_forward_choices(_record(), "nope")
    if "thompson" not in methods():
        pytest.skip("tradebot.ml.agents is not installed")
    rec = _record(40)
    a = walk_forward_choices(rec, "thompson", seed=2, min_train_windows=5)
    b = walk_forward_choices(rec, "thompson", seed=2, min_train_windows=5)
    assert a.tolist() == b.tolist() and (a[:5] == 0).all() and a.shape == (40,)
    assert set(a.tolist()) <= {0, 1, 2}
