"""Shared pieces of the selection agents: input checks, a JSON-able RNG, an online
standardiser, and float arrays to and from JSON lists.

Everything an agent knows lives in plain numpy arrays and ints so that ``to_state`` is a JSON
document and ``agent_from_state`` rebuilds an agent that makes exactly the same future choices
(floats go through ``float.__repr__`` in JSON, which round-trips binary64 exactly).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tradebot.core.errors import UsageError

STATE_VERSION = 1


def check_sizes(method: str, n_arms: int, n_features: int) -> None:
    if isinstance(n_arms, bool) or not isinstance(n_arms, int) or n_arms < 2:
        raise UsageError(f"agent {method}: n_arms must be an integer >= 2, got {n_arms!r}")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 0:
        raise UsageError(f"agent {method}: n_features must be an integer >= 0, got {n_features!r}")


def check_seed(method: str, seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"agent {method}: seed must be an integer >= 0, got {seed!r}")
    return seed


def check_float(method: str, name: str, value: object, *, low: float = 0.0, high: float = math.inf,
                low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise UsageError(f"agent {method}: {name} must be a finite number, got {value!r}")
    v = float(value)
    if v < low or v > high or (low_open and v == low):
        rng = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise UsageError(f"agent {method}: {name} must be in {rng}, got {value!r}")
    return v


def check_context(method: str, n_features: int, context: np.ndarray) -> np.ndarray:
    x = np.asarray(context, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] != n_features:
        raise UsageError(f"agent {method}: context has shape {x.shape}, expected ({n_features},) "
                         f"(the agent was made for {n_features} features)")
    return x


def check_arm(method: str, n_arms: int, arm: object) -> int:
    if isinstance(arm, bool) or not isinstance(arm, int | np.integer) or not 0 <= int(arm) < n_arms:
        raise UsageError(f"agent {method}: arm must be an integer in [0, {n_arms}), got {arm!r}")
    return int(arm)


def check_reward(method: str, reward: object) -> float:
    if isinstance(reward, bool) or not isinstance(reward, int | float | np.floating | np.integer) \
            or not math.isfinite(float(reward)):
        raise UsageError(f"agent {method}: reward must be a finite number, got {reward!r}")
    return float(reward)


def check_params(method: str, params: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise UsageError(f"agent {method}: unknown parameter {unknown[0]!r} "
                         f"(known: {', '.join(allowed)})")


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's PCG64 state as JSON-able ints."""
    state = rng.bit_generator.state
    return {"bit_generator": state["bit_generator"], "state": int(state["state"]["state"]),
            "inc": int(state["state"]["inc"]), "has_uint32": int(state["has_uint32"]),
            "uinteger": int(state["uinteger"])}


def rng_from_state(doc: dict[str, Any]) -> np.random.Generator:
    if doc.get("bit_generator") != "PCG64":
        raise UsageError(f"agent state: unsupported bit generator {doc.get('bit_generator')!r}")
    bg = np.random.PCG64()
    bg.state = {"bit_generator": "PCG64", "state": {"state": int(doc["state"]), "inc": int(doc["inc"])},
                "has_uint32": int(doc["has_uint32"]), "uinteger": int(doc["uinteger"])}
    return np.random.Generator(bg)


def floats(a: np.ndarray) -> list[Any]:
    """A float array as nested JSON lists (exact: Python floats round-trip through JSON)."""
    return np.asarray(a, dtype=np.float64).tolist()  # type: ignore[no-any-return]


def array(doc: Any) -> np.ndarray:
    return np.array(doc, dtype=np.float64)


class Standardiser:
    """Running mean and variance (Welford) of the contexts seen so far, used to put features of
    different units on one scale. Causal: a context is scaled with the statistics of the
    contexts before it and itself. Missing values (NaN) become 0 after scaling (the mean)."""

    def __init__(self, n_features: int) -> None:
        self.count = 0
        self.mean = np.zeros(n_features)
        self.m2 = np.zeros(n_features)

    def observe(self, x: np.ndarray) -> None:
        finite = np.isfinite(x)
        if not finite.all():
            x = np.where(finite, x, self.mean)
        self.count += 1
        delta = x - self.mean
        self.mean = self.mean + delta / self.count
        self.m2 = self.m2 + delta * (x - self.mean)

    def scale(self, x: np.ndarray) -> np.ndarray:
        if self.count >= 2:
            std = np.sqrt(self.m2 / (self.count - 1))
        else:
            std = np.ones_like(self.mean)
        std = np.where(std > 1e-12, std, 1.0)
        z = (x - self.mean) / std
        return np.where(np.isfinite(z), z, 0.0)

    def to_state(self) -> dict[str, Any]:
        return {"count": self.count, "mean": floats(self.mean), "m2": floats(self.m2)}

    @classmethod
    def from_state(cls, doc: dict[str, Any]) -> Standardiser:
        s = cls(len(doc["mean"]))
        s.count = int(doc["count"])
        s.mean = array(doc["mean"])
        s.m2 = array(doc["m2"])
        return s
