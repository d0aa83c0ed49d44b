"""A paper run tells the configured channels about fills, closed trades and finished days."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradebot.core.config import load_settings
from tradebot.data.csv_io import read_candles_csv
from tradebot.services.context import Context
from tradebot.services.data import import_csv
from tradebot.services.paper import run_paper

BTC_5M = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "freqtrade-testdata_BTC_USDT-5m.csv.gz"


def test_paper_run_delivers_events_to_a_local_webhook(tmp_path, http_receiver) -> None:  # type: ignore[no-untyped-def]
    if not BTC_5M.exists():
        pytest.skip(f"real candles not found: {BTC_5M}")
    settings = load_settings(env={}, overrides={
        "home": str(tmp_path / "home"),
        "market": {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "5m"},
        "notify": {"channels": {"hook": {"url": http_receiver.url()}}},
    })
    ctx = Context(settings)
    import_csv(ctx, BTC_5M, "binance", "BTC/USDT", "5m")
    candles = read_candles_csv(BTC_5M)
    now = int(candles.timestamp[700]) + 300_000  # a bit over two days of candles
    res = run_paper(ctx, "hooked", since_ms=int(candles.timestamp[0]), now_ms=now)
    ctx.close()
    assert res.trades_closed > 0
    text = " ".join(r.body.decode() if isinstance(r.body, bytes) else str(r.body)
                    for r in http_receiver.requests)
    assert text.count("hooked") >= res.trades_closed  # one message per event, account named
    kinds = {k for k in ("closed", "filled", "2023-01-03") if k.lower() in text.lower()}
    assert kinds == {"closed", "filled", "2023-01-03"}, text[:500]
