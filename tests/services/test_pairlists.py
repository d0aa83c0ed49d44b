"""Pair lists: parsing and the checks every list must pass, pairs files, the stake rule, and
the volume pair list against the replay exchange's tickers (ccxt fetch_tickers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradebot.core.config import load_settings
from tradebot.core.errors import ConfigError, UsageError
from tradebot.core.pairs import PairlistConfig, check_pairs, parse_stake, parse_symbols, read_pairs_file
from tradebot.exchanges.sim import sim_candles
from tradebot.services.context import Context
from tradebot.services.pairlists import dynamic_pairs, resolve_pairs, volume_pairs
from tradebot.testing.replay_exchange import ReplayExchange, ReplayMarket

T0 = 1_704_067_200_000
DAY = 86_400_000


def test_symbols_parse_and_every_bad_list_is_one_line_naming_the_value() -> None:
    assert parse_symbols(" BTC/USDT, ETH/USDT ,") == ("BTC/USDT", "ETH/USDT")
    cases = {
        "": "the pair list is empty",
        " , ": "the pair list is empty",
        "BTC/USDT,ETH/BTC": "mixed quote currencies (USDT: BTC/USDT; BTC: ETH/BTC)",
        "BTC/USDT,BTC/USDT": "BTC/USDT is listed twice",
        "BTCUSDT": "invalid symbol 'BTCUSDT'",
    }
    for text, expected in cases.items():
        with pytest.raises(UsageError) as e:
            parse_symbols(text)
        assert expected in str(e.value) and "\n" not in str(e.value)
        assert e.value.exit_code == 2
    assert check_pairs(["A/USDT:USDT", "B/USDT:USDT"]) == ("A/USDT:USDT", "B/USDT:USDT")


def test_pairs_files_json_and_text(tmp_path: Path) -> None:
    j = tmp_path / "pairs.json"
    j.write_text('["ETH/USDT", "BTC/USDT"]')
    assert read_pairs_file(j) == ("ETH/USDT", "BTC/USDT")
    t = tmp_path / "pairs.txt"
    t.write_text("# majors\nBTC/USDT\nETH/USDT, SOL/USDT  # and one more\n\n")
    assert read_pairs_file(t) == ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    with pytest.raises(UsageError, match="no such file"):
        read_pairs_file(tmp_path / "missing.txt")
    bad = tmp_path / "bad.json"
    bad.write_text('["BTC/USDT",')
    with pytest.raises(UsageError, match="invalid JSON at line 1"):
        read_pairs_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(UsageError, match="the pair list is empty"):
        read_pairs_file(empty)


def test_stake_rules() -> None:
    assert parse_stake("equal") == ("equal", 0.0)
    assert parse_stake("fixed:100") == ("fixed", 100.0)
    assert parse_stake("fraction:0.25") == ("fraction", 0.25)
    for bad in ("fixed", "fixed:-1", "fraction:1.5", "fraction:nan", "half", "equal:2"):
        with pytest.raises(UsageError, match=repr(bad).replace("[", r"\[")):
            parse_stake(bad)
    with pytest.raises(ConfigError, match="portfolio.stake: stake 'fixed:0'"):
        load_settings(env={}, overrides={"portfolio": {"stake": "fixed:0"}})
    with pytest.raises(ConfigError, match="portfolio.max_open_positions"):
        load_settings(env={}, overrides={"portfolio": {"max_open_positions": 0}})


def test_precedence_command_line_over_file_over_config(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("SOL/USDT\nADA/USDT\n")
    pairs = {"pairs": ["BTC/USDT", "ETH/USDT"]}
    ctx = Context(load_settings(env={}, overrides={"home": str(tmp_path), "portfolio": pairs}))
    assert resolve_pairs(ctx).symbols == ("BTC/USDT", "ETH/USDT") and resolve_pairs(ctx).source == "config"
    assert resolve_pairs(ctx, pairs_file=str(f)).symbols == ("SOL/USDT", "ADA/USDT")
    assert resolve_pairs(ctx, "XRP/USDT,DOT/USDT", str(f)).symbols == ("XRP/USDT", "DOT/USDT")


def test_volume_ranking_and_filters_pure() -> None:
    tickers = {
        "A/USDT": {"quoteVolume": 500.0, "last": 10.0, "bid": 9.99, "ask": 10.0},
        "B/USDT": {"quoteVolume": 900.0, "last": 0.001, "bid": 0.001, "ask": 0.001},  # price filter
        "C/USDT": {"quoteVolume": 800.0, "last": 5.0, "bid": 4.0, "ask": 5.0},  # 20 % spread
        "D/USDT": {"quoteVolume": 500.0, "last": 3.0, "bid": 2.999, "ask": 3.0},  # ties A: by symbol
        "E/USDT": {"baseVolume": 100.0, "last": 20.0, "bid": 19.99, "ask": 20.0},  # 2000 from base x last
        "F/BTC": {"quoteVolume": 1e9, "last": 1.0},  # another quote
        "G/USDT": {"quoteVolume": None, "last": 1.0},  # no volume
        "H/USDT": {"quoteVolume": 1e9, "last": 1.0},  # not an active market
    }
    markets = {"A/USDT", "B/USDT", "C/USDT", "D/USDT", "E/USDT", "F/BTC", "G/USDT"}
    cfg = PairlistConfig(method="volume", number=3, min_price=0.01, max_spread_pct=1.0)
    kept, dropped = volume_pairs(tickers, markets, cfg)
    assert kept == ["E/USDT", "A/USDT", "D/USDT"]
    reasons = {d["symbol"]: d["reason"] for d in dropped}
    assert reasons["B/USDT"].startswith("price 0.001 < 0.01")
    assert reasons["C/USDT"].startswith("spread 20% > 1%")
    assert reasons["G/USDT"] == "no quote volume" and "F/BTC" not in reasons and "H/USDT" not in reasons


def test_volume_pairlist_from_the_replay_exchange_with_the_age_filter(tmp_path: Path) -> None:
    now = T0 + 4 * DAY
    markets = [ReplayMarket(s, sim_candles(s, "1h", since_ms=T0 - days * DAY, until_ms=now), "1h")
               for s, days in (("BTC/USDT", 40), ("ETH/USDT", 40), ("SOL/USDT", 5), ("ETH/BTC", 40),
                               ("DOGE/USDT", 40))]
    with ReplayExchange(markets, now_ms=now) as server:
        s = load_settings(env={}, overrides={
            "home": str(tmp_path), "exchanges": {"binance": {"base_url": server.url, "rate_limit": False}},
            "portfolio": {"pairlist": {"method": "volume", "number": 2, "min_age_days": 10}}})
        ctx = Context(s)
        try:
            pl = dynamic_pairs(ctx, s.portfolio.pairlist, now_ms=now)
            assert resolve_pairs(ctx, now_ms=now).symbols == pl.symbols  # the settings route there
        finally:
            ctx.close()
        stats = server.stats.requests
    # SOL/USDT has 9 closed daily candles (< 10); ETH/BTC has another quote; the top 2 remain
    assert len(pl.symbols) == 2 and "SOL/USDT" not in pl.symbols and "ETH/BTC" not in pl.symbols
    assert pl.source == "volume" and pl.details["tickers"] >= 5
    assert {"symbol": "SOL/USDT", "reason": "age: 9 daily candles < 10"} in pl.details["dropped"]
    assert any("ticker" in k for k in stats), stats
    assert pl.to_dict()["symbols"] == list(pl.symbols)
