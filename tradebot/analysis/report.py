"""The report model: one JSON-safe dict per run, rendered by the CLI (Rich), HTML or as JSON.

``build_report`` assembles it from :class:`~tradebot.analysis.metrics.Metrics` and the run
header; it never computes figures of its own beyond regrouping metrics (per-pair row) and
formatting trades, so every number traces back to the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from tradebot.analysis.confidence import confidence_summary
from tradebot.analysis.metrics import Metrics, exit_reason_name

#: Bumped when the report layout changes incompatibly.
REPORT_VERSION = 1

#: Header keys every report carries (None when unknown), in display order.
HEADER_KEYS = (
    "strategy",
    "version",
    "params",
    "exchange",
    "symbol",
    "timeframe",
    "data_source",
    "data_range",
    "rows",
    "gaps",
    "run_id",
    "code_version",
    "seed",
    "fees",
    "slippage",
)

__all__ = [
    "HEADER_KEYS",
    "REPORT_VERSION",
    "build_report",
    "daily_confidence",
    "is_synthetic_source",
    "json_safe",
    "per_pair_row",
    "report_to_json",
    "trades_to_dicts",
]


def _iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def json_safe(obj: Any) -> Any:
    """Recursively convert to JSON-safe values.

    numpy scalars/arrays -> Python, NaN/inf -> None, dates/datetimes -> ISO strings,
    tuples/sets -> lists, mapping keys -> str.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, datetime):
        if obj.tzinfo is not None:
            obj = obj.astimezone(UTC)
            return obj.isoformat().replace("+00:00", "Z")
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, Sequence | set | frozenset):
        return [json_safe(v) for v in obj]
    return str(obj)


def is_synthetic_source(source: Any) -> bool:
    """True when a data-source label names the built-in synthetic ``sim`` market."""
    if not source:
        return False
    s = str(source).strip().lower()
    return s == "sim" or s.startswith("sim:") or s.startswith("sim ") or "synthetic" in s


def per_pair_row(metrics: Metrics, pair: str | None) -> dict[str, Any]:
    """freqtrade-style per-pair summary row, built from the metrics alone."""
    total_pct = (
        metrics.total_profit / metrics.initial_capital * 100.0 if metrics.initial_capital else None
    )
    return {
        "pair": pair or "?",
        "trades": metrics.trades,
        "avg_profit_pct": metrics.expectancy_pct,
        "total_profit": metrics.total_profit,
        "total_profit_pct": total_pct,
        "wins": metrics.wins,
        "draws": metrics.draws,
        "losses": metrics.losses,
        "win_rate_pct": metrics.win_rate_pct,
        "avg_duration_s": metrics.avg_trade_duration_s,
    }


def trades_to_dicts(trades: np.ndarray, timestamps: np.ndarray | None) -> list[dict[str, Any]]:
    """One dict per ``TRADE_DTYPE`` row: ISO times (when ``timestamps`` given), reason names."""
    if trades is None or len(trades) == 0:
        return []
    cols = {name: trades[name].tolist() for name in trades.dtype.names or ()}
    n = len(trades)
    if timestamps is not None:
        ts = np.asarray(timestamps, dtype=np.int64)
        t_in, t_out = ts[trades["entry_idx"]], ts[trades["exit_idx"]]
        entry_time = np.datetime_as_string(t_in.astype("datetime64[ms]"), unit="s").tolist()
        exit_time = np.datetime_as_string(t_out.astype("datetime64[ms]"), unit="s").tolist()
        entry_time = [f"{x}Z" for x in entry_time]
        exit_time = [f"{x}Z" for x in exit_time]
        duration = ((t_out - t_in) / 1000.0).tolist()
    else:
        entry_time = exit_time = duration = [None] * n
    names = {code: exit_reason_name(code) for code in set(cols["exit_reason"])}
    return [
        {
            "entry_idx": cols["entry_idx"][i],
            "exit_idx": cols["exit_idx"][i],
            "entry_time": entry_time[i],
            "exit_time": exit_time[i],
            "duration_s": duration[i],
            "direction": "long" if cols["direction"][i] >= 0 else "short",
            "units": cols["units"][i],
            "entry_price": cols["entry_price"][i],
            "exit_price": cols["exit_price"][i],
            "entry_fee": cols["entry_fee"][i],
            "exit_fee": cols["exit_fee"][i],
            "pnl": cols["pnl"][i],
            "return_pct": cols["return_pct"][i],
            "exit_reason": names[cols["exit_reason"][i]],
        }
        for i in range(n)
    ]


def daily_confidence(
    daily: Sequence[Mapping[str, Any]], target: float | None, seed: Any
) -> dict[str, Any]:
    """``psr``, ``ci95`` and ``confidence`` (see :func:`~tradebot.analysis.confidence.confidence_summary`)
    of daily P&L rows (``return_pct``, ``target_met``), seeded from the run's ``seed``. The
    target-days interval needs a positive ``target`` (0 or None: no target set)."""
    ret = np.array([r["return_pct"] for r in daily], dtype=np.float64) / 100.0
    met = None
    if target is not None and target > 0:
        met = np.array([bool(r["target_met"]) for r in daily], dtype=bool)
    try:
        s = int(seed) if seed is not None else 0
    except (TypeError, ValueError):
        s = 0
    return confidence_summary(ret, met, seed=s)


def build_report(
    metrics: Metrics,
    header: Mapping[str, Any],
    trades: np.ndarray | None = None,
    timestamps: np.ndarray | None = None,
    *,
    include_daily: bool = False,
) -> dict[str, Any]:
    """The report model of one run (JSON-safe dict).

    Keys, in order: ``report_version``, ``header`` (every key of :data:`HEADER_KEYS`, None when
    not given, plus any extra keys of ``header``; ``timeframe``, ``data_range`` and ``rows``
    default from the metrics), ``summary`` (``Metrics.to_dict()`` without the tables, plus
    ``psr``, ``ci95`` and ``confidence`` from the daily rows: :func:`daily_confidence`),
    ``per_pair`` (one row), ``monthly``, ``daily_summary``, ``daily`` (only with
    ``include_daily``), ``exit_reasons``, ``trades`` (list of trade dicts, or None when
    ``trades`` is None).
    """
    md = metrics.to_dict()
    monthly = md.pop("monthly")
    daily = md.pop("daily")
    exit_reasons = md.pop("exit_reasons")

    hdr: dict[str, Any] = {k: header.get(k) for k in HEADER_KEYS}
    for k, v in header.items():
        if k not in hdr:
            hdr[k] = v
    if hdr["timeframe"] is None:
        hdr["timeframe"] = metrics.timeframe
    if hdr["data_range"] is None and metrics.start_ms is not None:
        hdr["data_range"] = {"start": md["start"], "end": md["end"]}
    if hdr["rows"] is None:
        hdr["rows"] = metrics.bars
    md.update(daily_confidence(metrics.daily, metrics.daily_target, hdr.get("seed")))

    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "header": hdr,
        "summary": md,
        "per_pair": [per_pair_row(metrics, hdr.get("symbol"))],
        "monthly": monthly,
        "daily_summary": {
            "days": metrics.days,
            "target": metrics.daily_target,
            "avg_daily_pnl": metrics.avg_daily_pnl,
            "target_days": metrics.target_days,
            "target_days_pct": metrics.target_days_pct,
            "best_day": metrics.best_day,
            "best_day_pnl": metrics.best_day_pnl,
            "worst_day": metrics.worst_day,
            "worst_day_pnl": metrics.worst_day_pnl,
        },
        "exit_reasons": exit_reasons,
        "trades": trades_to_dicts(trades, timestamps) if trades is not None else None,
    }
    if include_daily:
        report["daily"] = daily
    return json_safe(report)


def report_to_json(report: Mapping[str, Any], *, indent: int | None = None) -> str:
    """Serialize a report: sorted keys (stable across storage round trips), never NaN/inf.

    Values that are not JSON-safe (NaN, numpy scalars, dates...) are converted as by
    :func:`json_safe`. ``indent`` pretty-prints (slower: Python encoder).
    """
    try:
        return json.dumps(report, sort_keys=True, indent=indent, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(json_safe(report), sort_keys=True, indent=indent, allow_nan=False)
