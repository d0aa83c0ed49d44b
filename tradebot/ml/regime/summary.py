"""What a regime history says: time in each regime, mean duration of its spells, the
transition matrix between spells and from bar to bar; agreement with planted labels."""

from __future__ import annotations

from typing import Any

import numpy as np


def spells(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of equal labels among classified bars (``labels >= 0``): (label, length) per run."""
    lab = labels[labels >= 0]
    if lab.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    lengths = np.diff(np.r_[starts, lab.size])
    return lab[starts].astype(np.int64), lengths.astype(np.int64)


def history_summary(labels: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """Per regime: bars, share of classified bars, spells and their mean duration (bars);
    ``transitions[i][j]``: probability that the bar after one in regime ``i`` is in ``j``
    (rows sum to 1; a regime never seen has a row of None); ``switches``: number of changes."""
    k = len(names)
    lab = labels[labels >= 0]
    run_lab, run_len = spells(labels)
    counts = np.bincount(lab, minlength=k) if lab.size else np.zeros(k, dtype=np.int64)
    trans = np.zeros((k, k))
    if lab.size > 1:
        np.add.at(trans, (lab[:-1], lab[1:]), 1.0)
    rows = []
    for i, name in enumerate(names):
        mine = run_len[run_lab == i]
        rows.append({"regime": name, "bars": int(counts[i]),
                     "share": float(counts[i] / lab.size) if lab.size else None,
                     "spells": int(mine.size), "mean_duration_bars": float(mine.mean()) if mine.size else None})
    matrix: list[list[float | None]] = []
    for i in range(k):
        tot = trans[i].sum()
        matrix.append([float(v / tot) for v in trans[i]] if tot else [None] * k)
    return {"classified_bars": int(lab.size), "unclassified_bars": int(labels.size - lab.size),
            "regimes": rows, "transitions": matrix, "switches": int(max(run_lab.size - 1, 0))}


def bars_since_change(planted: np.ndarray) -> np.ndarray:
    """For each bar, how many bars ago the planted regime last changed (0 on the change)."""
    n = planted.shape[0]
    change = np.r_[True, planted[1:] != planted[:-1]]
    last = np.maximum.accumulate(np.where(change, np.arange(n), 0))
    return np.arange(n) - last


def agreement(labels: np.ndarray, planted: np.ndarray, names: tuple[str, ...], planted_names: tuple[str, ...],
              lag: int) -> dict[str, Any]:
    """Share of bars whose regime has the planted regime's name, over the classified bars at
    least ``lag`` bars after a planted change (the recognition lag: causal windows need that
    long to see a new regime). Also reported: the share of bars that count, and the
    agreement over every classified bar (no lag)."""
    name_of = np.array(list(names) + [""], dtype=object)
    got = name_of[np.where(labels >= 0, labels, len(names))]
    want = np.array(planted_names, dtype=object)[planted]
    classified = labels >= 0
    counted = classified & (bars_since_change(planted) >= lag)
    agree = got == want
    return {"lag_bars": int(lag), "agreement": float(agree[counted].mean()) if counted.any() else None,
            "counted_share": float(counted.sum() / max(int(classified.sum()), 1)),
            "agreement_no_lag": float(agree[classified].mean()) if classified.any() else None}
