from __future__ import annotations

import numpy as np
import pytest

from tests.ml.agents.records import noise_record, planted_record
from tradebot.core.errors import UsageError
from tradebot.ml.agents.env import SelectionEnv, default_switch_cost
from tradebot.ml.agents.walkforward import record_total


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("previous_action", [True, False])
def test_env_passes_gymnasium_checker(previous_action: bool) -> None:
    from gymnasium.utils.env_checker import check_env

    env = SelectionEnv(planted_record(0, n_windows=20), previous_action=previous_action)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert obs.shape == ((3 + 3) if previous_action else 3,)
    assert np.isfinite(obs).all()  # the first window's NaN context is shown as 0
    assert info == {"window": 0}


def test_rewards_are_the_record_arithmetic() -> None:
    rec = noise_record(1, n_windows=30, n_arms=3)
    env = SelectionEnv(rec, fee=0.001, slippage=0.0005)
    assert env.switch_cost == pytest.approx(0.003)
    actions = np.random.default_rng(5).integers(3, size=30)
    env.reset(seed=0)
    total, done, steps = 0.0, False, 0
    while not done:
        obs, reward, done, truncated, info = env.step(actions[steps])
        assert not truncated
        assert info["window"] == steps
        if steps + 1 < 30:  # the observation is the next window's context, then the one-hot held
            assert np.allclose(obs[:3], rec.context[steps + 1])
            assert obs[3:].tolist() == [1.0 if a == actions[steps] else 0.0 for a in range(3)]
        total += reward
        steps += 1
    assert steps == 30
    assert total == pytest.approx(record_total(rec.returns, actions, 0.003))
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(0)


def test_switch_cost_charged_only_on_a_change() -> None:
    rec = noise_record(2, n_windows=5, n_arms=2)
    env = SelectionEnv(rec, switch_cost=0.01)
    env.reset()
    r = [env.step(a)[1] for a in (0, 0, 1, 1, 0)]
    expect = rec.returns[np.arange(5), [0, 0, 1, 1, 0]] - np.array([0, 0, 0.01, 0, 0.01])
    assert np.allclose(r, expect)


def test_bad_input() -> None:
    rec = noise_record(2, n_windows=5, n_arms=2)
    with pytest.raises(UsageError, match="switch_cost"):
        SelectionEnv(rec, switch_cost=-0.1)
    with pytest.raises(UsageError, match="fee"):
        default_switch_cost(fee=float("nan"))
    env = SelectionEnv(rec)
    env.reset()
    with pytest.raises(UsageError, match=r"action must be a candidate index in \[0, 2\), got 2"):
        env.step(2)
