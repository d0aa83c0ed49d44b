#!/usr/bin/env python3
"""Mutation check: small deliberate bugs in the core claims, and the tests that must catch them.

Each entry of :data:`MUTATIONS` names a source file, the exact text to replace (found
exactly once, optionally inside one function: ``within``), its replacement, and the test
node ids that must fail. For every mutation the script

1. copies the repository (``tradebot/``, ``tests/``, ``presets/``, ``pyproject.toml``; from
   the work tree, or from a git revision with ``--rev``) into a temporary directory, with
   ``shared/`` (the real candle files the tests read) linked beside it;
2. applies the mutation to the copy (the source tree is never touched);
3. runs the listed tests there with ``pytest -x -p no:cacheprovider -p no:xdist``, a fresh,
   empty numba cache (``NUMBA_CACHE_DIR`` and ``XDG_CACHE_HOME`` in a new temporary
   directory, so no kernel compiled from other sources can run) and ``PYTHONPATH`` on the
   copy, after checking that the copy is what ``import tradebot`` loads there;
4. reports it ``caught`` when pytest ends with failures (exit 1), ``NOT caught`` when the
   tests pass (or all skip), ``error`` for anything else (collection errors, timeouts).

Before the mutations, the union of their tests is run once on an unmutated copy (the
baseline; ``--no-baseline`` skips it): a mutation only counts as caught by tests that pass
without it. Exit status 0 only when the baseline passes and every mutation is caught.

Usage::

    python tools/mutation_check.py                 # everything (each mutation compiles kernels: slow)
    python tools/mutation_check.py --list          # the mutations; checks every target is found once
    python tools/mutation_check.py --only stop-first --only latency
    python tools/mutation_check.py --jobs 2 --rev HEAD --log-dir /tmp/mutation-logs
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("tradebot", "tests", "presets", "pyproject.toml")


@dataclass(frozen=True)
class Edit:
    old: str  # exact source text, found exactly once (in the ``within`` function, if given)
    new: str
    within: str | None = None  # e.g. "def decide_nb(": only that top-level function's text


@dataclass(frozen=True)
class Mutation:
    name: str
    claim: str
    file: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]


def _m(name: str, claim: str, file: str, edits: list[Edit] | Edit, tests: list[str]) -> Mutation:
    return Mutation(name, claim, file, tuple(edits) if isinstance(edits, list) else (edits,), tuple(tests))


HAND = "tests/engine/test_hand_computed.py"
RISK = "tests/engine/test_risk.py"
WF = "tests/optimize/test_wf_isolation.py"
OVERFIT = "tests/optimize/test_overfit.py"

MUTATIONS: list[Mutation] = [
    _m("fill-next-open", "market orders fill at the next bar's open (not its close)",
       "tradebot/engine/kernels.py",
       Edit("n_trades = fill_pending_nb(t, open_[t], atr_prev,",
            "n_trades = fill_pending_nb(t, close[t], atr_prev,", within="def _run_chunk_nb("),
       [f"{HAND}::test_long_round_trip"]),
    _m("latency", "a decision fills latency_bars later",
       "tradebot/engine/kernels.py",
       Edit("at = t + params[P_LATENCY]", "at = t + 1.0", within="def decide_nb("),
       [f"{HAND}::test_latency_two"]),
    _m("taker-fee", "market orders pay the taker fee, take-profits the maker fee",
       "tradebot/engine/kernels.py",
       Edit("fee_rate = params[P_TAKER]", "fee_rate = params[P_MAKER]", within="def fill_pending_nb("),
       [f"{HAND}::test_take_profit_at_target_with_maker_fee"]),
    _m("slippage-sign", "slippage is adverse: buys fill higher, sells lower",
       "tradebot/engine/kernels.py",
       Edit("fill = price * (1.0 + slip) if kind == BUY_LONG else price * (1.0 - slip)",
            "fill = price * (1.0 - slip) if kind == BUY_LONG else price * (1.0 + slip)",
            within="def fill_pending_nb("),
       [f"{HAND}::test_slippage_on_market_orders"]),
    _m("stop-first", "a bar touching both the stop and the target exits at the stop",
       "tradebot/engine/kernels.py",
       Edit("        if lo <= stop:\n",
            "        if lo <= stop and not (tp == tp and h >= entry * (1.0 + tp)):\n",
            within="def check_stops_nb("),
       [f"{HAND}::test_bar_touching_stop_and_target_takes_the_stop"]),
    _m("trailing-anchor", "the trailing stop hangs from the best price so far",
       "tradebot/engine/stops_nb.py",
       Edit("tstop = extreme * (1.0 - trail)", "tstop = entry * (1.0 - trail)", within="def stop_level_nb("),
       [f"{HAND}::test_trailing_stop_from_previous_highs"]),
    _m("max-trades-per-day", "max_trades_per_day blocks the entry after the limit",
       "tradebot/engine/risk_nb.py",
       Edit("state[S_TRADES_TODAY] >= mtd", "state[S_TRADES_TODAY] > mtd", within="def entry_block_reason_nb("),
       [f"{RISK}::test_max_trades_per_day"]),
    _m("daily-loss", "max_daily_loss blocks entries once the day's loss reaches it",
       "tradebot/engine/risk_nb.py",
       Edit("state[S_DAY_START_EQ] - eq >= mdl", "state[S_DAY_START_EQ] - eq >= 2.0 * mdl",
            within="def entry_block_reason_nb("),
       ["tests/engine/test_risk_boundaries.py::test_daily_loss_blocks_from_the_limit_on",
        f"{RISK}::test_max_daily_loss"]),
    _m("drawdown-breaker", "the breaker trips at max_drawdown_pct below the equity peak",
       "tradebot/engine/risk_nb.py",
       Edit("if eq <= state[S_PEAK] * (1.0 - params[P_MAX_DD]):",
            "if eq <= state[S_PEAK] * (1.0 - 2.0 * params[P_MAX_DD]):", within="def breaker_nb("),
       [f"{RISK}::test_drawdown_breaker_flattens_and_resumes",
        f"{RISK}::test_drawdown_breaker_without_flatten_halts_for_good"]),
    _m("lookahead-last-bar", "the look-ahead check compares every bar of each cut, the last one too",
       "tradebot/strategies/lookahead.py",
       [Edit("bad = _same(values, np.asarray(full_ind[name])[:k])",
             "bad = _same(values[:-1], np.asarray(full_ind[name])[:k - 1])", within="def check_lookahead("),
        Edit("for bar in np.flatnonzero(a != b):", "for bar in np.flatnonzero(a[:-1] != b[:-1]):",
             within="def check_lookahead(")],
       ["tests/strategies/test_lookahead.py::test_leaky_strategy_is_caught_with_bars_and_indicator"]),
    _m("wf-in-sample-range", "in-sample trials are scored on the in-sample bars alone",
       "tradebot/services/optimize.py",
       Edit("executor.evaluate(plan.problem, batch, (win.is_start, win.is_stop))",
            "executor.evaluate(plan.problem, batch, (win.is_start, win.oos_stop))"),
       [f"{WF}::test_every_in_sample_evaluation_ends_at_the_in_sample_end",
        f"{WF}::test_in_sample_choice_cannot_see_a_crash_planted_in_the_test_windows"]),
    _m("wf-window-start", "a rolling in-sample window is the in_sample bars before its test window",
       "tradebot/optimize/windows.py",
       Edit("0 if anchored else start - ins,", "0 if anchored else start - ins + 1,",
            within="def walk_forward_windows("),
       ["tests/optimize/test_windows.py::test_rolling_exact_fit"]),
    _m("wf-last-window", "a last, partial test window is kept from half the test length",
       "tradebot/optimize/windows.py",
       Edit("if 2 * remaining < oos:", "if remaining < oos:", within="def walk_forward_windows("),
       ["tests/optimize/test_windows.py::test_partial_last_window_kept_from_half_of_out_sample"]),
    _m("dsr-kurtosis", "the PSR/DSR denominator takes the non-excess kurtosis",
       "tradebot/analysis/psr.py",
       Edit("(kurtosis - 1.0) / 4.0 * sr * sr", "(kurtosis - 3.0) / 4.0 * sr * sr",
            within="def probabilistic_sharpe_ratio("),
       [f"{OVERFIT}::test_psr_matches_the_formula", f"{OVERFIT}::test_dsr_paper_example"]),
    _m("pbo-mirror", "CSCV scores each split and its mirror (in- and out-of-sample swapped)",
       "tradebot/optimize/overfit.py",
       Edit("settle_nb(last - i, m_out, m_in, chosen, is_best, oos_best, rank)",
            "settle_nb(last - i, m_in, m_out, chosen, is_best, oos_best, rank)", within="def cscv_sharpe_nb("),
       [f"{OVERFIT}::test_pbo_matches_slow_cscv"]),
    _m("purged-kfold", "purged k-fold drops every training sample whose label reaches into the test block",
       "tradebot/ml/cv.py",
       Edit("keep = (t1[idx] < lo) | (t0[idx] > hi + embargo)", "keep = (t0[idx] < lo) | (t0[idx] > hi + embargo)",
            within="def purged_train_indices("),
       ["tests/ml/test_cv.py::test_purged_kfold_on_label_intervals_by_hand",
        "tests/ml/test_cv.py::test_purged_kfold_no_overlap_embargo_and_maximal"]),
    _m("ml-walk-forward-purge", "ML walk-forward trains only on labels that end before the test block (and gap)",
       "tradebot/ml/cv.py",
       Edit("train = cand[t1[cand] < t0[a] - gap]", "train = cand[t0[cand] < t0[a] - gap]"),
       ["tests/ml/test_cv.py::test_walk_forward_trains_only_on_the_purged_past"]),
    _m("step-carries-pending", "the step runner keeps an order decided at the last close of a run",
       "tradebot/engine/step.py",
       Edit("st[S_PENDING_AT] < start", "st[S_PENDING_AT] <= start", within="def _adopt_state("),
       [f"{RISK}::test_chunks_equal_one_pass",
        "tests/services/test_paper.py::test_replay_candle_by_candle_equals_the_backtest"]),
]


# ----------------------------------------------------------------------------- applying


class TargetError(Exception):
    """A mutation's target text is not found exactly once (the source changed)."""


def _region(text: str, within: str | None, where: str) -> tuple[int, int]:
    if within is None:
        return 0, len(text)
    starts = [m.start() for m in re.finditer(r"(?m)^" + re.escape(within), text)]
    if len(starts) != 1:
        raise TargetError(f"{where}: {within!r} found {len(starts)} times at the start of a line (want 1)")
    lo = starts[0]
    # the function runs to the next top-level statement (a decorator, def or class)
    nxt = re.compile(r"(?m)^(?:@|def |class |async def )").search(text, lo + len(within))
    return lo, nxt.start() if nxt else len(text)


def apply(text: str, mutation: Mutation) -> str:
    for k, e in enumerate(mutation.edits):
        where = f"mutation {mutation.name} (edit {k + 1}) in {mutation.file}"
        lo, hi = _region(text, e.within, where)
        part = text[lo:hi]
        n = part.count(e.old)
        if n != 1:
            scope = f" within {e.within!r}" if e.within else ""
            raise TargetError(f"{where}: target text found {n} times{scope} (want exactly 1): {e.old!r}")
        text = text[:lo] + part.replace(e.old, e.new) + text[hi:]
    return text


# ----------------------------------------------------------------------------- copies


def _git_files(rev: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, *COPIED],
                          check=True, capture_output=True).stdout


def make_copy(dest: Path, rev: str | None) -> Path:
    """``dest/repo``: the copied repository; ``dest/shared`` links to the real shared/."""
    repo = dest / "repo"
    repo.mkdir(parents=True)
    if rev is None:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
        for name in COPIED:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, repo / name, ignore=ignore)
            elif src.exists():
                shutil.copy2(src, repo / name)
    else:
        subprocess.run(["tar", "-x", "-C", str(repo)], input=_git_files(rev), check=True)
    shared = ROOT.parent / "shared"
    if shared.exists():
        (dest / "shared").symlink_to(shared)
    return repo


def source_text(path: str, rev: str | None) -> str:
    if rev is None:
        return (ROOT / path).read_text()
    return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True,
                          capture_output=True, text=True).stdout


# ----------------------------------------------------------------------------- running


@dataclass
class Outcome:
    name: str
    tests: tuple[str, ...]
    status: str  # caught, NOT caught, error
    detail: str
    seconds: float


def _env(repo: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRADEBOT_", "NUMBA_", "PYTEST_")) and k not in ("PYTHONPATH", "XDG_CACHE_HOME")}
    env.update({"PYTHONPATH": str(repo), "NUMBA_CACHE_DIR": str(cache / "numba"),
                "XDG_CACHE_HOME": str(cache), "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def _summary_line(out: str) -> str:
    lines = [x for x in out.strip().splitlines() if x.strip()]
    return lines[-1].strip("= ").strip() if lines else ""


def run_tests(repo: Path, tests: tuple[str, ...], timeout: float, log: Path | None,
              first_failure: bool = True) -> tuple[int | None, str, str]:
    """pytest in ``repo`` on a fresh numba cache; (exit code or None on timeout, summary, output)."""
    with tempfile.TemporaryDirectory(prefix="mutcache-") as cache_dir:
        env = _env(repo, Path(cache_dir))
        probe = subprocess.run([sys.executable, "-c", "import tradebot; print(tradebot.__file__)"],
                               cwd=repo, env=env, capture_output=True, text=True)
        loaded = Path(probe.stdout.strip() or "?").resolve()
        if probe.returncode != 0 or repo.resolve() not in loaded.parents:
            return 99, f"the copy is not what gets imported (tradebot from {loaded})", probe.stderr
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
               "--no-header", "-rfE", *(["-x"] if first_failure else []), *tests]
        try:
            proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
            code: int | None = proc.returncode
            out = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as e:
            code = None
            out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        if log is not None:
            log.write_text(f"$ cd {repo} && {' '.join(cmd)}\n# tradebot from {loaded}\n\n{out}")
        return code, _summary_line(out) if code is not None else f"timeout after {timeout:.0f} s", out


def check_mutation(m: Mutation, rev: str | None, timeout: float, log_dir: Path | None, keep: bool) -> Outcome:
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f"mut-{m.name}-"))
    try:
        repo = make_copy(tmp, rev)
        target = repo / m.file
        target.write_text(apply(target.read_text(), m))
        code, summary, out = run_tests(repo, m.tests, timeout, log_dir / f"{m.name}.log" if log_dir else None)
        if code == 1:
            failed = [line.split(" ")[1] for line in out.splitlines() if line.startswith("FAILED ")]
            status, detail = "caught", (f"failed: {failed[0].split('::')[-1]}" if failed else summary)
        elif code == 0:
            status, detail = "NOT caught", summary or "tests passed"
        else:
            status, detail = "error", f"pytest exit {code}: {summary}"
        return Outcome(m.name, m.tests, status, detail, time.monotonic() - t0)
    except TargetError as e:
        return Outcome(m.name, m.tests, "error", str(e), time.monotonic() - t0)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def baseline(mutations: list[Mutation], rev: str | None, timeout: float, log_dir: Path | None) -> Outcome:
    t0 = time.monotonic()
    tests = tuple(dict.fromkeys(t for m in mutations for t in m.tests))
    tmp = Path(tempfile.mkdtemp(prefix="mut-baseline-"))
    try:
        repo = make_copy(tmp, rev)
        code, summary, out = run_tests(repo, tests, timeout, log_dir / "baseline.log" if log_dir else None,
                                       first_failure=False)
        skipped = re.search(r"(\d+) skipped", summary)
        if code == 0 and not skipped:
            status = "passes"
        elif code == 0:
            status = "SKIPS"  # a skipped test cannot catch anything
        else:
            status = "FAILS"
        return Outcome("(no mutation)", (f"all {len(tests)} node ids below",), status, summary,
                       time.monotonic() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _table(rows: list[Outcome]) -> str:
    head = ("mutation", "tests run", "result", "detail", "time")
    body = [(r.name, "\n".join(r.tests), r.status, r.detail, f"{r.seconds:.0f} s") for r in rows]
    widths = [max(len(head[i]), *(len(x) for b in body for x in b[i].split("\n"))) for i in range(5)]
    widths[3] = min(widths[3], 60)

    def line(cells: tuple[str, ...]) -> list[str]:
        parts = [c.split("\n") for c in cells]
        out = []
        for k in range(max(len(p) for p in parts)):
            row = [(p[k] if k < len(p) else "") for p in parts]
            out.append(" | ".join(c[:widths[i]].ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        return out

    sep = "-+-".join("-" * w for w in widths)
    lines = line(head) + [sep]
    for b in body:
        lines += line(b)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutations (and check their targets); run nothing")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this mutation (repeatable)")
    ap.add_argument("--jobs", type=int, default=1, help="mutations checked at once (default 1)")
    ap.add_argument("--rev", default=None, help="copy this git revision (e.g. HEAD) instead of the work tree")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per pytest run (default 1800)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run of the tests without mutations")
    ap.add_argument("--log-dir", type=Path, default=None, help="write each pytest output there (NAME.log)")
    ap.add_argument("--keep", action="store_true", help="keep the mutated copies (their paths are in the logs)")
    args = ap.parse_args(argv)

    known = {m.name for m in MUTATIONS}
    unknown = [n for n in args.only if n not in known]
    if unknown:
        ap.error(f"unknown mutation(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    selected = [m for m in MUTATIONS if not args.only or m.name in args.only]

    # every target must be found exactly once before anything runs
    problems = []
    for m in selected:
        try:
            apply(source_text(m.file, args.rev), m)
        except (TargetError, OSError, subprocess.CalledProcessError) as e:
            problems.append(str(e).strip())
    if args.list:
        for m in selected:
            print(f"{m.name:22} {m.file}: {m.claim}")
            for t in m.tests:
                print(f"{'':22}   must fail: {t}")
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    if args.list:
        return 0
    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)

    src = f"git revision {args.rev}" if args.rev else f"work tree {ROOT}"
    print(f"mutation check: {len(selected)} mutation(s) on copies of the {src}, fresh numba cache each, "
          f"{args.jobs} at a time", flush=True)
    rows: list[Outcome] = []
    ok = True
    if not args.no_baseline:
        b = baseline(selected, args.rev, args.timeout, args.log_dir)
        print(f"  baseline: {b.status} ({b.detail}, {b.seconds:.0f} s)", flush=True)
        rows.append(b)
        ok = b.status == "passes"
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(check_mutation, m, args.rev, args.timeout, args.log_dir, args.keep): m
                   for m in selected}
        done: dict[str, Outcome] = {}
        for f in concurrent.futures.as_completed(futures):
            o = f.result()
            done[o.name] = o
            print(f"  {o.name}: {o.status} ({o.detail}, {o.seconds:.0f} s)", flush=True)
    rows += [done[m.name] for m in selected]
    print()
    print(_table(rows))
    caught = sum(1 for m in selected if done[m.name].status == "caught")
    print(f"\n{caught}/{len(selected)} mutations caught" + ("" if args.no_baseline else
                                                             f"; baseline {rows[0].status}"))
    return 0 if ok and caught == len(selected) else 1


if __name__ == "__main__":
    sys.exit(main())
