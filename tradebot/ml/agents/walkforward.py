"""Walk an agent forward over a candidate record, strictly out of sample.

At window ``w`` the agent chooses from ``context[w]`` (the causal features at the window's
start), is paid ``returns[w, choice]`` minus ``switch_cost`` if the choice differs from the
previous window's, then learns from ``returns[w]``: the arm it played, and with
``shadow=True`` every other arm too (as the paper feedback loop does with the engine's shadow
results on the same candles). ``returns[w]`` is only read after the choice of window ``w``.

The first counted window pays no switching cost (opening the first position is part of the
candidate's own return, as for a candidate held alone). The ``warmup`` first windows are a
burn-in: the agent chooses and learns as usual, but its choices are not counted (choice -1,
reward 0), and the first counted window pays no switching cost either.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradebot.core.errors import UsageError
from tradebot.ml.agents import AgentRun, make_agent

#: The regime features the Q-learner discretises by default when the record has them: the
#: efficiency ratio (trending or ranging) and the 48-bar return z-score (up or down).
QLEARN_STATE_FEATURES = ("er", "z_48")


def default_params(method: str, feature_names: tuple[str, ...] | list[str],
                   params: dict[str, Any] | None = None) -> dict[str, Any]:
    """``params`` completed with the defaults that depend on the features' names: for
    ``qlearn`` without ``state_features`` or ``regime_feature``, the indices of
    :data:`QLEARN_STATE_FEATURES` found among ``feature_names`` (else the agent's own default,
    the first features)."""
    p = dict(params or {})
    if method == "qlearn" and "state_features" not in p and "regime_feature" not in p:
        found = [list(feature_names).index(n) for n in QLEARN_STATE_FEATURES if n in feature_names]
        if found:
            p["state_features"] = found
    return p


def record_arrays(record: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(returns (W, C), context (W, F))`` of a CandidateRecord-shaped object, checked."""
    returns = np.asarray(record.returns, dtype=np.float64)
    context = np.asarray(record.context, dtype=np.float64)
    if returns.ndim != 2 or context.ndim != 2 or returns.shape[0] != context.shape[0]:
        raise UsageError(f"candidate record: returns {returns.shape} and context {context.shape} must be "
                         f"(windows, candidates) and (windows, features)")
    if not np.isfinite(returns).all():
        raise UsageError("candidate record: returns contain NaN or infinite values")
    return returns, context


def run_walk_forward(record: Any, method: str, *, seed: int, switch_cost: float, warmup: int = 0,
                     shadow: bool = True, params: dict[str, Any] | None = None) -> AgentRun:
    returns, context = record_arrays(record)
    n_windows, n_arms = returns.shape
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 0 <= warmup < n_windows:
        raise UsageError(f"warmup must be an integer in [0, {n_windows}) (the record has {n_windows} "
                         f"windows), got {warmup!r}")
    if not np.isfinite(switch_cost) or switch_cost < 0:
        raise UsageError(f"switch_cost must be a finite number >= 0, got {switch_cost!r}")
    p = default_params(method, tuple(getattr(record, "feature_names", ())), params)
    p.setdefault("switch_cost", float(switch_cost))
    agent = make_agent(method, n_arms, context.shape[1], seed=seed, **p)
    choices = np.full(n_windows, -1, dtype=np.int64)
    rewards = np.zeros(n_windows)
    prev = -1
    for w in range(n_windows):
        x = context[w]
        arm = agent.choose(x)
        if w >= warmup:
            choices[w] = arm
            cost = switch_cost if prev >= 0 and arm != prev else 0.0
            rewards[w] = returns[w, arm] - cost
            prev = arm
        if shadow:
            for a in range(n_arms):
                agent.update(x, a, float(returns[w, a]))
        else:
            agent.update(x, arm, float(returns[w, arm]))
    return AgentRun(method=agent.method, choices=choices, rewards=rewards, state=agent.to_state())


def record_total(returns: np.ndarray, choices: np.ndarray, switch_cost: float) -> float:
    """Sum of the chosen returns minus switching costs (windows with choice -1 are skipped)."""
    total = 0.0
    prev = -1
    for w, c in enumerate(choices):
        if c < 0:
            continue
        total += float(returns[w, c]) - (switch_cost if prev >= 0 and c != prev else 0.0)
        prev = int(c)
    return total
