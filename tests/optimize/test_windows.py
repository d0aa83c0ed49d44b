"""Walk-forward window layout and the span syntax."""

from __future__ import annotations

import math

import pytest

from tradebot.core.errors import UsageError
from tradebot.optimize.windows import Window, parse_span, walk_forward_windows


def spans(ws: list[Window]) -> list[tuple[int, int, int, int]]:
    return [(w.is_start, w.is_stop, w.oos_start, w.oos_stop) for w in ws]


# --------------------------------------------------------------------------- layout


def test_rolling_exact_fit():
    ws = walk_forward_windows(1000, 500, 100)
    assert spans(ws) == [(i * 100, 500 + i * 100, 500 + i * 100, 600 + i * 100) for i in range(5)]
    assert [w.index for w in ws] == list(range(5))
    assert all(w.is_bars == 500 and w.oos_bars == 100 for w in ws)


def test_anchored_in_sample_grows_from_zero():
    ws = walk_forward_windows(1000, 400, 150, anchored=True)
    assert [w.is_start for w in ws] == [0] * 4
    assert [w.is_stop for w in ws] == [400, 550, 700, 850]
    assert [(w.oos_start, w.oos_stop) for w in ws] == [(400, 550), (550, 700), (700, 850), (850, 1000)]


def test_partial_last_window_kept_from_half_of_out_sample():
    assert spans(walk_forward_windows(1049, 500, 100))[-1] == (400, 900, 900, 1000)  # 49 left: dropped
    last = walk_forward_windows(1050, 500, 100)[-1]  # 50 left: kept
    assert (last.oos_start, last.oos_stop, last.oos_bars, last.index) == (1000, 1050, 50, 5)
    assert walk_forward_windows(1099, 500, 100, anchored=True)[-1] == Window(5, 0, 1000, 1000, 1099)
    assert walk_forward_windows(3, 1, 1) == [Window(0, 0, 1, 1, 2), Window(1, 1, 2, 2, 3)]
    assert spans(walk_forward_windows(15, 10, 3)) == [(0, 10, 10, 13), (3, 13, 13, 15)]  # 2 left: 2·2 >= 3
    assert spans(walk_forward_windows(14, 10, 3)) == [(0, 10, 10, 13)]  # 1 left: 2·1 < 3


def test_smaller_step_overlaps_and_larger_step_leaves_gaps():
    ws = walk_forward_windows(100, 50, 20, step=10)
    assert [(w.oos_start, w.oos_stop) for w in ws] == [(50, 70), (60, 80), (70, 90), (80, 100)]
    assert [w.is_start for w in ws] == [0, 10, 20, 30]
    ws = walk_forward_windows(110, 50, 20, step=10)
    assert [(w.oos_start, w.oos_stop) for w in ws][-2:] == [(80, 100), (90, 110)]
    ws = walk_forward_windows(100, 50, 10, step=25)
    assert [(w.oos_start, w.oos_stop) for w in ws] == [(50, 60), (75, 85)]
    ws = walk_forward_windows(100, 50, 10, step=25, anchored=True)
    assert [(w.is_start, w.is_stop) for w in ws] == [(0, 50), (0, 75)]


@pytest.mark.parametrize("anchored", [False, True])
def test_invariants_over_many_sizes(anchored):
    for n in range(2, 70):
        for ins in range(1, n):
            for oos in range(1, n - ins + 1):
                ws = walk_forward_windows(n, ins, oos, anchored=anchored)
                assert ws, (n, ins, oos)
                assert ws[0].oos_start == ins
                for i, w in enumerate(ws):
                    assert w.index == i
                    assert w.is_stop == w.oos_start and 0 <= w.is_start < w.is_stop and w.oos_stop <= n
                    assert w.is_start == 0 if anchored else w.is_bars == ins
                    full = w.oos_bars == oos
                    assert full or (i == len(ws) - 1 and 2 * w.oos_bars >= oos)
                # Default step: consecutive, no overlap, the untested tail under half of out_sample.
                assert all(a.oos_stop == b.oos_start for a, b in zip(ws, ws[1:], strict=False))
                tail = n - ws[-1].oos_stop
                assert 0 <= tail <= math.ceil(oos / 2) - 1
                assert 2 * tail < oos


@pytest.mark.parametrize("step", [1, 3, 7, 25])
def test_step_invariants(step):
    for n in range(5, 60):
        for ins in range(1, n // 2):
            for oos in range(1, n - ins + 1, 3):
                ws = walk_forward_windows(n, ins, oos, step=step)
                assert [w.oos_start for w in ws] == [ins + i * step for i in range(len(ws))]
                assert all(w.oos_stop <= n for w in ws)
                assert sum(w.oos_bars < oos for w in ws) <= 1


def test_window_is_frozen():
    w = walk_forward_windows(10, 5, 5)[0]
    with pytest.raises(AttributeError):
        w.is_start = 1  # type: ignore[misc]


def test_window_longer_than_data():
    msg = r"^walk-forward window of 800 \+ 300 bars is longer than the data \(1000 bars\)$"
    with pytest.raises(UsageError, match=msg):
        walk_forward_windows(1000, 800, 300)


@pytest.mark.parametrize(
    ("args", "kwargs", "msg"),
    [
        ((0, 1, 1), {}, "number of bars must be at least 1 bar, got 0"),
        ((100, 0, 10), {}, "in-sample length must be at least 1 bar, got 0"),
        ((100, 10, -5), {}, "out-of-sample length must be at least 1 bar, got -5"),
        ((100, 10, 10), {"step": 0}, "walk-forward step must be at least 1 bar, got 0"),
        ((100, 10.5, 10), {}, r"in-sample length must be a whole number of bars, got 10.5"),
        ((100, "10", 10), {}, r"in-sample length must be a whole number of bars, got '10'"),
        ((100, True, 10), {}, r"in-sample length must be a whole number of bars, got True"),
    ],
)
def test_bad_sizes(args, kwargs, msg):
    with pytest.raises(UsageError, match=msg):
        walk_forward_windows(*args, **kwargs)


# --------------------------------------------------------------------------- parse_span


@pytest.mark.parametrize(
    ("text", "tf", "bars"),
    [
        ("5000", "1h", 5000),
        ("1", "1d", 1),
        ("30d", "1h", 720),
        ("30d", "4h", 180),
        ("12h", "4h", 3),
        ("90m", "15m", 6),
        ("90m", "1h", 1),  # rounded down
        ("36h", "1d", 1),
        ("2w", "1d", 14),
        ("1w", "3d", 2),
        (" 30d ", "1d", 30),
        ("007", "1m", 7),
    ],
)
def test_parse_span(text, tf, bars):
    assert parse_span(text, tf) == bars


@pytest.mark.parametrize("text", ["", "  ", "abc", "-5", "5x", "1.5d", "30D", "d", "30 days", "1e3", "٣"])
def test_parse_span_garbage(text):
    with pytest.raises(UsageError) as e:
        parse_span(text, "1h")
    msg = str(e.value)
    assert repr(text) in msg and "\n" not in msg and "90m, 12h, 30d, 2w" in msg


def test_parse_span_zero_and_too_short():
    with pytest.raises(UsageError, match=r"invalid span '0': must be at least 1 bar"):
        parse_span("0", "1h")
    with pytest.raises(UsageError, match=r"span '30m' is shorter than one 1h candle"):
        parse_span("30m", "1h")
    with pytest.raises(UsageError, match=r"span '0d' is shorter than one 1d candle"):
        parse_span("0d", "1d")


def test_parse_span_bad_timeframe():
    with pytest.raises(UsageError, match="invalid timeframe 'xx'"):
        parse_span("30d", "xx")
