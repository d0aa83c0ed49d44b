"""The candidate record as a Gymnasium environment: one episode walks the windows in order.

- observation: the window's context features (causal regime features at its start; NaN -> 0)
  followed, with ``previous_action=True`` (the default), by the one-hot of the candidate held
  (all zeros before the first step). The one-hot makes the switching cost part of the Markov
  state: without it the same observation would pay different rewards for the same action;
- action: the index of the candidate to hold over the window (``Discrete(C)``);
- reward: that candidate's net return over the window (``returns[w, a]``, its own fees and
  slippage included) minus ``switch_cost`` when the action differs from the previous one (the
  first action pays none), ``switch_cost`` defaulting to ``2 * (fee + slippage)``, closing one
  position and opening another;
- the episode terminates after the last window.

Only the record is read; the agents of :mod:`tradebot.ml.agents` do not need this class (they
run in :func:`~tradebot.ml.agents.walk_forward_choices`), it is here for policies written against
the Gymnasium API.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tradebot.core.errors import UsageError
from tradebot.ml.agents.walkforward import record_arrays


def default_switch_cost(fee: float = 0.001, slippage: float = 0.0) -> float:
    """Closing one candidate's position and opening another's: ``2 * (fee + slippage)``."""
    for name, v in (("fee", fee), ("slippage", slippage)):
        if not np.isfinite(v) or v < 0:
            raise UsageError(f"{name} must be a finite fraction >= 0, got {v!r}")
    return 2.0 * (fee + slippage)


class SelectionEnv(gym.Env[np.ndarray, np.int64]):
    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium's class attribute)

    def __init__(self, record: Any, *, switch_cost: float | None = None, fee: float = 0.001,
                 slippage: float = 0.0, previous_action: bool = True) -> None:
        returns, context = record_arrays(record)
        if returns.shape[1] < 2:
            raise UsageError(f"candidate record: needs at least 2 candidates, got {returns.shape[1]}")
        if switch_cost is None:
            switch_cost = default_switch_cost(fee, slippage)
        if not np.isfinite(switch_cost) or switch_cost < 0:
            raise UsageError(f"switch_cost must be a finite number >= 0, got {switch_cost!r}")
        self.returns = returns
        self.context = np.where(np.isfinite(context), context, 0.0)
        self.switch_cost = float(switch_cost)
        self.previous_action = previous_action
        self.n_windows, self.n_arms = returns.shape
        dim = context.shape[1] + (self.n_arms if previous_action else 0)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(dim,), dtype=np.float64)
        self.action_space = spaces.Discrete(self.n_arms)
        self._w = 0
        self._prev = -1

    def _obs(self) -> np.ndarray:
        w = min(self._w, self.n_windows - 1)
        x = self.context[w]
        if not self.previous_action:
            return x.copy()
        onehot = np.zeros(self.n_arms)
        if self._prev >= 0:
            onehot[self._prev] = 1.0
        return np.concatenate([x, onehot])

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._w = 0
        self._prev = -1
        return self._obs(), {"window": 0}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._w >= self.n_windows:
            raise RuntimeError("step() after the episode ended; call reset()")
        if not self.action_space.contains(action):
            raise UsageError(f"action must be a candidate index in [0, {self.n_arms}), got {action!r}")
        a = int(action)
        gross = float(self.returns[self._w, a])
        cost = self.switch_cost if self._prev >= 0 and a != self._prev else 0.0
        info = {"window": self._w, "return": gross, "cost": cost}
        self._prev = a
        self._w += 1
        terminated = self._w >= self.n_windows
        return self._obs(), gross - cost, terminated, False, info
