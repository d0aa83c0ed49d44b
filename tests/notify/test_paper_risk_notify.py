"""Risk trips of a paper account reach the channels once per trip, not once per blocked entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradebot.core.config import load_settings
from tradebot.data.csv_io import read_candles_csv
from tradebot.data.paper_repository import PaperRepository
from tradebot.services.context import Context
from tradebot.services.data import import_csv
from tradebot.services.paper import run_paper

from .conftest import HttpReceiver

BTC_5M = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "freqtrade-testdata_BTC_USDT-5m.csv.gz"
TF = 300_000


def test_risk_tripped_once_per_trip_across_runs(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    if not BTC_5M.exists():
        pytest.skip(f"real candles not found: {BTC_5M}")
    settings = load_settings(env={}, overrides={
        "home": str(tmp_path / "home"),
        "market": {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "5m"},
        "strategy": {"name": "macd"},
        "risk": {"max_trades_per_day": 1, "max_drawdown_pct": 2.0, "breaker_cooldown_bars": 100},
        "notify": {"channels": {"ops": {"url": http_receiver.url(), "events": ["risk_tripped"],
                                        "quiet_hours": "00:00-23:59"}},  # risk trips still go out
                   "rules": {"drawdown_above_pct": 1.5}},
    })
    ctx = Context(settings)
    import_csv(ctx, BTC_5M, "binance", "BTC/USDT", "5m")
    candles = read_candles_csv(BTC_5M).slice(0, 2600)
    rng = np.random.default_rng(2)
    i, first, blocked = 0, True, 0
    while i < len(candles):  # cron runs catching up 1 to 60 candles
        i = min(len(candles), i + int(rng.integers(1, 60)))
        now = int(candles.timestamp[i - 1]) + TF
        res = run_paper(ctx, "risky", since_ms=int(candles.timestamp[0]) if first else None, now_ms=now)
        blocked += res.blocked
        first = False
    sent = len(http_receiver.requests)
    again = run_paper(ctx, "risky", now_ms=now)  # the same candle again: nothing new to say
    assert again.processed == 0 and len(http_receiver.requests) == sent
    with ctx.store.session() as session:
        repo = PaperRepository(session)
        acct = repo.get("risky")
        assert acct is not None
        events = repo.risk_events(acct.id)
    ctx.close()
    trips = [e for e in events if e["kind"] in ("limit_reached", "breaker_tripped", "alert")]
    days = {e["ts_ms"] // 86_400_000 for e in events if e["kind"] == "limit_reached"}
    assert blocked == sum(e["kind"] == "entry_blocked" for e in events) > len(trips) > 0
    assert len(days) == sum(e["kind"] == "limit_reached" for e in events) >= 3  # once a day
    messages = [r.json() for r in http_receiver.requests]
    assert len(messages) == len(trips)
    assert [m["title"] for m in messages] == [f"[risky] RISK: {e['rule']} tripped" for e in trips]
    assert {e["rule"] for e in trips} == {"max_trades_per_day", "drawdown_breaker", "drawdown_above_pct"}
    assert all(e["detail"] in m["message"] for e, m in zip(trips, messages, strict=True))
