"""Contextual bandits with one ridge regression per arm: LinUCB and linear Thompson sampling.

The sufficient statistics are kept here with numpy (per arm ``A = l2_lambda*I + sum x x'`` and
``b = sum r x``) so the whole agent is a JSON document; the arithmetic is MABWiser's
(``mabwiser.linear``: ``A_inv = inv(A)``, ``beta = A_inv b``, the UCB bonus
``alpha*sqrt(x A_inv x')``, Thompson's draw ``multivariate_normal(beta, alpha^2 A_inv,
method="cholesky")`` per arm after one uniform for epsilon). With ``scale=False``,
``adaptive_noise=False`` and ``switch_cost=0`` the choices are MABWiser's choices under the
same seed (tests/ml/agents/test_mabwiser_reference.py).

Additions over MABWiser, each a parameter:

- ``intercept`` (default on): a constant 1 appended to the context, so an arm's mean return is
  learnt even where the features say nothing;
- ``scale`` (default on): contexts standardised with their running mean and variance
  (:class:`~tradebot.ml.agents.common.Standardiser`), updated once per ``choose``;
- ``adaptive_noise`` (default on): the exploration scale ``alpha`` is multiplied by the running
  standard deviation of the residuals (each reward minus the arm's prediction just before it
  was learnt), the noise estimate of Bayesian linear regression, so exploration is in the units
  of the returns (a window's return is ~0.01, far below MABWiser's implicit noise of 1);
- ``switch_cost``: subtracted from the score of every arm except the one held, so the agent
  switches only when the expected gain pays for closing and opening positions.
"""

from __future__ import annotations

import math
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

LINEAR_PARAMS = ("alpha", "l2_lambda", "epsilon", "intercept", "scale", "adaptive_noise", "switch_cost")
LINEAR_DEFAULTS: dict[str, Any] = {"alpha": 1.0, "l2_lambda": 1.0, "epsilon": 0.0, "intercept": True,
                                   "scale": True, "adaptive_noise": True, "switch_cost": 0.0}


class LinearAgent:
    """LinUCB (``method="linucb"``) or linear Thompson sampling (``method="thompson"``)."""

    def __init__(self, method: str, n_arms: int, n_features: int, *, seed: int, **params: Any) -> None:
        check_sizes(method, n_arms, n_features)
        self.method = method
        self.n_arms = n_arms
        self.n_features = n_features
        self.seed = check_seed(method, seed)
        self.params = _checked(method, params)
        d = n_features + (1 if self.params["intercept"] else 0)
        self.dim = d
        self.A = np.stack([self.params["l2_lambda"] * np.identity(d) for _ in range(n_arms)])
        self.b = np.zeros((n_arms, d))
        self.counts = np.zeros(n_arms, dtype=np.int64)
        self.context_stats = Standardiser(n_features)
        self.reward_stats = Standardiser(1)
        self.residual_stats = Standardiser(1)  # the rewards' errors from the arm's prediction before it
        self.rng = np.random.default_rng(seed)
        self.held = -1  # the arm chosen last (-1: none yet)

    # -- the agent protocol ---------------------------------------------------------------
    def choose(self, context: np.ndarray) -> int:
        x_raw = check_context(self.method, self.n_features, context)
        if self.params["scale"]:
            self.context_stats.observe(x_raw)
        x = self._design(x_raw)
        eps = self.params["epsilon"]
        u = self.rng.random(1)
        if u[0] < eps:
            scores = self.rng.random((1, self.n_arms))[0]
        else:
            scores = self.expectations(x)
            if self.held >= 0 and self.params["switch_cost"] > 0:
                scores = scores - self.params["switch_cost"] * (np.arange(self.n_arms) != self.held)
        arm = int(np.argmax(scores))
        self.held = arm
        return arm

    def update(self, context: np.ndarray, arm: int, reward: float) -> None:
        x_raw = check_context(self.method, self.n_features, context)
        a = check_arm(self.method, self.n_arms, arm)
        r = check_reward(self.method, reward)
        x = self._design(x_raw)
        beta, _ = self.posterior(a)
        self.residual_stats.observe(np.array([r - float(np.dot(x, beta))]))
        X = x[None, :]
        self.A[a] = self.A[a] + np.dot(X.T, X)
        self.b[a] = self.b[a] + np.dot(X.T, np.array([r]))
        self.counts[a] += 1
        self.reward_stats.observe(np.array([r]))

    def to_state(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "method": self.method, "n_arms": self.n_arms,
                "n_features": self.n_features, "seed": self.seed, "params": dict(self.params),
                "A": floats(self.A), "b": floats(self.b), "counts": self.counts.tolist(),
                "context_stats": self.context_stats.to_state(),
                "reward_stats": self.reward_stats.to_state(),
                "residual_stats": self.residual_stats.to_state(), "rng": rng_state(self.rng),
                "held": self.held}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LinearAgent:
        agent = cls(state["method"], int(state["n_arms"]), int(state["n_features"]),
                    seed=int(state["seed"]), **state["params"])
        agent.A = array(state["A"]).reshape(agent.A.shape)
        agent.b = array(state["b"]).reshape(agent.b.shape)
        agent.counts = np.array(state["counts"], dtype=np.int64)
        agent.context_stats = Standardiser.from_state(state["context_stats"])
        agent.reward_stats = Standardiser.from_state(state["reward_stats"])
        agent.residual_stats = Standardiser.from_state(state["residual_stats"])
        agent.rng = rng_from_state(state["rng"])
        agent.held = int(state["held"])
        return agent

    # -- internals ----------------------------------------------------------------------
    def _design(self, x_raw: np.ndarray) -> np.ndarray:
        if self.params["scale"]:
            x = self.context_stats.scale(x_raw)
        else:
            x = np.where(np.isfinite(x_raw), x_raw, 0.0)
        if self.params["intercept"]:
            x = np.append(x, 1.0)
        return x

    def noise_scale(self) -> float:
        if not self.params["adaptive_noise"]:
            return 1.0
        s = self.residual_stats
        if s.count < 2:
            return 1.0
        sd = math.sqrt(float(s.m2[0]) / (s.count - 1))
        return sd if sd > 1e-12 else 1.0

    def posterior(self, arm: int) -> tuple[np.ndarray, np.ndarray]:
        """Arm ``arm``'s ridge coefficients and ``A^-1`` (MABWiser's ``beta`` and ``A_inv``)."""
        A_inv = np.linalg.inv(self.A[arm])
        return np.dot(A_inv, self.b[arm]), A_inv

    def expectations(self, x: np.ndarray) -> np.ndarray:
        """Each arm's score for the design vector ``x`` (consumes randomness for Thompson)."""
        alpha = self.params["alpha"] * self.noise_scale()
        out = np.empty(self.n_arms)
        X = x[None, :]
        for a in range(self.n_arms):
            beta, A_inv = self.posterior(a)
            if self.method == "linucb":
                x_A_inv = np.dot(X, A_inv)
                ucb = alpha * np.sqrt(np.sum(x_A_inv * X, axis=1))
                out[a] = (np.dot(X, beta) + ucb)[0]
            else:
                sampled = np.squeeze(self.rng.multivariate_normal(beta, np.square(alpha) * A_inv, size=1,
                                                                  method="cholesky"))
                out[a] = float(np.sum(X * sampled, axis=1)[0])
        return out


def _checked(method: str, params: dict[str, Any]) -> dict[str, Any]:
    check_params(method, params, LINEAR_PARAMS)
    p = {**LINEAR_DEFAULTS, **params}
    p["alpha"] = check_float(method, "alpha", p["alpha"])
    p["l2_lambda"] = check_float(method, "l2_lambda", p["l2_lambda"], low_open=True)
    p["epsilon"] = check_float(method, "epsilon", p["epsilon"], high=1.0)
    p["switch_cost"] = check_float(method, "switch_cost", p["switch_cost"])
    for flag in ("intercept", "scale", "adaptive_noise"):
        if not isinstance(p[flag], bool):
            raise UsageError(f"agent {method}: {flag} must be true or false, got {p[flag]!r}")
    return p
