"""Reinforcement learning for strategy selection: agents that choose a candidate per window.

- :mod:`.linear` — contextual bandits with one ridge regression per arm: LinUCB (``linucb``) and
  linear Thompson sampling (``thompson``), MABWiser's arithmetic on numpy sufficient statistics;
- :mod:`.qlearn` — tabular Q-learning over discretised regimes (``qlearn``), epsilon-greedy;
- :mod:`.walkforward` — :func:`walk_forward_choices` runs an agent online over a candidate
  record (choose from ``context[w]``, then learn from ``returns[w]``);
- :mod:`.env` — the same record as a Gymnasium environment (imports gymnasium).

Every agent is deterministic under its seed; ``to_state`` is a JSON document (version,
sufficient statistics, counts, Q table, the generator's state) and :func:`agent_from_state`
rebuilds an agent that makes exactly the same future choices.

The reward an agent learns from (``update``) is the candidate's own net return over the window
(fees and slippage of its trades included) — not minus the selector's switching cost: the agent
charges ``switch_cost`` (a parameter) itself when it decides.

Decision record: docs/decisions/0025-selection-agents.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from tradebot.core.errors import UsageError

AGENTS = ("thompson", "linucb", "qlearn")


class Agent(Protocol):
    method: str

    def choose(self, context: np.ndarray) -> int: ...

    def update(self, context: np.ndarray, arm: int, reward: float) -> None: ...

    def to_state(self) -> dict[str, Any]: ...


def _check_method(method: object) -> str:
    if method not in AGENTS:
        raise UsageError(f"unknown agent method {method!r} (known: {', '.join(AGENTS)})")
    return str(method)


def make_agent(method: str, n_arms: int, n_features: int, *, seed: int, **params: Any) -> Agent:
    """A fresh agent choosing among ``n_arms`` candidates from ``n_features`` context features."""
    m = _check_method(method)
    if m == "qlearn":
        from tradebot.ml.agents.qlearn import QLearnAgent

        return QLearnAgent(n_arms, n_features, seed=seed, **params)
    from tradebot.ml.agents.linear import LinearAgent

    return LinearAgent(m, n_arms, n_features, seed=seed, **params)


def agent_from_state(state: dict[str, Any]) -> Agent:
    """The agent ``to_state`` described, exactly (same future choices and updates)."""
    from tradebot.ml.agents.common import STATE_VERSION

    if not isinstance(state, dict):
        raise UsageError(f"agent state must be a JSON object, got {type(state).__name__}")
    if state.get("version") != STATE_VERSION:
        raise UsageError(f"agent state: unsupported version {state.get('version')!r} (this tradebot reads "
                         f"{STATE_VERSION})")
    m = _check_method(state.get("method"))
    try:
        if m == "qlearn":
            from tradebot.ml.agents.qlearn import QLearnAgent

            return QLearnAgent.from_state(state)
        from tradebot.ml.agents.linear import LinearAgent

        return LinearAgent.from_state(state)
    except (KeyError, TypeError, ValueError) as e:
        raise UsageError(f"agent state ({m}): malformed ({type(e).__name__}: {e})") from e


@dataclass(frozen=True)
class AgentRun:
    """An agent's walk-forward: the candidate chosen per window (-1 in warm-up windows), the
    realised reward (the chosen candidate's return minus the switching cost paid; 0 in
    warm-up windows) and the agent's state after the last window."""

    method: str
    choices: np.ndarray
    rewards: np.ndarray
    state: dict[str, Any]


def walk_forward_choices(record: Any, method: str, *, seed: int, switch_cost: float, warmup: int = 0,
                         shadow: bool = True, params: dict[str, Any] | None = None) -> AgentRun:
    """Run agent ``method`` online over ``record`` (a CandidateRecord); see :mod:`.walkforward`."""
    from tradebot.ml.agents.walkforward import run_walk_forward

    return run_walk_forward(record, method, seed=seed, switch_cost=switch_cost, warmup=warmup,
                            shadow=shadow, params=params)


__all__ = ["AGENTS", "Agent", "AgentRun", "agent_from_state", "make_agent", "walk_forward_choices"]
