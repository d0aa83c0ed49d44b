"""The main job end to end: ``tradebot backtest`` on an empty home (the built-in sim market),
stored runs, ``report``, ``--rerun``, ``--json``, ``--no-save``, ``--param``, ``--preset``,
``--fee``, every built-in strategy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import Result, snapshot

SHA256 = re.compile(r"^[0-9a-f]{64}$")

#: Labels of the summary table whose values must be equal between a run and its report.
SUMMARY_LABELS = (
    "Backtesting from",
    "Backtesting to",
    "Bars / days",
    "Starting balance",
    "Final balance",
    "Total return",
    "CAGR",
    "Max drawdown",
    "Max drawdown (abs)",
    "Sharpe",
    "Sortino",
    "Calmar",
    "Trades",
    "Win / draw / loss",
    "Win rate",
    "Profit factor",
    "Expectancy",
    "Exposure",
    "Fees paid",
    "Avg daily P&L",
)


def summary_values(text: str) -> dict[str, str]:
    """``{label: value}`` of the rendered summary table (the first row with each label)."""
    out: dict[str, str] = {}
    for label in SUMMARY_LABELS:
        m = re.search(rf"^\s*{re.escape(label)}\s{{2,}}(\S.*?)\s*$", text, re.MULTILINE)
        assert m, f"no {label!r} row in the report:\n{text}"
        out[label] = m.group(1)
    return out


def trade_count(text: str) -> int:
    m = re.search(r"^\s*Trades\s+([\d,]+) \(", text, re.MULTILINE)
    assert m, f"no trade count in the report:\n{text}"
    return int(m.group(1).replace(",", ""))


def runs(run) -> list[dict]:  # type: ignore[no-untyped-def]
    res = run("report", "--list", "--json")
    assert res.code == 0, res
    return res.json()["runs"]


def backtest_json(run, *args: str) -> dict:  # type: ignore[no-untyped-def]
    res = run("backtest", "--json", *args)
    assert res.code == 0, res
    return res.json()


# --------------------------------------------------------------------------- the main job


def test_main_job_offline_on_empty_home(run_subprocess, run, home: Path) -> None:  # type: ignore[no-untyped-def]
    """`tradebot backtest --strategy rsi` as a user types it: a full report, stored as run 1."""
    assert not home.exists()
    res: Result = run_subprocess("backtest", "--strategy", "rsi")
    assert res.code == 0, res
    assert "Traceback" not in res.output
    # stderr: nothing, or (kernels not cached yet) the one line saying they compile once
    assert all(x.startswith("compiling the engine's kernels once") for x in res.err.strip().splitlines()), res
    out = res.out
    assert "synthetic" in out and "sim" in out  # says the data is the built-in market
    assert "Sharpe" in out and "Sortino" in out
    assert "Max drawdown" in out
    assert "Monthly returns" in out and "Exit reasons" in out
    assert trade_count(out) > 0
    assert "Stored as run 1" in out
    dd = summary_values(out)["Max drawdown"]
    assert float(dd.rstrip("%")) > 0  # drawdowns exist on the sim market

    # report --list lists it; report 1 shows the same numbers
    listed = run("report", "--list")
    assert listed.code == 0, listed
    assert re.search(r"^\s*1\s+\S.*\brsi\b.*BTC/USDT", listed.out, re.MULTILINE), listed
    assert [r["id"] for r in runs(run)] == [1]

    shown = run("report", "1")
    assert shown.code == 0, shown
    assert summary_values(shown.out) == summary_values(out)
    assert "synthetic" in shown.out

    again = run("report", "1", "--rerun")
    assert again.code == 0, again
    assert "reproduced" in again.out and "NOT" not in again.out
    assert summary_values(again.out) == summary_values(out)


def test_rerun_json_identical(run) -> None:  # type: ignore[no-untyped-def]
    first = backtest_json(run, "--strategy", "macd", "--exchange", "sim", "--timeframe", "4h")
    rid = first["header"]["run_id"]
    res = run("report", str(rid), "--rerun", "--json")
    assert res.code == 0, res
    data = res.json()
    assert data["identical"] is True and data["differences"] == []
    assert data["report"]["summary"]["final_equity"] == first["summary"]["final_equity"]
    assert data["report"]["header"]["data_sha256"] == first["header"]["data_sha256"]


def test_json_output(run) -> None:  # type: ignore[no-untyped-def]
    data = backtest_json(run, "--strategy", "rsi")
    assert data["summary"]["trades"] > 0
    assert SHA256.match(data["header"]["data_sha256"])
    assert data["header"]["run_id"] == 1
    assert data["header"]["strategy"] == "rsi"
    assert data["header"]["data_source"].startswith("sim")
    assert data["trades"] is None  # only with --trades

    # the stored report of the same run has the same summary
    stored = run("report", "1", "--json")
    assert stored.code == 0, stored
    rep = stored.json()
    assert rep["summary"] == data["summary"]
    assert rep["header"]["data_sha256"] == data["header"]["data_sha256"]

    with_trades = backtest_json(run, "--strategy", "rsi", "--trades", "--no-save")
    trades = with_trades["trades"]
    assert len(trades) == with_trades["summary"]["trades"] > 0
    assert {"entry_price", "exit_price", "pnl", "exit_reason"} <= set(trades[0])
    total = sum(t["pnl"] for t in trades)
    assert total == pytest.approx(with_trades["summary"]["final_equity"] - 10_000.0, abs=1e-6)


def test_no_save_stores_nothing(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    res = run("backtest", "--strategy", "rsi", "--no-save")
    assert res.code == 0, res
    assert "Stored as run" not in res.out
    assert trade_count(res.out) > 0
    data = backtest_json(run, "--strategy", "rsi", "--no-save")
    assert data["header"]["run_id"] is None
    assert runs(run) == []

    # with one stored run, --no-save leaves the store byte-for-byte alone
    backtest_json(run, "--strategy", "rsi")
    before = snapshot(home)
    backtest_json(run, "--strategy", "bollinger", "--no-save")
    assert snapshot(home) == before
    assert [r["id"] for r in runs(run)] == [1]


def test_param_changes_result_and_is_stored(run) -> None:  # type: ignore[no-untyped-def]
    default = backtest_json(run, "--strategy", "rsi")
    tuned = backtest_json(run, "--strategy", "rsi", "--param", "period=21", "--param", "lower=25")
    assert tuned["header"]["params"] == {"period": 21, "lower": 25.0, "upper": 70.0}
    assert (tuned["summary"]["trades"], tuned["summary"]["final_equity"]) != (
        default["summary"]["trades"],
        default["summary"]["final_equity"],
    )

    stored = run("report", str(tuned["header"]["run_id"]), "--json")
    assert stored.code == 0, stored
    assert stored.json()["header"]["params"] == {"period": 21, "lower": 25.0, "upper": 70.0}
    assert stored.json()["summary"] == tuned["summary"]
    listing = {r["id"]: r for r in runs(run)}
    assert listing[2]["trades"] == tuned["summary"]["trades"]

    text = run("report", "2")
    assert "period=21" in text.out and "lower=25" in text.out

    # the re-run uses the stored parameters, not the defaults
    again = run("report", "2", "--rerun", "--json")
    assert again.code == 0, again
    assert again.json()["identical"] is True
    assert again.json()["report"]["header"]["params"]["period"] == 21


def test_preset_conservative_applies_stops(run) -> None:  # type: ignore[no-untyped-def]
    plain = backtest_json(run, "--strategy", "rsi", "--no-save")
    data = backtest_json(run, "--strategy", "rsi", "--preset", "conservative")
    reasons = {r["reason"]: r["count"] for r in data["exit_reasons"]}
    assert reasons.get("stop_loss", 0) > 0, reasons
    assert "stop_loss" not in {r["reason"] for r in plain["exit_reasons"]}
    assert data["header"]["preset"] == "conservative"
    assert data["header"]["slippage"]["bps"] == 5.0  # from the preset

    shown = run("config", "show", "--preset", "conservative", "--json")
    assert shown.code == 0, shown
    assert shown.json()["stops"]["stop_loss_pct"] == 2.0

    # the stored run re-runs with the preset's rules
    again = run("report", str(data["header"]["run_id"]), "--rerun", "--json")
    assert again.code == 0, again
    assert again.json()["identical"] is True


def test_cli_option_beats_preset(run) -> None:  # type: ignore[no-untyped-def]
    data = backtest_json(run, "--strategy", "rsi", "--preset", "conservative", "--slippage", "0", "--no-save")
    assert data["header"]["slippage"]["bps"] == 0.0


@pytest.mark.parametrize("strategy", ["rsi", "macd", "bollinger"])
def test_every_builtin_strategy_trades_on_sim(run, strategy: str) -> None:  # type: ignore[no-untyped-def]
    data = backtest_json(run, "--strategy", strategy, "--no-save")
    s = data["summary"]
    assert data["header"]["strategy"] == strategy
    assert s["trades"] > 0
    assert s["max_drawdown_pct"] > 0
    assert s["final_equity"] != pytest.approx(10_000.0)
    res = run("backtest", "--strategy", strategy, "--exchange", "sim", "--timeframe", "4h")
    assert res.code == 0, res
    assert trade_count(res.out) > 0


def test_fee_lowers_final_equity(run) -> None:  # type: ignore[no-untyped-def]
    free = backtest_json(run, "--strategy", "rsi", "--fee", "0", "--no-save")
    costly = backtest_json(run, "--strategy", "rsi", "--fee", "0.002", "--no-save")
    assert free["header"]["fees"] == {"maker": 0.0, "taker": 0.0}
    assert costly["header"]["fees"] == {"maker": 0.002, "taker": 0.002}
    assert free["summary"]["total_fees"] == 0
    assert free["summary"]["final_equity"] > costly["summary"]["final_equity"]


def test_capital_and_range(run) -> None:  # type: ignore[no-untyped-def]
    data = backtest_json(
        run, "--strategy", "rsi", "--capital", "2500", "--since", "2024-03-01", "--until", "2024-09-01", "--no-save"
    )
    s = data["summary"]
    assert s["initial_capital"] == 2500.0
    assert s["start"] == "2024-03-01T00:00:00Z"
    assert s["end"] == "2024-08-31T23:00:00Z"
    assert s["bars"] == data["header"]["rows"] == (31 + 30 + 31 + 30 + 31 + 31) * 24


def test_sim_is_deterministic(run) -> None:  # type: ignore[no-untyped-def]
    a = backtest_json(run, "--strategy", "bollinger", "--no-save")
    b = backtest_json(run, "--strategy", "bollinger", "--no-save")
    assert a["header"]["data_sha256"] == b["header"]["data_sha256"]
    assert a["summary"] == b["summary"]


def test_stored_trades_match_the_run(run) -> None:  # type: ignore[no-untyped-def]
    fresh = backtest_json(run, "--strategy", "bollinger", "--exchange", "sim", "--timeframe", "4h", "--trades")
    rid = fresh["header"]["run_id"]
    res = run("report", str(rid), "--trades", "--json")
    assert res.code == 0, res
    stored = res.json()["trades"]
    assert len(stored) == len(fresh["trades"]) > 0
    for s, f in zip(stored, fresh["trades"], strict=True):
        for key in ("units", "entry_price", "exit_price", "entry_fee", "exit_fee", "pnl", "return_pct", "exit_reason"):
            assert s[key] == f[key], key


def test_trades_flag_lists_trades_in_text(run) -> None:  # type: ignore[no-untyped-def]
    fresh = backtest_json(run, "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1d", "--trades", "--no-save")
    first = fresh["trades"][0]
    res = run("backtest", "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1d", "--trades", "--no-save")
    assert res.code == 0, res
    assert f"{first['entry_price']:,.2f}" in res.out or str(first["entry_price"]) in res.out


def test_blocked_entries_are_reported_and_stored(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRADEBOT_RISK__MAX_TRADES_PER_DAY", "1")
    fresh = backtest_json(run, "--strategy", "rsi", "--exchange", "sim", "--timeframe", "15m")
    blocked = {r["reason"]: r["count"] for r in fresh["blocked_entries"]}
    assert blocked.get("max_trades_per_day", 0) > 0
    stored = run("report", str(fresh["header"]["run_id"]), "--json")
    assert stored.code == 0, stored
    assert stored.json()["blocked_entries"] == fresh["blocked_entries"]
    text = run("report", str(fresh["header"]["run_id"]))
    assert "blocked by risk rules" in text.out


def test_psr_and_bootstrap_intervals_in_json_and_text(run) -> None:  # type: ignore[no-untyped-def]
    """The report says how sure its numbers are: PSR and block-bootstrap 95 % intervals, the
    same in the stored report and on every run (seeded from the run's seed)."""
    data = backtest_json(run, "--strategy", "rsi", "--exchange", "sim")
    s = data["summary"]
    assert 0.0 <= s["psr"] <= 1.0
    assert set(s["ci95"]) == {"return_pct", "sharpe", "target_days_pct"}  # the default target is 5
    for key, point in (("return_pct", s["total_return_pct"]), ("sharpe", s["sharpe"]),
                       ("target_days_pct", s["target_days_pct"])):
        lo, hi = s["ci95"][key]
        assert lo <= point <= hi, key
    assert s["confidence"]["seed"] == data["header"]["seed"] and s["confidence"]["resamples"] == 2000
    stored = run("report", "1", "--json").json()["summary"]
    assert {k: stored[k] for k in ("psr", "ci95", "confidence")} == {k: s[k] for k in ("psr", "ci95", "confidence")}

    text = run("report", "1")
    assert text.code == 0, text
    for label in ("Probabilistic Sharpe (P[SR>0])", "Sharpe 95% CI (block bootstrap)",
                  "Return 95% CI (block bootstrap)", "Target days 95% CI (block bootstrap)"):
        assert re.search(rf"^\s*{re.escape(label)}\s{{2,}}\S", text.out, re.MULTILINE), label
    assert f"{s['psr'] * 100:.1f}%" in text.out

    short = run("backtest", "--strategy", "rsi", "--exchange", "sim", "--since", "2024-03-01",
                "--until", "2024-03-11", "--no-save")
    assert short.code == 0, short
    assert re.search(r"Sharpe 95% CI \(block bootstrap\)\s+n/a \(too few days\)", short.out), short.out
    few = backtest_json(run, "--strategy", "rsi", "--since", "2024-03-01", "--until", "2024-03-11", "--no-save")
    assert few["summary"]["psr"] is None and few["summary"]["ci95"] is None
