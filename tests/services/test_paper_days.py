"""Daily summaries of a one-market paper account: each finished day told once, by the run
that passes it, however the runs are cut — a cron run of one candle included (such a run
used to tell nothing: a day was summarized only when one run held both its last candle and
a candle of the next day)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tests.notify.conftest import http_receiver  # noqa: F401  (the fixture)
from tests.services.conftest import assert_daily_pnl
from tradebot.core.config import load_settings
from tradebot.exchanges.sim import sim_candles
from tradebot.services.context import Context
from tradebot.services.paper import run_paper

T0 = 1_704_067_200_000  # 2024-01-01
H = 3_600_000
DAY = 24 * H


def test_each_day_is_told_once_by_cron_runs_of_one_candle(tmp_path: Path, http_receiver: Any) -> None:  # noqa: F811
    home = tmp_path / "home"
    hook = {"hook": {"url": http_receiver.url(), "events": ["daily_summary"]}}
    ctx = Context(load_settings(env={}, overrides={
        "home": str(home), "market": {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"},
        "strategy": {"name": "rsi"}, "notify": {"channels": hook}}))
    try:
        c = sim_candles("BTC/USDT", "1h", since_ms=T0, until_ms=T0 + 4 * DAY, seed=3)
        ctx.cache.save(dataclasses.replace(c, exchange="binance"))
        run_paper(ctx, "days", since_ms=T0, now_ms=T0 + 2 * DAY, source="cache")  # days 1 and 2: day 1 told
        for hour in range(1, 40):  # then one candle a run, across the ends of days 2 and 3
            run_paper(ctx, "days", now_ms=T0 + 2 * DAY + hour * H, source="cache")
    finally:
        ctx.close()
    texts = [json.dumps(r.json()) for r in http_receiver.requests]
    assert [t.split("] ")[1][:10] for t in texts] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert_daily_pnl(texts, home / "tradebot.db", "paper_equity", T0, 10_000.0)
