"""The read routes return what the CLI's services return: market data and paper accounts."""

from __future__ import annotations

import dataclasses


def test_cached_candles_for_a_range(server) -> None:  # type: ignore[no-untyped-def]
    from tradebot.exchanges.sim import sim_candles

    day = 86_400_000
    start = 1_704_067_200_000  # 2024-01-01
    candles = dataclasses.replace(sim_candles("BTC/USDT", "1h", since_ms=start, until_ms=start + 10 * day, seed=7),
                                  exchange="binance")
    server.ctx.cache.save(candles)
    with server.client(server.tokens.read) as c:
        ds = c.get("/api/market/datasets").json()["datasets"]
        got = [(d["exchange"], d["symbol"], d["timeframe"], d["rows"]) for d in ds]
        assert got == [("binance", "BTC/USDT", "1h", 240)]
        assert "path" not in ds[0]  # the server's file layout is not shown
        q = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}
        r = c.get("/api/market/candles", params={**q, "since": "2024-01-03", "until": "2024-01-04"}).json()
        assert r["rows"] == 24 and r["candles"][0][0] == start + 2 * day
        assert r["candles"][5][4] == float(candles.close[48 + 5])
        last = c.get("/api/market/candles", params={**q, "limit": 3}).json()["candles"]
        assert len(last) == 3 and last[-1][0] == int(candles.timestamp[-1])
        miss = c.get("/api/market/candles", params={**q, "symbol": "ETH/USDT"})
        assert miss.status_code == 422 and "no cached candles for binance ETH/USDT 1h" in miss.json()["detail"]
        bad = c.get("/api/market/candles", params={**q, "since": "soon"})
        assert bad.status_code == 422 and "soon" in bad.json()["detail"]


def test_paper_account_routes(server) -> None:  # type: ignore[no-untyped-def]
    from tradebot.services.bots import bot_context
    from tradebot.services.paper import account_report, run_paper

    cfg = {"strategy": "rsi", "exchange": "sim", "symbol": "BTC/USDT", "timeframe": "1h", "params": {}}
    sub = bot_context(server.ctx, cfg)
    run_paper(sub, "acc", source="sim", since_ms=1_704_067_200_000, now_ms=1_706_745_600_000)  # January, replayed
    want = account_report(server.ctx, "acc", 50)
    with server.client(server.tokens.read) as c:
        assert [a["account"] for a in c.get("/api/accounts").json()["accounts"]] == ["acc"]
        st = c.get("/api/accounts/acc").json()
        assert st["equity"] == want["equity"] and st["strategy"] == "rsi" and "trades" not in st
        assert c.get("/api/accounts/acc/balances").json()["balances"] == want["balances"]
        assert c.get("/api/accounts/acc/position").json()["position"] == want["position"]
        assert len(c.get("/api/accounts/acc/trades").json()["trades"]) == len(want["trades"]) > 0
        orders = c.get("/api/accounts/acc/orders", params={"last": 50}).json()
        assert len(orders["orders"]) == len(want["orders"]) > 0
        assert c.get("/api/accounts/acc/risk-events").json()["counts"] == want["risk_counts"]
        eq = c.get("/api/accounts/acc/equity", params={"max_points": 100}).json()
        assert eq["points"] == 31 * 24 and eq["returned"] <= 102 and eq["equity"][-1] == want["equity"]
        assert c.get("/api/accounts/nobody/equity").status_code == 404
