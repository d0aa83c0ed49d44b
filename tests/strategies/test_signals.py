"""Signal building blocks: each against a hand-made case and a slow loop."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.strategies import signals as sg

NAN = np.nan


def b(*values: int) -> np.ndarray:
    return np.array(values, dtype=bool)


def test_crosses_above_and_below():
    a = np.array([1.0, 2.0, 3.0, 2.0, 2.0, 1.0, 3.0])
    np.testing.assert_array_equal(sg.crosses_above(a, 2.0), b(0, 0, 1, 0, 0, 0, 1))
    np.testing.assert_array_equal(sg.crosses_below(a, 2.0), b(0, 0, 0, 0, 0, 1, 0))  # 2 < 2 is no cross
    line = np.array([0.0, 2.5, 2.5, 2.5, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(sg.crosses_above(a, line), b(0, 0, 1, 0, 1, 0, 0))
    # touching the level and going back is not a cross; the first bar never crosses
    np.testing.assert_array_equal(sg.crosses_above(np.array([3.0, 2.0, 2.0, 1.0]), 2.0), b(0, 0, 0, 0))


def test_crosses_ignore_nan():
    a = np.array([NAN, 3.0, 1.0, NAN, 3.0])
    assert not sg.crosses_above(a, 2.0).any()
    np.testing.assert_array_equal(sg.crosses_below(a, 2.0), b(0, 0, 1, 0, 0))


def test_crosses_match_a_slow_loop():
    rng = np.random.default_rng(0)
    a, c = rng.standard_normal(500), rng.standard_normal(500)
    up, down = sg.crosses_above(a, c), sg.crosses_below(a, c)
    for t in range(500):
        assert up[t] == (t > 0 and a[t] > c[t] and a[t - 1] <= c[t - 1])
        assert down[t] == (t > 0 and a[t] < c[t] and a[t - 1] >= c[t - 1])


def test_thresholds_and_range():
    a = np.array([1.0, NAN, 3.0, 5.0])
    np.testing.assert_array_equal(sg.above(a, 2.0), b(0, 0, 1, 1))
    np.testing.assert_array_equal(sg.below(a, 2.0), b(1, 0, 0, 0))
    np.testing.assert_array_equal(sg.below(a, np.array([0.0, 0.0, 4.0, NAN])), b(0, 0, 1, 0))
    np.testing.assert_array_equal(sg.in_range(a, 1.0, 3.0), b(1, 0, 1, 0))  # inclusive
    np.testing.assert_array_equal(sg.in_range(a, np.array([2.0, 0, 0, 0]), 9.0), b(0, 0, 1, 1))
    assert sg.above(a, 2).dtype == np.bool_


def test_pattern_present():
    v = np.array([0, 100, -100, 200, 0], dtype=np.int32)
    np.testing.assert_array_equal(sg.pattern_present(v, "bullish"), b(0, 1, 0, 1, 0))
    np.testing.assert_array_equal(sg.pattern_present(v, "bearish"), b(0, 0, 1, 0, 0))
    np.testing.assert_array_equal(sg.pattern_present(v), b(0, 1, 1, 1, 0))
    with pytest.raises(ValueError, match="side"):
        sg.pattern_present(v, "up")


def test_confirmed():
    m = b(1, 1, 0, 1, 1, 1, 0, 1)
    np.testing.assert_array_equal(sg.confirmed(m, 1), m)
    np.testing.assert_array_equal(sg.confirmed(m, 2), b(0, 1, 0, 0, 1, 1, 0, 0))
    np.testing.assert_array_equal(sg.confirmed(m, 3), b(0, 0, 0, 0, 0, 1, 0, 0))
    assert not sg.confirmed(m, 9).any()
    with pytest.raises(ValueError, match="bars"):
        sg.confirmed(m, 0)
    rng = np.random.default_rng(1)
    big = rng.uniform(size=300) < 0.7
    got = sg.confirmed(big, 4)
    for t in range(300):
        assert got[t] == (t >= 3 and big[t - 3:t + 1].all())


def test_rising_and_falling():
    a = np.array([1.0, 2.0, 2.0, 1.0, NAN, 5.0])
    np.testing.assert_array_equal(sg.rising(a), b(0, 1, 0, 0, 0, 0))
    np.testing.assert_array_equal(sg.falling(a), b(0, 0, 0, 1, 0, 0))
    np.testing.assert_array_equal(sg.rising(a, 2), b(0, 0, 1, 0, 0, 1))
    assert not sg.rising(a, 10).any() and sg.rising(a, 10).shape == (6,)


def test_all_any_at_least():
    x, y, z = b(1, 1, 0, 0), b(1, 0, 1, 0), b(1, 0, 0, 0)
    np.testing.assert_array_equal(sg.all_of(x, y, z), b(1, 0, 0, 0))
    np.testing.assert_array_equal(sg.any_of(x, y, z), b(1, 1, 1, 0))
    np.testing.assert_array_equal(sg.at_least(2, x, y, z), b(1, 0, 0, 0))
    np.testing.assert_array_equal(sg.at_least(1, x, y, z), sg.any_of(x, y, z))
    np.testing.assert_array_equal(sg.at_least(3, x, y, z), sg.all_of(x, y, z))
    assert not sg.at_least(4, x, y, z).any()
    # the inputs are not modified
    np.testing.assert_array_equal(x, b(1, 1, 0, 0))
    for fn in (sg.all_of, sg.any_of):
        with pytest.raises(ValueError):
            fn()
    with pytest.raises(ValueError):
        sg.at_least(1)


def test_blocks_do_not_look_ahead():
    rng = np.random.default_rng(2)
    a, c = rng.standard_normal(400), rng.standard_normal(400)
    blocks = [
        lambda a, c: sg.crosses_above(a, c), lambda a, c: sg.crosses_below(a, 0.1),
        lambda a, c: sg.above(a, c), lambda a, c: sg.in_range(a, -0.5, c),
        lambda a, c: sg.confirmed(a > 0, 3), lambda a, c: sg.rising(a, 2),
        lambda a, c: sg.falling(c, 1), lambda a, c: sg.at_least(2, a > 0, c > 0, a > c),
    ]
    for block in blocks:
        full = block(a, c)
        for k in (1, 2, 5, 50, 399):
            np.testing.assert_array_equal(block(a[:k], c[:k]), full[:k])
