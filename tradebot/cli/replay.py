"""``tradebot replay-exchange``: serve candle files as a local exchange that ccxt can talk to."""

from __future__ import annotations

import re
from pathlib import Path

import typer

_TIMEFRAME = re.compile(r"^\d+[smhdwM]$")
_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "TUSD", "USD", "EUR", "BTC", "ETH", "BNB")


def guess_symbol(path: Path) -> str | None:
    """The unified symbol a candle file's name suggests, or None.

    ``octobot_Binance_BTC_USDT-4h.csv.gz`` -> ``BTC/USDT``; ``XRP_USDT_USDT-5m`` ->
    ``XRP/USDT:USDT``; ``nautilus_BTC-PERP-1m`` -> ``BTC/USDT:USDT``; ``BTCUSDT-1h.csv`` -> ``BTC/USDT``.
    """
    stem = path.name
    for ext in (".gz", ".csv", ".json", ".feather", ".parquet"):
        stem = stem.removesuffix(ext)
    tokens = re.split(r"[_\-\s.]+", stem)
    at = max((i for i, t in enumerate(tokens) if _TIMEFRAME.match(t)), default=len(tokens))
    names: list[str] = []
    for t in reversed(tokens[:at]):
        if not (t.isalnum() and t.upper() == t) or t.isdigit():
            break
        names.insert(0, t)
    if len(names) >= 3 and names[-1] == names[-2]:
        return f"{names[-3]}/{names[-2]}:{names[-1]}"
    if len(names) >= 2:
        base, quote = names[-2], names[-1]
        return f"{base}/USDT:USDT" if quote == "PERP" else f"{base}/{quote}"
    if len(names) == 1:
        for q in _QUOTES:
            if names[0].endswith(q) and len(names[0]) > len(q):
                return f"{names[0][: -len(q)]}/{q}"
    return None


def _parse_now(text: str) -> int:
    from tradebot.core.errors import UsageError

    t = text.strip()
    if t.lstrip("-").isdigit():
        v = int(t)
        return v * 1000 if abs(v) < 100_000_000_000 else v
    import pandas as pd

    try:
        ts = pd.Timestamp(t)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        return int(ts.value // 1_000_000)
    except (ValueError, TypeError) as e:
        raise UsageError(f"--now {text!r}: expected epoch milliseconds or an ISO-8601 date") from e


def replay_exchange(
    data: list[Path] = typer.Option(..., "--data", "-d",
                                    help="Candle CSV file (timestamp,open,high,low,close,volume; plain or "
                                         "gzip). Repeat for several markets."),
    symbol: list[str] = typer.Option([], "--symbol", "-s",
                                     help="Unified symbol for each --data file, in order (e.g. BTC/USDT). "
                                          "Default: guessed from the file name (BTC_USDT-4h -> BTC/USDT)."),
    timeframe: list[str] = typer.Option([], "--timeframe", "-t",
                                        help="Timeframe for each --data file (default: the file's spacing)."),
    dialect: str = typer.Option("binance", "--dialect", help="REST dialect: binance or okx."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(0, "--port", "-p", help="Port (0 = any free port)."),
    fault_rate: float = typer.Option(0.0, "--fault-rate", help="Share of requests (0..1) that get a fault."),
    fault_kinds: str = typer.Option("", "--fault-kinds",
                                    help="Comma-separated fault kinds (default: rate_limit, server_error, slow, "
                                         "truncated, malformed_json, html, drop; extras: ban, empty_body, reset, "
                                         "lost_answer, late_answer)."),
    retry_after: float = typer.Option(0.2, "--retry-after", help="Retry-After seconds sent with HTTP 429/418."),
    slow: float = typer.Option(2.0, "--slow", help="Seconds a 'slow' fault waits before answering."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fault sequence and synthetic books/trades."),
    now: str | None = typer.Option(None, "--now",
                                   help="Exchange clock (epoch ms or ISO date). Default: half a candle after "
                                        "the last candle opened, so the last candle is still open."),
    reject_key: list[str] = typer.Option(["rejected"], "--reject-key",
                                         help="API key(s) answered with an authentication error."),
) -> None:
    """Serve candle files over a local exchange REST API (Binance or OKX) for ccxt, with optional faults."""
    import signal
    import threading

    from tradebot.core.errors import UsageError
    from tradebot.testing.replay_exchange import (
        ALL_FAULT_KINDS,
        DEFAULT_FAULT_KINDS,
        FaultConfig,
        ReplayExchange,
        ReplayMarket,
    )

    if dialect not in ("binance", "okx"):
        raise UsageError(f"--dialect {dialect!r}: expected binance or okx")
    if symbol and len(symbol) != len(data):
        raise UsageError(f"--symbol given {len(symbol)} time(s) for {len(data)} --data file(s): give one per file "
                         "or none")
    if timeframe and len(timeframe) not in (1, len(data)):
        raise UsageError(f"--timeframe given {len(timeframe)} time(s) for {len(data)} --data file(s)")
    markets = []
    for i, path in enumerate(data):
        sym = symbol[i] if symbol else guess_symbol(path)
        if not sym:
            raise UsageError(f"{path}: cannot tell the symbol from the file name; pass --symbol BASE/QUOTE")
        tf = (timeframe[i] if len(timeframe) == len(data) else timeframe[0]) if timeframe else None
        markets.append(ReplayMarket(sym, path, tf))
    kinds = tuple(k.strip() for k in fault_kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in ALL_FAULT_KINDS]
    if bad:
        raise UsageError(f"--fault-kinds: unknown kind(s) {', '.join(bad)}; known: {', '.join(ALL_FAULT_KINDS)}")
    if not 0.0 <= fault_rate <= 1.0:
        raise UsageError(f"--fault-rate {fault_rate}: expected a share between 0 and 1")
    try:
        faults = FaultConfig(rate=fault_rate, retry_after_s=retry_after, slow_s=slow, seed=seed,
                             kinds=kinds or DEFAULT_FAULT_KINDS)
        server = ReplayExchange(markets, dialect=dialect, faults=faults,
                                now_ms=_parse_now(now) if now else None, seed=seed, host=host, port=port,
                                rejected_api_keys=reject_key)
    except ValueError as e:
        raise UsageError(str(e)) from e
    try:
        url = server.start()
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e

    from tradebot.data.validation import format_ts

    typer.echo(f"replay exchange ({dialect}) listening on {url}")
    for m in server.markets.values():
        s = m.series
        typer.echo(f"  {m.symbol:<16} {m.timeframe:>4}  {len(s):>9,} candles  "
                   f"{format_ts(int(s.ts[0]))} .. {format_ts(int(s.ts[-1]))}")
    typer.echo(f"  clock: {format_ts(server.now_ms)} ({server.now_ms})"
               + (f"; faults on {fault_rate:.0%} of requests" if fault_rate else ""))
    typer.echo("\nUse it from tradebot's config:\n")
    typer.echo(f'[exchanges.{dialect}]\nbase_url = "{url}"\n')
    typer.echo("or from ccxt: tradebot.testing.replay_exchange.point_ccxt_at(exchange, "
               f'"{url}")\nPress Ctrl-C to stop.', err=False)

    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        stats = server.stats.as_dict()
        typer.echo(f"\nstopped: {stats['total_requests']:,} requests, {stats['klines_served']:,} candles served, "
                   f"{stats['faults_total']:,} faults")
