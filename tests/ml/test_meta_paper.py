"""A meta model in paper trading: the base strategy filtered by the model, decided alike in
paper and in the backtest of the same model; probabilities recorded at base entries only."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tradebot.core.config import load_settings
from tradebot.data.cache import CandleCache
from tradebot.ml.evaluate import CVSettings, LabelSettings
from tradebot.services.context import Context
from tradebot.services.paper import account_report, run_paper
from tradebot.services.train import TrainRequest, train
from tradebot.testing.meta_market import META_SPEC, meta_market

TF = 3_600_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _ctx(home: Path, **overrides: Any) -> Context:
    base: dict[str, Any] = {"home": str(home), "market": {"exchange": "synth", "symbol": "META/USDT",
                                                          "timeframe": "1h"}}
    base.update(overrides)
    return Context(load_settings(overrides=base, env={}))


def test_paper_trades_the_filtered_base_strategy_like_the_backtest(tmp_path: Path) -> None:
    from tradebot.engine.result import EXIT_OPEN
    from tradebot.services.backtest import run_backtest

    home = tmp_path / "home"
    candles = meta_market(60, 2, symbol="META/USDT", exchange="synth")
    CandleCache(home / "data").save(candles)
    split = 1800
    spec = tmp_path / "meta.toml"
    spec.write_text('name = "meta"\n[[features]]\nkind = "returns"\nperiods = [1, 4]\n'
                    '[[features]]\nkind = "volume_z"\nwindows = [24]\n')
    assert "volume_z" in str(META_SPEC)  # the same spec as the other meta tests
    ctx = _ctx(home, backtest={"since": _iso(int(candles.timestamp[0])), "until": _iso(int(candles.timestamp[split]))})
    try:
        rec = train(ctx, TrainRequest(name="m", spec=str(spec), label=LabelSettings(method="meta", base="rsi"),
                                      cv=CVSettings(folds=2, shuffles=0), seed=1, importance=None)).record
    finally:
        ctx.close()
    assert rec["label"]["base"] == "rsi"
    params = {"model": "m:1", "threshold": 0.6}
    ctx = _ctx(home, strategy={"name": "ml", "params": params})
    try:
        since = int(candles.timestamp[split])
        for i, stop in enumerate([*range(split + 25, len(candles), 25), len(candles)]):
            run_paper(ctx, "meta", since_ms=since if i == 0 else None, now_ms=int(candles.timestamp[stop - 1]) + TF)
        rep = account_report(ctx, "meta")
    finally:
        ctx.close()
    bt_ctx = _ctx(home, strategy={"name": "ml", "params": {**params, "in_sample": True}},
                  backtest={"since": _iso(int(candles.timestamp[split]))})
    try:
        bt = run_backtest(bt_ctx, save=False, include_trades=True)
    finally:
        bt_ctx.close()
    closed = bt.result.trades[bt.result.trades["exit_reason"] != EXIT_OPEN]
    assert len(rep["trades"]) == len(closed) > 3
    for got, want in zip(rep["trades"], closed, strict=True):
        assert got["entry_ts_ms"] == bt.result.timestamp[want["entry_idx"]]
        assert got["exit_ts_ms"] == bt.result.timestamp[want["exit_idx"]]
    meta = bt.report["header"]["ml"]["meta"]
    assert meta["base_alone_trades"] > len(closed)  # the model skipped some of the base strategy's trades
    with sqlite3.connect(home / "tradebot.db") as con:
        rows = con.execute("SELECT d.proba, d.signal FROM ml_decisions d JOIN paper_accounts a ON a.id = d.account_id "
                           "WHERE a.name = 'meta' ORDER BY d.ts_ms").fetchall()
    probas = np.array([np.nan if p is None else p for p, _ in rows])
    signals = np.array([s for _, s in rows])
    given = np.isfinite(probas)
    assert 0 < given.sum() < 0.5 * len(rows)  # a probability at the base strategy's entry signals only
    assert ((signals == 1) == (given & (probas >= 0.6))).all()
