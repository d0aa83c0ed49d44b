"""Tabular Q-learning over discretised regimes, epsilon-greedy with a seeded generator.

State ``s = (regime bin, arm held)``: the regime bin comes from the context — the most
probable regime among probability columns (``regime_columns``: their indices, e.g. the
``p_<regime>`` columns of :mod:`tradebot.ml.regime` in a candidate record), an integer label
column (``regime_feature``: its index, with ``n_regimes`` labels), or else the sign pattern of
up to ``n_state_features`` standardised features (``state_features``; each above or below its
running mean, so ``2**k`` bins); a missing label or probability has a bin of its own. The arm
held is part of the state because switching costs depend on it (``n_arms``: none held yet).

The reward given to :meth:`QLearnAgent.update` is the candidate's own net return over the
window; the agent charges ``switch_cost`` itself when the arm differs from the one held at the
window's start, so shadow updates of arms it did not play are charged as if it had switched.
The target ``r + gamma * max_a' Q(s', a')`` needs the next window's state, which is known only
at the next :meth:`choose`; updates wait in ``pending`` (part of the state) until then.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradebot.core.errors import UsageError
from tradebot.ml.agents.common import (
    STATE_VERSION,
    Standardiser,
    array,
    check_arm,
    check_context,
    check_float,
    check_params,
    check_reward,
    check_seed,
    check_sizes,
    floats,
    rng_from_state,
    rng_state,
)

QLEARN_PARAMS = ("learning_rate", "gamma", "epsilon", "switch_cost", "n_state_features", "state_features",
                 "regime_feature", "n_regimes", "regime_columns")
QLEARN_DEFAULTS: dict[str, Any] = {"learning_rate": 0.1, "gamma": 0.5, "epsilon": 0.05, "switch_cost": 0.0,
                                   "n_state_features": 2, "state_features": None, "regime_feature": None,
                                   "n_regimes": None, "regime_columns": None}


def _checked(method: str, n_features: int, params: dict[str, Any]) -> dict[str, Any]:
    check_params(method, params, QLEARN_PARAMS)
    p = {**QLEARN_DEFAULTS, **params}
    p["learning_rate"] = check_float(method, "learning_rate", p["learning_rate"], high=1.0, low_open=True)
    p["gamma"] = check_float(method, "gamma", p["gamma"], high=0.99)
    p["epsilon"] = check_float(method, "epsilon", p["epsilon"], high=1.0)
    p["switch_cost"] = check_float(method, "switch_cost", p["switch_cost"])

    def index(name: str, v: object) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n_features:
            raise UsageError(f"agent {method}: {name} must be a feature index in [0, {n_features}), got {v!r}")
        return v

    if p["regime_columns"] is not None:
        cols = p["regime_columns"]
        if not isinstance(cols, list | tuple) or not 2 <= len(cols) <= 16:
            raise UsageError(f"agent {method}: regime_columns must be a list of 2 to 16 feature indices "
                             f"(one probability per regime), got {cols!r}")
        p["regime_columns"] = [index("regime_columns", c) for c in cols]
        if p["regime_feature"] is not None:
            raise UsageError(f"agent {method}: give regime_feature or regime_columns, not both")
        p["state_features"] = None
        p["n_regimes"] = None
    elif p["regime_feature"] is not None:
        p["regime_feature"] = index("regime_feature", p["regime_feature"])
        n = p["n_regimes"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UsageError(f"agent {method}: n_regimes must be an integer >= 1 with regime_feature, got {n!r}")
        p["state_features"] = None
    else:
        if p["state_features"] is None:
            k = p["n_state_features"]
            if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 8:
                raise UsageError(f"agent {method}: n_state_features must be an integer in [0, 8], got {k!r}")
            p["state_features"] = list(range(min(k, n_features)))
        else:
            feats = p["state_features"]
            if not isinstance(feats, list | tuple) or len(feats) > 8:
                raise UsageError(f"agent {method}: state_features must be a list of at most 8 feature "
                                 f"indices, got {feats!r}")
            p["state_features"] = [index("state_features", f) for f in feats]
        p["n_state_features"] = len(p["state_features"])
        p["n_regimes"] = None
    return p


class QLearnAgent:
    method = "qlearn"

    def __init__(self, n_arms: int, n_features: int, *, seed: int, **params: Any) -> None:
        check_sizes(self.method, n_arms, n_features)
        self.n_arms = n_arms
        self.n_features = n_features
        self.seed = check_seed(self.method, seed)
        self.params = _checked(self.method, n_features, params)
        if self.params["regime_columns"] is not None:
            self.n_bins = len(self.params["regime_columns"]) + 1  # the last bin: probabilities missing
        elif self.params["regime_feature"] is not None:
            self.n_bins = int(self.params["n_regimes"]) + 1  # the last bin: label missing
        else:
            self.n_bins = 2 ** len(self.params["state_features"])
        self.Q = np.zeros((self.n_bins, n_arms + 1, n_arms))
        self.visits = np.zeros((self.n_bins, n_arms + 1, n_arms), dtype=np.int64)
        self.stats = Standardiser(n_features)
        self.rng = np.random.default_rng(seed)
        self.held = n_arms  # none yet
        self.window_start_held = n_arms
        self.bin = -1  # the current window's regime bin (-1: no window chosen yet)
        self.pending: list[tuple[int, int, int, float]] = []  # (bin, held, arm, net reward)

    # -- the agent protocol ---------------------------------------------------------------
    def choose(self, context: np.ndarray) -> int:
        x = check_context(self.method, self.n_features, context)
        self.stats.observe(x)
        b = self.regime_bin(x)
        self._flush(b)
        self.bin = b
        self.window_start_held = self.held
        u = self.rng.random()
        if u < self.params["epsilon"]:
            arm = int(self.rng.integers(self.n_arms))
        else:
            arm = int(np.argmax(self.Q[b, self.held]))
        self.held = arm
        return arm

    def update(self, context: np.ndarray, arm: int, reward: float) -> None:
        x = check_context(self.method, self.n_features, context)
        a = check_arm(self.method, self.n_arms, arm)
        r = check_reward(self.method, reward)
        b = self.bin if self.bin >= 0 else self.regime_bin(x)
        held = self.window_start_held
        cost = self.params["switch_cost"] if held < self.n_arms and a != held else 0.0
        self.pending.append((b, held, a, r - cost))

    def to_state(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "method": self.method, "n_arms": self.n_arms,
                "n_features": self.n_features, "seed": self.seed, "params": dict(self.params),
                "Q": floats(self.Q), "visits": self.visits.tolist(), "stats": self.stats.to_state(),
                "rng": rng_state(self.rng), "held": self.held, "window_start_held": self.window_start_held,
                "bin": self.bin, "pending": [list(p) for p in self.pending]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> QLearnAgent:
        params = dict(state["params"])
        if params.get("regime_feature") is not None or params.get("regime_columns") is not None:
            params.pop("state_features", None)
            params.pop("n_state_features", None)
        agent = cls(int(state["n_arms"]), int(state["n_features"]), seed=int(state["seed"]), **params)
        agent.Q = array(state["Q"]).reshape(agent.Q.shape)
        agent.visits = np.array(state["visits"], dtype=np.int64).reshape(agent.visits.shape)
        agent.stats = Standardiser.from_state(state["stats"])
        agent.rng = rng_from_state(state["rng"])
        agent.held = int(state["held"])
        agent.window_start_held = int(state["window_start_held"])
        agent.bin = int(state["bin"])
        agent.pending = [(int(b), int(h), int(a), float(r)) for b, h, a, r in state["pending"]]
        return agent

    # -- internals ----------------------------------------------------------------------
    def regime_bin(self, x: np.ndarray) -> int:
        p = self.params
        if p["regime_columns"] is not None:
            probs = x[p["regime_columns"]]
            if not np.isfinite(probs).all():
                return self.n_bins - 1
            return int(np.argmax(probs))
        if p["regime_feature"] is not None:
            v = x[p["regime_feature"]]
            if not np.isfinite(v):
                return self.n_bins - 1
            return int(min(max(int(v), 0), p["n_regimes"] - 1))
        z = self.stats.scale(x)
        b = 0
        for i, f in enumerate(p["state_features"]):
            if z[f] > 0:
                b |= 1 << i
        return b

    def _flush(self, next_bin: int) -> None:
        """Apply the waiting updates, now that the next window's regime bin is known."""
        lr, gamma = self.params["learning_rate"], self.params["gamma"]
        for b, held, a, r in self.pending:
            target = r + gamma * float(np.max(self.Q[next_bin, a]))
            self.Q[b, held, a] += lr * (target - self.Q[b, held, a])
            self.visits[b, held, a] += 1
        self.pending = []
