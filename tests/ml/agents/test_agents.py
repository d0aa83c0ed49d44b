from __future__ import annotations

import json

import numpy as np
import pytest

from tests.ml.agents.records import planted_record
from tradebot.core.errors import UsageError
from tradebot.ml.agents import AGENTS, agent_from_state, make_agent, walk_forward_choices


def _drive(agent, context: np.ndarray, returns: np.ndarray, start: int, stop: int) -> list[int]:
    out = []
    for w in range(start, stop):
        arm = agent.choose(context[w])
        out.append(arm)
        for a in range(returns.shape[1]):
            if a == arm or w % 3 == 0:  # some windows with shadow results, some without
                agent.update(context[w], a, float(returns[w, a]))
    return out


@pytest.mark.parametrize("method", AGENTS)
def test_same_seed_same_run(method: str) -> None:
    rec = planted_record(4, n_windows=60)
    a = walk_forward_choices(rec, method, seed=9, switch_cost=0.002)
    b = walk_forward_choices(rec, method, seed=9, switch_cost=0.002)
    assert a.method == method
    assert np.array_equal(a.choices, b.choices)
    assert np.array_equal(a.rewards, b.rewards)
    assert json.dumps(a.state, sort_keys=True) == json.dumps(b.state, sort_keys=True)


@pytest.mark.parametrize("method", ["thompson", "qlearn"])
def test_seed_matters_for_random_agents(method: str) -> None:
    rec = planted_record(4, n_windows=60)
    runs = {tuple(walk_forward_choices(rec, method, seed=s, switch_cost=0.0, shadow=False,
                                       params={"epsilon": 0.3}).choices) for s in range(4)}
    assert len(runs) > 1


@pytest.mark.parametrize("method", AGENTS)
def test_state_round_trip_continues_exactly(method: str) -> None:
    rec = planted_record(2, n_windows=50)
    params = {"epsilon": 0.2, "switch_cost": 0.002}
    whole = make_agent(method, 3, 3, seed=5, **params)
    choices_whole = _drive(whole, rec.context, rec.returns, 0, 50)

    first = make_agent(method, 3, 3, seed=5, **params)
    choices = _drive(first, rec.context, rec.returns, 0, 23)
    text = json.dumps(first.to_state())  # plain JSON, no numpy objects
    second = agent_from_state(json.loads(text))
    assert json.dumps(second.to_state(), sort_keys=True) == json.dumps(first.to_state(), sort_keys=True)
    choices += _drive(second, rec.context, rec.returns, 23, 50)
    assert choices == choices_whole
    assert json.dumps(second.to_state(), sort_keys=True) == json.dumps(whole.to_state(), sort_keys=True)


def test_qlearning_hand_checked_updates() -> None:
    """Two regimes (feature 0 holds the label), two arms, lr 0.5, gamma 0.5, switch cost 0.1."""
    ag = make_agent("qlearn", 2, 1, seed=0, regime_feature=0, n_regimes=2, learning_rate=0.5, gamma=0.5,
                    epsilon=0.0, switch_cost=0.1)
    s0, s1 = np.array([0.0]), np.array([1.0])
    none = 2  # the "held" index before any choice
    assert ag.choose(s0) == 0  # all Q are 0: the first arm
    ag.update(s0, 0, 1.0)
    ag.update(s0, 1, 0.4)  # nothing held yet: no switching cost
    assert ag.choose(s1) == 0  # pending updates applied with s' = (regime 1, arm)
    assert ag.Q[0, none].tolist() == [0.5, 0.2]  # 0.5 * (1.0 + 0.5 * 0), 0.5 * (0.4 + 0)
    ag.update(s1, 0, -1.0)
    ag.update(s1, 1, 0.6)  # held arm 0 at the window's start: 0.6 - 0.1
    assert ag.choose(s0) == 0  # Q[(regime 0, held 0)] is still [0, 0]
    assert ag.Q[1, 0].tolist() == [-0.5, 0.25]
    ag.update(s0, 0, 0.2)
    ag.update(s0, 1, 0.0)
    assert ag.choose(s1) == 1  # Q[(regime 1, held 0)] = [-0.5, 0.25]
    # (0.2 + 0.5 * max Q[1, 0]) * 0.5 = (0.2 + 0.125) * 0.5; (-0.1 + 0.5 * max Q[1, 1]) * 0.5
    assert ag.Q[0, 0].tolist() == [pytest.approx(0.1625), pytest.approx(-0.05)]
    assert ag.visits[0, none].tolist() == [1, 1]
    assert ag.visits[0, 0].tolist() == [1, 1]


def test_qlearning_sign_bins() -> None:
    ag = make_agent("qlearn", 2, 3, seed=0, state_features=[0, 2])
    ag.stats.count, ag.stats.mean, ag.stats.m2 = 3, np.zeros(3), 2 * np.ones(3)
    assert ag.regime_bin(np.array([1.0, 5.0, -1.0])) == 1
    assert ag.regime_bin(np.array([-1.0, 5.0, 1.0])) == 2
    assert ag.regime_bin(np.array([1.0, -5.0, 1.0])) == 3
    assert ag.regime_bin(np.array([np.nan, 0.0, np.nan])) == 0  # missing = the mean


def test_linucb_prefers_the_arm_with_more_reward() -> None:
    ag = make_agent("linucb", 2, 1, seed=0, alpha=0.1)
    for _ in range(30):
        ag.update(np.array([1.0]), 0, 0.01)
        ag.update(np.array([1.0]), 1, 0.03)
    assert ag.choose(np.array([1.0])) == 1


def test_switch_cost_keeps_the_held_arm() -> None:
    """The arm held is kept while the other's expected gain is below the switching cost."""
    for cost, expect in ((0.0, 1), (0.05, 0)):
        ag = make_agent("linucb", 2, 1, seed=0, alpha=0.0, switch_cost=cost, scale=False)
        ag.held = 0
        for _ in range(50):
            ag.update(np.array([1.0]), 0, 0.01)
            ag.update(np.array([1.0]), 1, 0.02)
        assert ag.choose(np.array([1.0])) == expect


@pytest.mark.parametrize(("call", "message"), [
    (lambda: make_agent("ppo", 2, 3, seed=0), "unknown agent method 'ppo' (known: thompson, linucb, qlearn)"),
    (lambda: make_agent("linucb", 1, 3, seed=0), "n_arms must be an integer >= 2, got 1"),
    (lambda: make_agent("thompson", 2, 3, seed=-1), "seed must be an integer >= 0, got -1"),
    (lambda: make_agent("linucb", 2, 3, seed=0, alpah=1.0), "unknown parameter 'alpah'"),
    (lambda: make_agent("linucb", 2, 3, seed=0, alpha=-1.0), "alpha must be in"),
    (lambda: make_agent("qlearn", 2, 3, seed=0, gamma=1.5), "gamma must be in"),
    (lambda: make_agent("qlearn", 2, 3, seed=0, state_features=[5]), "feature index in [0, 3), got 5"),
    (lambda: make_agent("qlearn", 2, 3, seed=0, regime_feature=1), "n_regimes must be an integer >= 1"),
    (lambda: make_agent("linucb", 2, 3, seed=0).choose(np.zeros(4)), "context has shape (4,), expected (3,)"),
    (lambda: make_agent("qlearn", 2, 3, seed=0).update(np.zeros(3), 2, 0.1), "arm must be an integer in [0, 2)"),
    (lambda: make_agent("thompson", 2, 3, seed=0).update(np.zeros(3), 0, float("nan")), "reward must be"),
    (lambda: agent_from_state({"version": 99, "method": "linucb"}), "unsupported version 99"),
    (lambda: agent_from_state({"version": 1, "method": "linucb"}), "malformed"),
])
def test_bad_input_is_one_usage_line(call, message: str) -> None:
    with pytest.raises(UsageError) as e:
        call()
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_walk_forward_bad_input() -> None:
    rec = planted_record(0, n_windows=10)
    with pytest.raises(UsageError, match=r"warmup must be an integer in \[0, 10\)"):
        walk_forward_choices(rec, "linucb", seed=0, switch_cost=0.0, warmup=10)
    with pytest.raises(UsageError, match="switch_cost must be"):
        walk_forward_choices(rec, "linucb", seed=0, switch_cost=-1.0)
    with pytest.raises(UsageError, match="unknown agent method"):
        walk_forward_choices(rec, "dqn", seed=0, switch_cost=0.0)


def test_qlearning_on_a_regime_label_round_trips() -> None:
    ag = make_agent("qlearn", 2, 2, seed=1, regime_feature=1, n_regimes=3)
    for label in (0.0, 2.0, 7.0, float("nan")):  # 7 is clipped to the last label, NaN has a bin of its own
        x = np.array([0.5, label])
        ag.update(x, ag.choose(x), 0.3)
    assert ag.regime_bin(np.array([0.0, 7.0])) == 2
    assert ag.regime_bin(np.array([0.0, np.nan])) == 3
    back = agent_from_state(json.loads(json.dumps(ag.to_state())))
    assert back.to_state() == ag.to_state()
    assert [back.choose(np.array([0.0, k])) for k in (0.0, 1.0, 2.0)] == \
        [ag.choose(np.array([0.0, k])) for k in (0.0, 1.0, 2.0)]


def test_qlearning_on_regime_probabilities() -> None:
    """``regime_columns``: the bin is the most probable regime (the p_<regime> columns)."""
    ag = make_agent("qlearn", 2, 4, seed=2, regime_columns=[1, 2, 3])
    assert ag.regime_bin(np.array([9.0, 0.1, 0.7, 0.2])) == 1
    assert ag.regime_bin(np.array([9.0, 0.5, 0.2, 0.3])) == 0
    assert ag.regime_bin(np.array([9.0, np.nan, np.nan, np.nan])) == 3  # warming up: a bin of its own
    for p in ([0.1, 0.7, 0.2], [0.6, 0.2, 0.2], [np.nan] * 3):
        x = np.array([0.0, *p])
        ag.update(x, ag.choose(x), 0.01)
    back = agent_from_state(json.loads(json.dumps(ag.to_state())))
    assert back.to_state() == ag.to_state()
    with pytest.raises(UsageError, match="regime_columns must be a list of 2 to 16 feature indices"):
        make_agent("qlearn", 2, 4, seed=0, regime_columns=[1])
    with pytest.raises(UsageError, match="not both"):
        make_agent("qlearn", 2, 4, seed=0, regime_columns=[1, 2], regime_feature=0, n_regimes=2)
