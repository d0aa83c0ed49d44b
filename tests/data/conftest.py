"""Shared helpers of the store tests: sample runs and a round trip of every repository."""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from tradebot.core.errors import RunNotFoundError, StoreError
from tradebot.data.db import Store, open_store
from tradebot.data.models import BacktestRun, DailyPerformance, Trade
from tradebot.data.repositories import (
    BotConfigRepository,
    DatasetInfo,
    DatasetRepository,
    NewRun,
    RunRepository,
    StrategyRepository,
)

UTC = dt.UTC

#: Doubles that a lossy path (text with 15 digits, float32, decimal) would change.
AWKWARD_FLOATS = [
    0.1 + 0.2,
    1 / 3,
    math.pi * 1e10,
    2.0**-1074,
    1.7976931348623157e308,
    -123456.78901234567,
    6.02214076e23,
    1e-300,
    0.30000000000000004,
    9007199254740993.0,
]


def sample_trade(i: int, **overrides: Any) -> dict[str, Any]:
    price = 100.0 + i * 0.37
    trade = {
        "seq": i,
        "entry_ts_ms": 1_700_000_000_000 + i * 3_600_000,
        "exit_ts_ms": 1_700_000_000_000 + i * 3_600_000 + 1_800_000,
        "direction": 1 if i % 3 else -1,
        "units": 0.123456789 + i,
        "entry_price": price,
        "exit_price": price * 1.01,
        "entry_fee": price * 0.001,
        "exit_fee": price * 0.00101,
        "pnl": (i % 7 - 3) * 1.2345,
        "return_pct": (i % 7 - 3) * 0.1,
        "exit_reason": "stop_loss" if i % 5 == 0 else "exit_signal",
    }
    trade.update(overrides)
    return trade


def sample_daily(n: int) -> list[dict[str, Any]]:
    start = dt.date(2024, 1, 1)
    return [
        {
            "day": start + dt.timedelta(days=k),
            "equity": 10_000.0 + k * 12.5,
            "pnl": 12.5,
            "return_pct": 0.125,
            "trades": k % 4,
            "target_met": k % 2 == 0,
        }
        for k in range(n)
    ]


def sample_run(n_trades: int = 10, n_days: int = 3, **overrides: Any) -> NewRun:
    fields: dict[str, Any] = {
        "strategy_name": "rsi",
        "strategy_version": "1.2",
        "params": {"period": np.int64(14), "lower": np.float64(30.5), "flag": np.bool_(True)},
        "config": {"fees": {"taker": 0.001}, "symbols": ("BTC/USDT",), "nan": float("nan")},
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "data_source": "cache",
        "data_start_ms": 1_700_000_000_000,
        "data_end_ms": 1_700_360_000_000,
        "data_rows": 101,
        "data_sha256": "f" * 64,
        "code_version": "0.1.0",
        "seed": 42,
        "metrics": {
            "sharpe": np.float64(1.25),
            "total_return_pct": 12.5,
            "profit_factor": float("inf"),
            "trades": np.int32(n_trades),
            "equity_curve": np.array([1.0, 2.0]),
        },
        "trades": [sample_trade(i) for i in range(n_trades)],
        "daily": sample_daily(n_days),
    }
    fields.update(overrides)
    return NewRun(**fields)


def count_rows(store: Store) -> tuple[int, int, int]:
    """(runs, trades, daily rows) in the store."""
    with store.session() as s:
        return (
            s.scalar(select(func.count()).select_from(BacktestRun)) or 0,
            s.scalar(select(func.count()).select_from(Trade)) or 0,
            s.scalar(select(func.count()).select_from(DailyPerformance)) or 0,
        )


def check_round_trip(store: Store) -> None:
    """Write and read back through every repository of ``store`` (an empty database)."""
    # datasets: insert, read, replace by market, list
    info = DatasetInfo(
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        start_ms=1_500_000_000_000,
        end_ms=1_700_000_000_000,
        rows=55_000,
        gaps=2,
        missing=7,
        path="/data/binance/BTC_USDT-1h.parquet",
        sha256="a" * 64,
        source="fetch",
    )
    with store.session() as s:
        stored = DatasetRepository(s).upsert(info)
    assert stored.updated_at is not None and stored.updated_at.tzinfo is not None
    assert stored == replace(info, updated_at=stored.updated_at)
    later = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with store.session() as s:
        repo = DatasetRepository(s)
        repo.upsert(replace(info, rows=56_000, source="csv:/x.csv", updated_at=later))
        repo.upsert(replace(info, timeframe="1d", rows=2300))
    with store.session() as s:
        repo = DatasetRepository(s)
        got = repo.get("binance", "BTC/USDT", "1h")
        assert got is not None and got.rows == 56_000 and got.source == "csv:/x.csv"
        assert got.updated_at == later and got.updated_at.tzinfo == UTC
        assert repo.get("binance", "ETH/USDT", "1h") is None
        assert [(d.timeframe, d.rows) for d in repo.list()] == [("1d", 2300), ("1h", 56_000)]

    # strategies
    schema = {"period": {"type": "int", "default": np.int64(14), "min": 2, "max": 100}}
    with store.session() as s:
        repo_s = StrategyRepository(s)
        first = repo_s.upsert("rsi", "1", "RSI mean reversion", schema)
        again = repo_s.upsert("rsi", "1", "RSI, reworded", schema)
        other = repo_s.upsert("rsi", "2", "", {})
        assert first == again != other
    with store.session() as s:
        listed = StrategyRepository(s).list()
    assert [(x.name, x.version, x.description) for x in listed] == [
        ("rsi", "1", "RSI, reworded"),
        ("rsi", "2", ""),
    ]
    assert listed[0].parameter_schema["period"]["default"] == 14

    # runs
    run = sample_run(n_trades=25, n_days=4)
    with store.session() as s:
        run_id = RunRepository(s).add(run)
    with store.session() as s:
        repo_r = RunRepository(s)
        got_run = repo_r.get(run_id)
        assert got_run.id == run_id and got_run.status == "completed"
        assert got_run.created_at.tzinfo == UTC
        assert got_run.params == {"period": 14, "lower": 30.5, "flag": True}
        assert got_run.config == {"fees": {"taker": 0.001}, "symbols": ["BTC/USDT"], "nan": None}
        assert got_run.metrics == {
            "sharpe": 1.25,
            "total_return_pct": 12.5,
            "profit_factor": None,
            "trades": 25,
            "equity_curve": [1.0, 2.0],
        }
        for name in ("exchange", "symbol", "timeframe", "data_source", "data_start_ms"):
            assert getattr(got_run, name) == getattr(run, name)
        assert (got_run.data_end_ms, got_run.data_rows) == (run.data_end_ms, run.data_rows)
        assert (got_run.data_sha256, got_run.code_version, got_run.seed) == ("f" * 64, "0.1.0", 42)
        assert got_run.trades == run.trades
        assert got_run.daily == run.daily
        assert repo_r.trades(run_id) == run.trades
        assert repo_r.daily(run_id) == run.daily
        with pytest.raises(RunNotFoundError, match=f"no stored run with id {run_id + 1000}"):
            repo_r.get(run_id + 1000)

    older = dt.datetime(2020, 1, 1, tzinfo=UTC)
    with store.session() as s:
        repo_r = RunRepository(s)
        old_id = repo_r.add(sample_run(n_trades=0, n_days=0, created_at=older, symbol="ETH/USDT"))
        new_id = repo_r.add(sample_run(n_trades=1, n_days=1, timeframe="4h"))
    with store.session() as s:
        summaries = RunRepository(s).list()
        assert [r.id for r in summaries] == [new_id, run_id, old_id]
        assert summaries[-1].created_at == older and summaries[-1].symbol == "ETH/USDT"
        assert summaries[0].timeframe == "4h" and summaries[0].strategy == "rsi"
        assert summaries[1].metrics == {
            "sharpe": 1.25,
            "total_return_pct": 12.5,
            "profit_factor": None,
            "trades": 25,
        }
        assert [r.id for r in RunRepository(s).list(limit=1)] == [new_id]
        assert RunRepository(s).trades(old_id) == []

    # deleting a run removes its trades and days (foreign keys are enforced)
    with store.session() as s:
        RunRepository(s).delete(run_id)
    assert count_rows(store) == (2, 1, 1)

    # bot configs
    with store.session() as s:
        repo_b = BotConfigRepository(s)
        assert repo_b.get("paper") is None
        repo_b.save("paper", {"risk": np.float64(0.01), "symbols": ["BTC/USDT"]})
        repo_b.save("live", {"exchange": "binance"})
    with store.session() as s:
        repo_b = BotConfigRepository(s)
        repo_b.save("paper", {"risk": 0.02})
        assert repo_b.get("paper") == {"risk": 0.02}
        assert repo_b.list() == ["live", "paper"]
        assert repo_b.delete("live") is True
        assert repo_b.delete("live") is False
    with store.session() as s:
        assert BotConfigRepository(s).list() == ["paper"]


def check_float_exact(store: Store) -> None:
    """Doubles come back bit for bit from float columns and from JSON."""
    rng = np.random.default_rng(7)
    randoms = (rng.standard_normal(200) * 10.0 ** rng.integers(-12, 12, 200)).tolist()
    values = AWKWARD_FLOATS + randoms
    trades = [
        sample_trade(i, entry_price=v, exit_price=-v, pnl=v, units=abs(v) or 1.0)
        for i, v in enumerate(values)
    ]
    daily = [
        {**d, "equity": values[k], "return_pct": values[-k - 1]}
        for k, d in enumerate(sample_daily(len(values)))
    ]
    run = sample_run(metrics={"values": values}, trades=trades, daily=daily)
    with store.session() as s:
        run_id = RunRepository(s).add(run)
    with store.session() as s:
        got = RunRepository(s).get(run_id)
    assert [t["entry_price"] for t in got.trades] == values
    assert [t["exit_price"] for t in got.trades] == [-v for v in values]
    assert [d["equity"] for d in got.daily] == values
    assert [d["return_pct"] for d in got.daily] == values[::-1]
    assert got.metrics["values"] == values


def check_rollback(store: Store) -> None:
    """A failure in the middle of storing a run leaves nothing of it behind."""
    before = count_rows(store)
    bad_trades = [sample_trade(i) for i in range(100)]
    bad_trades[50] = sample_trade(50, pnl=None)
    with pytest.raises(StoreError, match=r"trade 50: pnl=None"):
        with store.session() as s:
            RunRepository(s).add(sample_run(trades=bad_trades))
    assert count_rows(store) == before

    # the database itself refuses (duplicate day), after the run and its trades went in
    daily = sample_daily(5)
    daily[3] = {**daily[3], "day": daily[1]["day"]}
    with pytest.raises(StoreError, match="database error in"):
        with store.session() as s:
            RunRepository(s).add(sample_run(n_trades=500, daily=daily))
    assert count_rows(store) == before

    # any exception in the unit of work rolls it back and passes through unchanged
    with pytest.raises(KeyError):
        with store.session() as s:
            RunRepository(s).add(sample_run())
            raise KeyError("boom")
    assert count_rows(store) == before


def check_concurrent_open(url: str, workers: int = 4) -> None:
    """Processes opening a new database at once all succeed; it is migrated once."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            with open_store(url) as store, store.session() as s:
                RunRepository(s).add(sample_run(n_trades=5))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(url) as store:
        assert count_rows(store) == (workers, workers * 5, workers * 3)


@pytest.fixture
def checks() -> SimpleNamespace:
    """The helpers above, for the test modules (which cannot import conftest)."""
    return SimpleNamespace(
        round_trip=check_round_trip,
        float_exact=check_float_exact,
        rollback=check_rollback,
        concurrent_open=check_concurrent_open,
        sample_run=sample_run,
        sample_trade=sample_trade,
        count_rows=count_rows,
    )
