"""Drive ``tradebot live`` against the replay exchange, candle by candle (issue 15's proofs).

A :class:`LiveHarness` starts the replay exchange (binance dialect, private spot endpoints,
API keys checked, the fill model of :mod:`tradebot.testing.replay_orders`) in a thread of
the calling process, on 127.0.0.1, with a seeded fault schedule. Its clock is the replay
clock: :meth:`LiveHarness.close_bar` puts it at the close of bar ``i`` (= the open of bar
``i + 1``), so the exchange serves bars ``0..i`` as closed and a market order sent then
fills at the next bar's open — the price the backtest's engine fills at.

``tradebot live`` runs in child processes (:meth:`LiveHarness.run`): cold processes with
the environment of :meth:`LiveHarness.env` (an own ``TRADEBOT_HOME``, the exchange's URL,
the keys in ``TRADEBOT_EXCHANGES__BINANCE__API_KEY``/``__SECRET`` and ``live.enabled``
unless told otherwise), optionally killed with SIGKILL after a delay. What the server saw
and holds is read back directly: :meth:`LiveHarness.accepted_orders` (every new-order
request the exchange carried out, from its ``request_log``), :meth:`LiveHarness.duplicates`
and :meth:`LiveHarness.exchange_state` (balances, orders and trades of the account).

Example::

    with LiveHarness([walk("BTC/USDT", 200)], fault_rate=0.2) as h:
        for i in range(150, 200):
            h.close_bar(i)
            r = h.run(["live", "--account", "a", "--symbol", "BTC/USDT", ...], home)
        assert not h.duplicates()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.testing.replay_exchange import ALL_FAULT_KINDS, FaultConfig, LoggedRequest, ReplayExchange, ReplayMarket

__all__ = [
    "CHAOS_FAULT_KINDS",
    "KEY",
    "SECRET",
    "CliRun",
    "LiveHarness",
    "ledger_snapshot",
    "lock_holders",
    "tradebot_command",
    "walk",
]

#: Test credentials the harness's exchange accepts (never real ones).
KEY, SECRET = "harness-key-TGl2ZUhhcm5lc3M", "harness-secret-bm90LWEtcmVhbC1vbmU"

#: The faults of issue 15's chaos test: 429 and 418 with Retry-After, 5xx, timeouts (the
#: answer comes after the client's timeout), resets, and the two that matter most: the
#: request is carried out but its answer lost, or sent after the client gave up.
CHAOS_FAULT_KINDS: tuple[str, ...] = ("rate_limit", "ban", "server_error", "slow", "reset", "lost_answer",
                                      "late_answer")

_START_MS = 1_700_000_000_000 // 3_600_000 * 3_600_000


def walk(symbol: str = "BTC/USDT", n: int = 200, *, timeframe: str = "1m", start_ms: int = _START_MS,
         price: float = 30_000.0, vol: float = 0.002, seed: int = 7) -> Candles:
    """A random walk of ``n`` candles on a 0.01 tick with volumes on 1e-5 steps: relative
    steps of ``vol`` (enough swings for a short-period RSI to trade every few bars)."""
    from tradebot.core.timeframes import timeframe_ms

    rng = np.random.default_rng(seed)
    close = np.round(price * np.exp(np.cumsum(rng.normal(0.0, vol, n))), 2)
    open_ = np.round(np.concatenate([[price], close[:-1]]), 2)
    spread = price * vol
    high = np.round(np.maximum(open_, close) + rng.uniform(0, spread, n), 2)
    low = np.round(np.minimum(open_, close) - rng.uniform(0, spread, n), 2)
    volume = np.round(rng.uniform(5, 50, n), 5)
    ts = start_ms + np.arange(n, dtype=np.int64) * timeframe_ms(timeframe)
    return Candles(ts, open_, high, low, close, volume, symbol=symbol, timeframe=timeframe, source="synthetic")


def tradebot_command() -> list[str]:
    """The installed ``tradebot`` console script next to this interpreter (else ``-c``)."""
    script = Path(sys.executable).parent / "tradebot"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from tradebot.cli.entry import main; main()"]


def _cache_root() -> Path:
    """The cache directory of this process (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()


def lock_holders(lock: Path) -> set[int]:
    """Pids holding (not waiting for) an flock on ``lock``, from ``/proc/locks`` (Linux)."""
    try:
        st = lock.stat()
        text = Path("/proc/locks").read_text()
    except OSError:
        return set()
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = set()
    for line in text.splitlines():
        fields = line.split()
        if "->" not in fields and len(fields) >= 6 and fields[5] == dev:
            pids.add(int(fields[4]))
    return pids


@dataclass(frozen=True)
class CliRun:
    """One child process: exit code (``-9`` when killed), output, wall seconds, and for a
    kill whether it landed while the process held the account's lock (inside a step)."""

    code: int
    out: str
    err: str
    seconds: float
    killed: bool = False
    in_step: bool = False

    @property
    def text(self) -> str:
        return self.out + self.err


class _Exchange(ReplayExchange):
    """The replay exchange with faults forced on chosen new-order requests (on top of the
    drawn ones: the draw sequence is the same)."""

    forced_order_faults: dict[int, str] = {}
    _orders_seen = 0

    def _draw_fault(self, endpoint: str) -> str | None:
        kind = super()._draw_fault(endpoint)
        if endpoint == "order_new":
            self._orders_seen += 1
            forced = self.forced_order_faults.get(self._orders_seen)
            if forced is not None:
                return forced
        return kind


class LiveHarness:
    """The replay exchange for ``tradebot live`` tests and benchmarks (see the module doc).

    ``history``: one :class:`Candles` per market, on the same timestamps. ``fault_rate``:
    the share of requests that get a fault drawn from ``fault_kinds`` (seeded by ``seed``:
    the same request order gives the same faults). ``slow_s``: how late a ``slow`` or
    ``late_answer`` answer comes (set the client's timeout below it: :meth:`env` does).
    ``balances``: the exchange account's starting balances (default 10,000 of the quote).
    ``order_faults``: faults forced on the n-th new-order request (1-based), on top of
    the drawn ones, e.g. ``{1: "lost_answer", 2: "late_answer"}``: every run of a test
    meets the faults that matter most whatever the draw gives the order requests.
    """

    def __init__(self, history: Sequence[Candles], *, fault_rate: float = 0.0,
                 fault_kinds: Sequence[str] = CHAOS_FAULT_KINDS, seed: int = 0, slow_s: float = 1.2,
                 retry_after_s: float = 0.05, client_timeout_ms: int = 800,
                 balances: Mapping[str, float] | None = None, fee_rate: str = "0.001",
                 fee_asset: str = "quote", api_key: str = KEY, secret: str = SECRET,
                 order_faults: Mapping[int, str] | None = None) -> None:
        from decimal import Decimal

        from tradebot.testing.replay_orders import AccountConfig

        if not history:
            raise ValueError("LiveHarness needs at least one market's candles")
        ts = history[0].timestamp
        for c in history[1:]:
            if not np.array_equal(c.timestamp, ts):
                raise ValueError("LiveHarness: every market's candles must share the same timestamps")
        self.history = list(history)
        self.symbols = tuple(c.symbol for c in history)
        self.timestamps = np.asarray(ts, dtype=np.int64)
        self.tf_ms = int(self.timestamps[1] - self.timestamps[0]) if len(ts) > 1 else 60_000
        quote = {c.symbol.split("/")[1].split(":")[0] for c in history}
        self.api_key, self.secret = api_key, secret
        self.client_timeout_ms = int(client_timeout_ms)
        self.fault_config = FaultConfig(rate=fault_rate, kinds=tuple(fault_kinds), seed=seed, slow_s=slow_s,
                                        retry_after_s=retry_after_s)
        self.server = _Exchange(
            [ReplayMarket(c.symbol, c, c.timeframe or None) for c in history], "binance",
            faults=self.fault_config, now_ms=int(self.timestamps[0]) + self.tf_ms, seed=seed,
            balances=dict(balances) if balances is not None else {q: 10_000.0 for q in sorted(quote)},
            api_keys={api_key: secret}, account=AccountConfig(fee_rate=Decimal(fee_rate), fee_asset=fee_asset))
        self.server.forced_order_faults = dict(order_faults or {})
        bad = sorted(set(self.server.forced_order_faults.values()) - set(ALL_FAULT_KINDS))
        if bad:
            raise ValueError(f"unknown fault kind(s) {bad}")
        #: (wall time, client id) of every new order the exchange's handler carried out
        self.order_arrivals: list[tuple[float, str]] = []
        routes = self.server.dialect.routes
        endpoint, handler = routes[("POST", "/api/v3/order")]

        def timed(req: Any) -> Any:
            self.order_arrivals.append((time.time(), req.query.get("newClientOrderId", "")))
            return handler(req)

        routes[("POST", "/api/v3/order")] = (endpoint, timed)

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> LiveHarness:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    # --- the replay clock ----------------------------------------------------------------
    def close_bar(self, i: int) -> int:
        """Put the exchange's clock at the close of bar ``i`` (the open of bar ``i + 1``):
        bars ``0..i`` are closed; a market order fills at bar ``i + 1``'s open. Resting
        limit orders are matched on the bars that closed meanwhile. Returns the time."""
        if not 0 <= i < len(self.timestamps):
            raise IndexError(f"bar {i} is outside the history (0..{len(self.timestamps) - 1})")
        target = int(self.timestamps[i]) + self.tf_ms
        if target >= self.server.now_ms:
            self.server.advance(target - self.server.now_ms)
        else:
            self.server.now_ms = target
        return target

    def bar_ms(self, i: int) -> int:
        return int(self.timestamps[i])

    def next_open(self, i: int, symbol: str | None = None) -> float:
        """The price a market order sent at the close of bar ``i`` fills at."""
        c = self.history[self.symbols.index(symbol) if symbol else 0]
        return float(c.open[i + 1]) if i + 1 < len(c) else float(c.close[i])

    # --- child processes -----------------------------------------------------------------
    def env(self, home: Path, *, keys: bool = True, enabled: bool = True,
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a ``tradebot live`` child: no ``TRADEBOT_*`` of the caller, an
        own home, the exchange's URL with rate limiting off and a short client timeout (below
        ``slow_s``, so slow answers are timeouts), the keys and ``live.enabled`` unless told
        otherwise, and ``HOME`` pointed at ``home`` (no user file can leak in) — but the
        kernel cache where this process has it (``XDG_CACHE_HOME``: compiled code only)."""
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
        env.update({"TRADEBOT_HOME": str(home), "HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1",
                    "PYTHONUNBUFFERED": "1",
                    "TRADEBOT_EXCHANGES__BINANCE__BASE_URL": self.url,
                    "TRADEBOT_EXCHANGES__BINANCE__RATE_LIMIT": "false",
                    "TRADEBOT_EXCHANGES__BINANCE__TIMEOUT_MS": str(self.client_timeout_ms)})
        if not env.get("NUMBA_CACHE_DIR"):  # the compiled kernels stay where they are: a cold cache
            env["XDG_CACHE_HOME"] = str(_cache_root())  # would compile the engine in every child
        if keys:
            env["TRADEBOT_EXCHANGES__BINANCE__API_KEY"] = self.api_key
            env["TRADEBOT_EXCHANGES__BINANCE__SECRET"] = self.secret
        if enabled:
            env["TRADEBOT_LIVE__ENABLED"] = "true"
        env.update(extra or {})
        return env

    def run(self, args: Sequence[str], env: Mapping[str, str], *, kill_after_s: float | None = None,
            lock: Path | None = None, timeout_s: float = 120.0, stdin: str | None = None) -> CliRun:
        """Run ``tradebot ARGS`` as a child process. With ``kill_after_s``: SIGKILL it that
        many seconds after it took ``lock`` (the account's lock: it is inside a step), or
        after its start when no ``lock`` is given, if it still runs then (``killed``;
        ``in_step``: it held the lock at that instant)."""
        cmd = tradebot_command() + [str(a) for a in args]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=dict(env), stdin=subprocess.PIPE if stdin is not None else
                                subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=env.get("TRADEBOT_HOME") or None)
        killed = in_step = False
        if kill_after_s is not None:
            deadline = time.monotonic() + timeout_s
            if lock is not None:  # wait until it holds the lock (or ends)
                while proc.poll() is None and proc.pid not in lock_holders(lock) and time.monotonic() < deadline:
                    time.sleep(0.003)
            try:
                proc.wait(timeout=kill_after_s)
            except subprocess.TimeoutExpired:
                in_step = lock is not None and proc.pid in lock_holders(lock)
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
        try:
            out, err = proc.communicate(stdin, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"tradebot {' '.join(map(str, args))} ran over {timeout_s} s:\n{out}\n{err}") from None
        return CliRun(proc.returncode, out, err, time.perf_counter() - t0, killed, in_step)

    # --- what the exchange saw and holds -------------------------------------------------
    @property
    def request_log(self) -> list[LoggedRequest]:
        return self.server.request_log

    def accepted_orders(self) -> list[LoggedRequest]:
        """Every new-order request the exchange carried out and accepted (its answer may
        have been lost or late): ``POST /api/v3/order`` processed with status 200."""
        return [r for r in self.server.request_log
                if r.endpoint == "order_new" and r.processed and r.status == 200]

    def order_requests(self) -> list[LoggedRequest]:
        """Every new-order request that reached the exchange, whatever became of it."""
        return [r for r in self.server.request_log if r.endpoint == "order_new"]

    def accepted_per_client_id(self) -> Counter[str]:
        return Counter(r.params.get("newClientOrderId", "") for r in self.accepted_orders())

    def duplicates(self) -> dict[str, int]:
        """Client ids with more than one accepted order: in the request log, or among the
        orders the exchange's account holds. Empty when no intent was placed twice."""
        out = {cid: n for cid, n in self.accepted_per_client_id().items() if n > 1}
        held = Counter(o["client_order_id"] for o in self.exchange_state()["orders"])
        out.update({cid: n for cid, n in held.items() if n > 1})
        return out

    @property
    def account(self) -> Any:
        """The exchange's :class:`~tradebot.testing.replay_orders.SpotAccount`."""
        return self.server.dialect.orders  # type: ignore[attr-defined]

    def exchange_state(self) -> dict[str, Any]:
        """Balances (free, locked), orders and trades of the exchange's account, as plain
        values (amounts as decimal strings) that compare equal across runs."""
        acct = self.account
        with acct._lock:
            balances = {a: {"free": str(acct.free.get(a, 0)), "locked": str(acct.locked.get(a, 0))}
                        for a in sorted(set(acct.free) | set(acct.locked))}
            orders = [{"order_id": o.order_id, "client_order_id": o.client_order_id, "symbol": o.symbol,
                       "side": o.side, "type": o.type, "price": str(o.price), "amount": str(o.orig_qty),
                       "filled": str(o.executed_qty), "cost": str(o.cum_quote), "status": o.status,
                       "time": o.time} for o in sorted(acct.orders.values(), key=lambda o: o.order_id)]
            trades = [{"trade_id": t.trade_id, "order_id": t.order_id, "symbol": t.symbol, "price": str(t.price),
                       "amount": str(t.qty), "fee": str(t.commission), "fee_asset": t.commission_asset,
                       "time": t.time, "buy": t.is_buyer} for t in acct.trades]
        return {"balances": balances, "orders": orders, "trades": trades}

    def fault_counts(self) -> dict[str, int]:
        """Faults injected so far, per kind."""
        return dict(self.server.stats.faults)

    def order_faults(self) -> Counter[str]:
        """Faults injected into new-order requests, per kind (lost_answer, late_answer, ...)."""
        return Counter(r.fault for r in self.order_requests() if r.fault)


#: The live account's rows that a run derives from the candles and the exchange's answers
#: (no row ids, no wall-clock times, no event log: faults and kills change those).
LEDGER_QUERIES: dict[str, str] = {
    "accounts": "SELECT name, mode, exchange, timeframe, symbols, strategy, params, history_start_ms, "
                "last_bar_ms, state, trades_count FROM portfolio_accounts ORDER BY name",
    "trades": "SELECT a.name, t.* FROM portfolio_account_trades t JOIN portfolio_accounts a "
              "ON a.id = t.account_id ORDER BY a.name, t.seq",
    "equity": "SELECT a.name, e.ts_ms, e.equity, e.cash, e.positions FROM portfolio_account_equity e "
              "JOIN portfolio_accounts a ON a.id = e.account_id ORDER BY a.name, e.ts_ms",
    "orders": "SELECT account, client_order_id, symbol, bar_ms, intent, side, type, amount, price, state, filled, "
              "average, exchange_order_id, reason FROM live_orders ORDER BY account, bar_ms, client_order_id",
    "fills": "SELECT a.name, f.trade_id, f.client_order_id, f.symbol, f.side, f.price, f.amount, f.fee_cost, "
             "f.fee_currency, f.ts_ms FROM live_fills f JOIN portfolio_accounts a ON a.id = f.account_id "
             "ORDER BY a.name, f.ts_ms, f.trade_id",
}
_DROP = frozenset({"id", "account_id"})


def ledger_snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of :data:`LEDGER_QUERIES` in the SQLite store ``db`` (read with sqlite3;
    the ``id``/``account_id`` columns of ``t.*`` left out)."""
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for name, query in LEDGER_QUERIES.items():
            cur = con.execute(query)
            keep = [i for i, d in enumerate(cur.description) if d[0] not in _DROP]
            out[name] = [tuple(row[i] for i in keep) for row in cur.fetchall()]
        return out
    finally:
        con.close()
