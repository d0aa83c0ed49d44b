"""Walk-forward of the agents on planted regimes and on pure noise (record arithmetic: the sum
of the chosen returns minus switching costs, against every candidate alone and the
equal-weight blend)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.ml.agents.records import noise_record, planted_record
from tradebot.ml.agents import AGENTS, walk_forward_choices
from tradebot.ml.agents.walkforward import record_total

SWITCH = 0.002  # 2 x (0.1 % fee + 0 slippage)


@pytest.mark.parametrize("shadow", [True, False])
@pytest.mark.parametrize("method", AGENTS)
def test_agents_beat_every_arm_and_the_blend_on_planted_regimes(method: str, shadow: bool) -> None:
    for seed in range(3):
        rec = planted_record(seed)
        run = walk_forward_choices(rec, method, seed=seed, switch_cost=SWITCH, shadow=shadow)
        total = float(run.rewards.sum())
        assert total == pytest.approx(record_total(rec.returns, run.choices, SWITCH))
        arms = rec.returns.sum(axis=0)
        blend = float(rec.returns.mean(axis=1).sum())
        assert total > arms.max() + 0.5, (seed, total, arms)  # every arm alone earns at most ~0.4
        assert total > blend + 0.5
        assert total < rec.returns.max(axis=1).sum()  # below the oracle (an upper bound)


@pytest.mark.parametrize("method", AGENTS)
def test_no_agent_beats_the_best_arm_on_noise(method: str) -> None:
    """Driftless returns unrelated to the context: over several seeds no agent beats the best
    arm in hindsight by a significant margin (paired t-statistic of the window differences)."""
    tstats = []
    for seed in range(4):
        rec = noise_record(seed)
        run = walk_forward_choices(rec, method, seed=seed, switch_cost=SWITCH)
        best = int(np.argmax(rec.returns.sum(axis=0)))
        d = run.rewards - rec.returns[:, best]
        tstats.append(d.mean() / (d.std(ddof=1) / np.sqrt(d.size)))
    assert max(tstats) < 2.0, tstats


@pytest.mark.parametrize("method", AGENTS)
def test_choices_are_out_of_sample(method: str) -> None:
    """Changing the returns of windows k.. changes no choice before or at window k."""
    rec = planted_record(1, n_windows=60)
    base = walk_forward_choices(rec, method, seed=3, switch_cost=SWITCH, params={"epsilon": 0.1})
    for k in (10, 35):
        returns = rec.returns.copy()
        returns[k:] = np.random.default_rng(k).standard_normal(returns[k:].shape)
        other = walk_forward_choices(dataclasses.replace(rec, returns=returns), method, seed=3,
                                     switch_cost=SWITCH, params={"epsilon": 0.1})
        assert np.array_equal(other.choices[:k + 1], base.choices[:k + 1])
        assert not np.array_equal(other.choices, base.choices)


def test_warmup_windows_are_not_counted() -> None:
    rec = planted_record(0, n_windows=40)
    run = walk_forward_choices(rec, "linucb", seed=0, switch_cost=SWITCH, warmup=5)
    assert run.choices[:5].tolist() == [-1] * 5
    assert run.rewards[:5].tolist() == [0.0] * 5
    assert (run.choices[5:] >= 0).all()
    assert run.rewards[5] == rec.returns[5, run.choices[5]]  # the first counted window pays no switch
    assert float(run.rewards.sum()) == pytest.approx(record_total(rec.returns, run.choices, SWITCH))
    full = walk_forward_choices(rec, "linucb", seed=0, switch_cost=SWITCH)
    assert np.array_equal(full.choices[5:], run.choices[5:])  # the burn-in still learns


def test_state_after_the_run_is_the_agent() -> None:
    from tradebot.ml.agents import agent_from_state

    rec = planted_record(2, n_windows=50)
    run = walk_forward_choices(rec, "thompson", seed=1, switch_cost=SWITCH)
    agent = agent_from_state(run.state)
    assert agent.method == "thompson"
    assert run.state["counts"] == [50, 50, 50]  # shadow: every arm learnt every window
    assert run.state["params"]["switch_cost"] == SWITCH
    assert isinstance(agent.choose(rec.context[-1]), int)
