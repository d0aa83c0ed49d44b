"""Selection agents (thompson, linucb, qlearn) walked forward over engine-made candidate records.

Candidates (engine runs, fees 0.1 %, shorts allowed): ``trend`` (12/48-bar moving-average cross,
long and short), ``reversion`` (24-bar z-score beyond +-1, out at 0), ``flat``. Windows of 48
hourly bars; the context is S1's regime features at each window's start. Prints, per market
and seed, the sum of window returns of each candidate alone, the equal-weight blend, the oracle
(best candidate per window in hindsight) and each agent (switching cost 0.2 % paid), and the
cost of one agent step (load state, choose, learn 10 arms, save state) for 10 candidates.

    .venv/bin/python bench/bench_agents.py

``--proof``: the selection proof's setting (:func:`tradebot.testing.markets.proof_market`:
trend-up and range segments of 600-1500 hourly bars, 9,600 bars; windows of 48 bars, 30 warm-up
windows; a 48-bar Bollinger breakout and a 10-bar Bollinger mean reverter; fee 0.1 %, slippage 5
bps) through ``evaluate_selector`` for every method, on the seeds the setting was chosen on
(100-109), the test's seeds (1-5) and driftless random walks (1-10): per method, on how many
seeds it beat every candidate and the equal-weight blend by return, and on how many the
verdict claimed it.

    .venv/bin/python bench/bench_agents.py --proof
"""

from __future__ import annotations

import json
import time

import numpy as np

SWITCH = 0.002
WINDOW = 48


def _sma(x: np.ndarray, n: int) -> np.ndarray:
    c = np.cumsum(np.insert(x, 0, 0.0))
    out = np.full(x.shape, np.nan)
    out[n - 1:] = (c[n:] - c[:-n]) / n
    return out


def market_record(candles):  # type: ignore[no-untyped-def]
    from tradebot.core.signals import Signals
    from tradebot.engine.config import EngineConfig
    from tradebot.ml.select.record import record_from_equities, run_equities, window_bounds

    n = len(candles)
    lc = np.log(np.asarray(candles.close, dtype=float))
    gap = np.nan_to_num(_sma(lc, 12) - _sma(lc, 48))
    trend = Signals(entries=gap > 0, exits=gap < 0, short_entries=gap < 0, short_exits=gap > 0)
    m = _sma(lc, 24)
    sd = np.sqrt(np.maximum(_sma(lc ** 2, 24) - m ** 2, 0))
    z = np.nan_to_num((lc - m) / np.where(sd > 0, sd, np.nan))
    rev = Signals(entries=z < -1.0, exits=z > 0.0, short_entries=z > 1.0, short_exits=z < 0.0)
    flat = Signals(entries=np.zeros(n, bool), exits=np.zeros(n, bool))
    cfg = EngineConfig(allow_short=True)
    eq = run_equities(candles, [trend, rev, flat], cfg)
    return record_from_equities(candles, ("trend", "reversion", "flat"), eq, window_bounds(n, WINDOW),
                                cfg.initial_capital)


def compare(label: str, rec) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from tradebot.ml.agents import AGENTS, walk_forward_choices

    r = rec.returns
    row = {f"{n}": float(v) for n, v in zip(rec.names, r.sum(axis=0), strict=True)}
    row["blend"] = float(r.mean(axis=1).sum())
    row["oracle"] = float(r.max(axis=1).sum())
    t0 = time.perf_counter()
    for m in AGENTS:
        row[m] = float(walk_forward_choices(rec, m, seed=0, switch_cost=SWITCH).rewards.sum())
    dt = time.perf_counter() - t0
    best_arm = max(row[n] for n in rec.names)
    wins = [m for m in AGENTS if row[m] > best_arm and row[m] > row["blend"]]
    print(f"{label:<34} " + " ".join(f"{k} {v:7.2f}" for k, v in row.items())
          + f" | beat every arm+blend: {','.join(wins) or '-'} | 3 agents x {r.shape[0]} windows {dt:.2f} s")
    return row


def step_cost() -> None:
    from tradebot.ml.agents import AGENTS, agent_from_state, make_agent

    rng = np.random.default_rng(0)
    c, f = 10, 14
    for m in AGENTS:
        agent = make_agent(m, c, f, seed=0)
        for _ in range(100):
            x = rng.standard_normal(f)
            agent.choose(x)
            for a in range(c):
                agent.update(x, a, 0.01 * rng.standard_normal())
        text = json.dumps(agent.to_state())
        t0 = time.perf_counter()
        reps = 200
        for _ in range(reps):
            ag = agent_from_state(json.loads(text))
            x = rng.standard_normal(f)
            ag.choose(x)
            for a in range(c):
                ag.update(x, a, 0.01)
            json.dumps(ag.to_state(), sort_keys=True)
        per = (time.perf_counter() - t0) / reps
        print(f"one step of {m:<8} (10 candidates, 14 features: restore, choose, learn 10, save): "
              f"{per * 1e3:.2f} ms, state {len(text) / 1024:.1f} KiB")


PROOF_TREND = "bollinger:period=48,mode=breakout"
PROOF_REVERT = "bollinger:period=10,std=1.5"
PROOF_WINDOW = "48"
PROOF_MIN_TRAIN = 30


def proof_case(candles, seed: int, methods: tuple[str, ...]) -> dict[str, tuple[bool, bool, float]]:  # type: ignore[no-untyped-def]
    """Per method: (beat every candidate and the blend, verdict claims it, selector return %)."""
    import tempfile
    from dataclasses import replace

    from tradebot.core.config import load_settings
    from tradebot.ml.select.verdict import BEATS
    from tradebot.services.context import Context
    from tradebot.services.selector import evaluate_selector

    out = {}
    with tempfile.TemporaryDirectory() as home:
        ctx = Context(load_settings(overrides={
            "home": home, "market": {"exchange": "synth", "symbol": "TEST/USDT", "timeframe": "1h"},
            "slippage": {"bps": 5.0}}, env={}))
        ctx.cache.save(replace(candles, exchange="synth", symbol="TEST/USDT"))
        for m in methods:
            rep = evaluate_selector(ctx, [PROOF_TREND, PROOF_REVERT], window=PROOF_WINDOW,
                                    min_train_windows=PROOF_MIN_TRAIN, method=m, seed=seed, save=False).report
            sel = next(ln for ln in rep["lines"] if ln["kind"] == "selector")
            others = [ln for ln in rep["lines"] if ln["kind"] in ("candidate", "blend")]
            out[m] = (all(sel["return_pct"] > o["return_pct"] for o in others), rep["verdict"]["verdict"] == BEATS,
                      float(sel["return_pct"]))
    return out


def proof() -> None:
    from tradebot.ml.select.model import methods
    from tradebot.testing.markets import proof_market

    ms = methods()
    groups = (("planted, seeds 100-109 (setting chosen)", range(100, 110), True),
              ("planted, seeds 1-5 (the test's)", range(1, 6), True),
              ("random walk, seeds 1-10", range(1, 11), False))
    table: list[tuple[str, str, int, int, int]] = []
    for label, seeds, planted in groups:
        tally = {m: [0, 0] for m in ms}
        for seed in seeds:
            t0 = time.perf_counter()
            res = proof_case(proof_market(seed, planted), seed, ms)
            print(f"{label:<42} seed {seed:3d} ({time.perf_counter() - t0:4.1f} s): " + "  ".join(
                f"{m} {'beat' if b else '-'}/{'CLAIM' if c else '-'} {r:9.1f}%" for m, (b, c, r) in res.items()),
                flush=True)
            for m, (b, c, _) in res.items():
                tally[m][0] += b
                tally[m][1] += c
        table += [(label, m, len(seeds), tally[m][0], tally[m][1]) for m in ms]
    print(f"\n{'market':<42} {'method':<9} {'seeds':>5} {'beat cands+blend':>17} {'verdict claims':>15}")
    for label, m, n, b, c in table:
        print(f"{label:<42} {m:<9} {n:>5} {b:>17} {c:>15}")


def main() -> None:
    import sys

    if "--proof" in sys.argv[1:]:
        proof()
        return
    from tradebot.testing.markets import planted_regime_market, regime_market

    n = 9600  # 400 days of hourly bars, 200 windows
    kinds = ("trend_up", "trend_down", "range")
    for seed in range(3):
        compare(f"planted (150-400 bar segs) s{seed}", market_record(planted_regime_market(n, seed, kinds=kinds)[0]))
    for seed in range(3):
        compare(f"planted (400-1000 bar segs) s{seed}",
                market_record(planted_regime_market(n, seed, kinds=kinds, min_len=400, max_len=1000)[0]))
    for seed in range(3):
        compare(f"random walk s{seed}", market_record(regime_market(n, seed, planted=False)))
    step_cost()


if __name__ == "__main__":
    main()
