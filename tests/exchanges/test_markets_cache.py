"""The markets cache between processes (exchanges/markets_cache.py): a second adapter on the
same configuration reads the markets from the file instead of the exchange, with the same
market rules and working orders; an expired, foreign, corrupt or unwritable file costs a
download and nothing else; the live step reuses them and forgets them after a refusal."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tradebot.core.config import load_settings
from tradebot.core.errors import InvalidOrder
from tradebot.core.pairs import PairList
from tradebot.exchanges.ccxt_exchange import CcxtExchange
from tradebot.exchanges.markets_cache import cache_file, read_markets, write_markets
from tradebot.exchanges.retry import RetryPolicy
from tradebot.services.context import Context
from tradebot.services.live import run_live
from tradebot.testing.live_harness import KEY, SECRET, LiveHarness, walk

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture(scope="module")
def h():
    with LiveHarness([walk("BTC/USDT", 120), walk("ETH/USDT", 120, price=2000.0, seed=11)]) as harness:
        harness.close_bar(60)
        yield harness


def adapter(h: LiveHarness, directory: Path | None, **kw) -> CcxtExchange:
    return CcxtExchange("binance", base_url=kw.pop("base_url", h.url), api_key=KEY, secret=SECRET, rate_limit=False,
                        retry=FAST, timeout_ms=2000, markets_cache=directory, **kw)


def info_requests(h: LiveHarness) -> int:
    return sum(1 for r in h.request_log if r.endpoint == "exchangeInfo")


def test_a_second_process_reads_the_markets_from_the_file(h: LiveHarness, tmp_path: Path) -> None:
    before = info_requests(h)
    first = adapter(h, tmp_path)
    rules = first.market_rules("BTC/USDT")
    assert info_requests(h) == before + 1 and not first.markets_from_cache
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("binance-")
    second = adapter(h, tmp_path)
    assert second.market_rules("BTC/USDT") == rules
    assert second.markets_from_cache and info_requests(h) == before + 1  # no download
    assert set(second.load_markets()) == set(first.load_markets())
    # ccxt works on the cached markets: a signed order and its lookup by client id
    order = second.create_order("BTC/USDT", "buy", "market", 0.001, client_order_id="tb-mc-1")
    assert order.status == "closed" and order.filled == pytest.approx(0.001)
    assert second.fetch_order_by_client_id("tb-mc-1", "BTC/USDT") is not None
    assert info_requests(h) == before + 1


def test_expired_foreign_and_corrupt_files_are_downloaded_again(h: LiveHarness, tmp_path: Path) -> None:
    adapter(h, tmp_path).load_markets()
    (path,) = tmp_path.iterdir()
    doc = json.loads(path.read_text())
    # expired: saved two hours ago, TTL one hour
    doc["saved_s"] = time.time() - 7200
    path.write_text(json.dumps(doc))
    before = info_requests(h)
    again = adapter(h, tmp_path)
    again.load_markets()
    assert not again.markets_from_cache and info_requests(h) == before + 1
    assert json.loads(path.read_text())["saved_s"] > time.time() - 60  # rewritten
    # another configuration (testnet flag, base URL) has its own file and never reads this one
    key = doc["key"]
    assert read_markets(path, key.replace("|main", "|sandbox"), 3600) is None
    other = adapter(h, tmp_path, base_url=h.url + "/")
    other.load_markets()
    assert not other.markets_from_cache and len(list(tmp_path.iterdir())) == 2
    # corrupt: not JSON, or markets ccxt cannot take
    path.write_bytes(b"{not json")
    broken = adapter(h, tmp_path)
    assert broken.market_rules("BTC/USDT").symbol == "BTC/USDT" and not broken.markets_from_cache
    good = json.loads(path.read_text())
    write_markets(path, good["key"], {"BTC/USDT": {"symbol": "BTC/USDT"}}, None)
    odd = adapter(h, tmp_path)  # no spot market in it: not usable, downloaded again
    assert odd.market_rules("BTC/USDT").symbol == "BTC/USDT" and not odd.markets_from_cache


def test_ttl_zero_or_no_directory_keeps_nothing_and_forget_deletes(h: LiveHarness, tmp_path: Path) -> None:
    adapter(h, tmp_path / "off", markets_ttl_s=0).load_markets()
    adapter(h, None).load_markets()
    assert not (tmp_path / "off").exists()
    ex = adapter(h, tmp_path)
    ex.load_markets()
    (path,) = tmp_path.iterdir()
    ex.forget_cached_markets()
    assert not path.exists()
    ex.forget_cached_markets()  # already gone: nothing happens


def test_an_unwritable_directory_costs_a_download_only(h: LiveHarness, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ex = adapter(h, blocker / "markets")
    assert ex.market_rules("BTC/USDT").symbol == "BTC/USDT"
    path = cache_file(tmp_path, "k", "binance")
    assert not write_markets(blocker / "x" / path.name, "k", {"a": {}}, None)


def test_live_steps_reuse_the_markets_and_forget_them_after_a_refusal(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("TRADEBOT_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY", KEY)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", SECRET)
    with LiveHarness([walk("BTC/USDT", 160)]) as lh:
        ov = {"home": str(tmp_path), "market": {"exchange": "binance", "timeframe": "1m"},
              "strategy": {"name": "rsi", "params": {"period": 2, "lower": 45, "upper": 55}},
              "exchanges": {"binance": {"base_url": lh.url, "rate_limit": False, "timeout_ms": 2000}},
              "live": {"enabled": True, "max_price_deviation_pct": 50.0}}
        ctx = Context(load_settings(env={}, overrides=ov))
        lh.close_bar(40)
        run_live(ctx, "mc", PairList(("BTC/USDT",), "test"), yes=True)
        for bar in (41, 42):
            lh.close_bar(bar)
            run_live(ctx, "mc", yes=True)
        assert info_requests(lh) == 1  # three runs, one download
        (path,) = (tmp_path / "cache" / "markets").iterdir()

        # the exchange refuses the next order (as binance does when a filter changed)
        def refuse(self: CcxtExchange, *a: object, **k: object) -> None:
            raise InvalidOrder("binance create_order: Filter failure: NOTIONAL")

        monkeypatch.setattr(CcxtExchange, "create_order", refuse)
        bar, rejected = 42, 0
        while not rejected:
            bar += 1
            assert bar < 150, "no order was intended"
            lh.close_bar(bar)
            rejected = run_live(ctx, "mc", yes=True).rejected
        assert not path.exists()  # forgotten: the next run loads the rules again
        monkeypatch.undo()
        monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY", KEY)
        monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", SECRET)
        lh.close_bar(bar + 1)
        run_live(ctx, "mc", yes=True)
        assert info_requests(lh) == 2 and path.exists()
