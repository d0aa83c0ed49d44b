"""Prometheus metrics read from the store at each scrape (``/metrics``).

Every value comes from the store, so any process (cron runs, the server's scheduler) is
counted and a restarted server loses nothing. Names follow Prometheus conventions (base
units, ``_total`` for counters, ``_seconds``, ``_ratio``)::

    tradebot_backtest_runs                       stored backtest runs
    tradebot_paper_accounts                      paper accounts
    tradebot_runs_total{job,outcome}             scheduled runs (job: ``paper:<account>``,
                                                 ``backup``), outcome ok or failed
    tradebot_errors_total{command,type}          errors recorded (tradebot errors)
    tradebot_order_errors_total{account}         errors of order handling (rejected, not found,
                                                 insufficient funds)
    tradebot_step_duration_seconds{job}          duration of the job's last successful run
    tradebot_last_success_timestamp_seconds{job}
    tradebot_account_equity{account,quote}       equity at the last processed candle
    tradebot_account_drawdown_ratio{account}     drawdown from the equity peak (0.1 = 10 %)
    tradebot_account_trades{account}             closed trades
    tradebot_last_candle_age_seconds{account,exchange,symbol,timeframe}
                                                 now minus the close of the last processed candle
    tradebot_open_incidents                      incidents not yet resolved
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from tradebot.data.db import Store

__all__ = ["ORDER_ERRORS", "StoreCollector", "render_metrics"]

ORDER_ERRORS = frozenset({"InvalidOrder", "InsufficientFunds", "OrderNotFound"})


def _samples(store: Store, now_s: float) -> dict[str, Any]:
    from sqlalchemy import func, select

    from tradebot.core.timeframes import timeframe_ms
    from tradebot.data.models import BacktestRun, PaperAccount, PaperEquity
    from tradebot.data.ops_models import OpsError, OpsHeartbeat, OpsIncident

    with store.session() as session:
        runs = session.scalar(select(func.count()).select_from(BacktestRun)) or 0
        accounts = list(session.scalars(select(PaperAccount).order_by(PaperAccount.name)))
        errors = session.execute(select(OpsError.command, OpsError.error_type, func.count())
                                 .group_by(OpsError.command, OpsError.error_type)).all()
        failed_jobs = {f"{c}:{a}" if a else c: n for c, a, n in session.execute(
            select(OpsError.command, OpsError.account, func.count())
            .group_by(OpsError.command, OpsError.account)).all()}
        order_errors = session.execute(select(OpsError.account, func.count())
                                       .where(OpsError.error_type.in_(ORDER_ERRORS))
                                       .group_by(OpsError.account)).all()
        beats = list(session.scalars(select(OpsHeartbeat)))
        open_incidents = session.scalar(select(func.count()).select_from(OpsIncident)
                                        .where(OpsIncident.resolved_at.is_(None))) or 0
        per_account = []
        for acct in accounts:
            last = session.execute(select(PaperEquity.equity).where(PaperEquity.account_id == acct.id)
                                   .order_by(PaperEquity.ts_ms.desc()).limit(1)).scalar()
            peak = session.scalar(select(func.max(PaperEquity.equity)).where(PaperEquity.account_id == acct.id))
            equity = float(last) if last is not None else float(acct.initial_capital)
            top = max(float(peak) if peak is not None else equity, float(acct.initial_capital))
            age = None
            if acct.last_bar_ms is not None:
                age = now_s - (acct.last_bar_ms + timeframe_ms(acct.timeframe)) / 1000
            per_account.append((acct, equity, (top - equity) / top if top > 0 else 0.0, age))
    return {"runs": runs, "accounts": per_account, "errors": errors, "order_errors": order_errors,
            "failed_jobs": failed_jobs,
            "beats": beats, "open_incidents": open_incidents}


class StoreCollector:
    """A prometheus_client collector that reads the store at each ``collect()``."""

    def __init__(self, store: Store, clock: Any = time.time):
        self.store = store
        self.clock = clock

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = _samples(self.store, self.clock())
        yield GaugeMetricFamily("tradebot_backtest_runs", "Stored backtest runs.", value=s["runs"])
        yield GaugeMetricFamily("tradebot_paper_accounts", "Paper accounts.", value=len(s["accounts"]))
        yield GaugeMetricFamily("tradebot_open_incidents", "Incidents not yet resolved.",
                                value=s["open_incidents"])
        errors = CounterMetricFamily("tradebot_errors", "Errors recorded by scheduled runs.",
                                     labels=["command", "type"])
        runs = CounterMetricFamily("tradebot_runs", "Scheduled runs by job and outcome.",
                                   labels=["job", "outcome"])
        for command, kind, count in s["errors"]:
            errors.add_metric([command, kind], count)
        for beat in sorted(s["beats"], key=lambda b: b.name):
            runs.add_metric([beat.name, "ok"], beat.runs_ok or 0)
        for job, count in sorted(s["failed_jobs"].items()):
            runs.add_metric([job, "failed"], count)
        yield errors
        yield runs
        orders = CounterMetricFamily("tradebot_order_errors", "Order errors (rejected, not found, funds).",
                                     labels=["account"])
        for account, count in s["order_errors"]:
            orders.add_metric([account or ""], count)
        yield orders
        duration = GaugeMetricFamily("tradebot_step_duration_seconds",
                                     "Duration of the job's last successful run.", labels=["job"])
        success = GaugeMetricFamily("tradebot_last_success_timestamp_seconds",
                                    "When the job last ran successfully (Unix time).", labels=["job"])
        for beat in sorted(s["beats"], key=lambda b: b.name):
            if beat.last_duration_s is not None:
                duration.add_metric([beat.name], beat.last_duration_s)
            if beat.last_ok_at is not None:
                success.add_metric([beat.name], beat.last_ok_at.timestamp())
        yield duration
        yield success
        equity = GaugeMetricFamily("tradebot_account_equity", "Paper account equity at its last candle.",
                                   labels=["account", "quote"])
        drawdown = GaugeMetricFamily("tradebot_account_drawdown_ratio", "Drawdown from the equity peak.",
                                     labels=["account"])
        trades = GaugeMetricFamily("tradebot_account_trades", "Closed trades.", labels=["account"])
        age = GaugeMetricFamily("tradebot_last_candle_age_seconds",
                                "Seconds since the close of the last candle an account processed.",
                                labels=["account", "exchange", "symbol", "timeframe"])
        for acct, eq, dd, candle_age in s["accounts"]:
            equity.add_metric([acct.name, acct.symbol.split("/")[-1].split(":")[0]], eq)
            drawdown.add_metric([acct.name], dd)
            trades.add_metric([acct.name], acct.trades_count)
            if candle_age is not None:
                age.add_metric([acct.name, acct.exchange, acct.symbol, acct.timeframe], candle_age)
        yield equity
        yield drawdown
        yield trades
        yield age


def render_metrics(store: Store, clock: Any = time.time) -> tuple[bytes, str]:
    """The Prometheus text exposition of the store's metrics and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    collector: Collector = StoreCollector(store, clock)  # type: ignore[assignment]
    registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
