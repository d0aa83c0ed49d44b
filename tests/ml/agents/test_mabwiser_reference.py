"""The numpy LinUCB and linear Thompson sampling against MABWiser (the reference) on the same data.

With ``scale=False``, ``intercept=False`` and ``adaptive_noise=False`` the agents are MABWiser's
LinUCB and LinTS: the same ridge statistics, the same UCB scores and choices, and the same
Thompson draws from the same generator state. (MABWiser deep-copies the generator into each arm
model when it fits it, so its arms draw from copies of one stream; the agent draws every arm from
its one generator in turn — compared here one arm model at a time, with the generator shared.)
"""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.ml.agents import make_agent

pytest.importorskip("mabwiser")

PLAIN = {"scale": False, "intercept": False, "adaptive_noise": False}


def _data(seed: int, w: int = 40, c: int = 3, f: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((w, f))
    r = x @ rng.standard_normal((f, c)) + 0.5 * rng.standard_normal((w, c))
    return x, r


def _fitted(method: str, x: np.ndarray, r: np.ndarray, alpha: float, seed: int):
    from mabwiser.mab import MAB, LearningPolicy

    c = r.shape[1]
    lp = LearningPolicy.LinUCB(alpha=alpha, l2_lambda=0.5) if method == "linucb" \
        else LearningPolicy.LinTS(alpha=alpha, l2_lambda=0.5)
    mab = MAB(arms=list(range(c)), learning_policy=lp, seed=seed)
    agent = make_agent(method, c, x.shape[1], seed=seed, alpha=alpha, l2_lambda=0.5, **PLAIN)
    mab.fit(decisions=np.arange(c), rewards=r[0], contexts=np.repeat(x[:1], c, axis=0))
    for a in range(c):
        agent.update(x[0], a, float(r[0, a]))
    return mab, agent


@pytest.mark.parametrize("seed", [0, 1])
def test_linucb_matches_mabwiser(seed: int) -> None:
    x, r = _data(seed)
    mab, agent = _fitted("linucb", x, r, 1.25, seed)
    for w in range(1, x.shape[0]):
        expect = mab.predict_expectations(x[w:w + 1])
        got = agent.expectations(x[w])
        assert np.allclose(got, [expect[a] for a in range(3)], rtol=1e-10, atol=1e-12)
        arm = agent.choose(x[w])
        assert arm == mab.predict(x[w:w + 1])
        mab.partial_fit(decisions=[arm], rewards=[r[w, arm]], contexts=x[w:w + 1])
        agent.update(x[w], arm, float(r[w, arm]))
    for a in range(3):
        beta, a_inv = agent.posterior(a)
        ref = mab._imp.arm_to_model[a]
        assert np.allclose(beta, ref.beta, rtol=1e-10, atol=1e-12)
        assert np.allclose(agent.A[a], ref.A, rtol=1e-12, atol=1e-12)
        assert np.allclose(a_inv, ref.A_inv, rtol=1e-10, atol=1e-12)
    assert int(agent.counts.sum()) == 3 + x.shape[0] - 1  # the first window's three rows, then one per window


def test_thompson_posterior_and_draws_match_mabwiser() -> None:
    from mabwiser.utils import create_rng

    x, r = _data(3)
    mab, agent = _fitted("thompson", x, r, 0.7, 3)
    for w in range(1, 25):  # the same data played the same way
        arm = w % 3
        mab.partial_fit(decisions=[arm], rewards=[r[w, arm]], contexts=x[w:w + 1])
        agent.update(x[w], arm, float(r[w, arm]))
    shared = create_rng(42)
    models = mab._imp.arm_to_model
    for a in range(3):
        models[a].rng = shared
        beta, a_inv = agent.posterior(a)
        assert np.allclose(beta, models[a].beta, rtol=1e-10, atol=1e-12)
        assert np.allclose(a_inv, models[a].A_inv, rtol=1e-10, atol=1e-12)
    agent.rng = np.random.default_rng(42)
    for w in range(25, 30):
        expect = [float(models[a].predict(x[w:w + 1])[0]) for a in range(3)]
        got = agent.expectations(x[w])
        assert np.allclose(got, expect, rtol=1e-9, atol=1e-12)
