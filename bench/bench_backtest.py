"""tradebot vs peers on the standard workload (docs/benchmark-workload.md), side by side.

    python bench/bench_backtest.py [--sizes 10000 100000 1000000] [--skip-slow-peers]
                                   [--slow-peers] [--no-memory] [--no-whole]

A. single run in process: RSI 14/30/70 on each size, CSV already parsed, best of 3 after a
   warm-up: tradebot ``run_strategy``, vectorbt (numba engine), backtesting.py (sizes up to
   100k unless ``--slow-peers``), and one tight numba loop (the practical limit).
B. sweep: the 100 combos of §4 on the 100k file: tradebot ``sweep``, vectorbt (one indicator
   run + one ``from_signals`` over 100 columns), the tight loop over combos (numba threads).
M. peak memory: each variant of A (1M bars) and B in a fresh subprocess, after a warm-up run,
   peak RSS (``VmHWM`` reset through ``/proc/self/clear_refs``) of one more run.
C. whole process, cold: ``tradebot backtest`` on 1M cached candles vs small vectorbt /
   tight-loop scripts (backtesting.py with ``--slow-peers``); and ``tradebot --help``.

Every implementation must produce the §3 outputs; "agrees" means the §5 agreement rule
(same trades, final equity within 0.01 %). Progress goes to stderr, the table to stdout,
everything to ``bench/out/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar

import numpy as np  # noqa: E402
import peers  # noqa: E402
import workload as wl  # noqa: E402

PY = sys.executable
TARGETS = {
    "single_vbt_over_tradebot": 10.0,  # >=
    "single_tradebot_over_tight": 3.0,  # <=
    "sweep_vbt_over_tradebot": 20.0,  # >=
    "help_seconds": 0.4,  # <
}


def log(msg: str) -> None:
    print(f"... {msg}", file=sys.stderr, flush=True)


def best_of(fn: Callable[[], Any], repeat: int = 3, warmup: int = 1) -> tuple[float, Any]:
    """(best seconds of ``repeat`` runs after ``warmup`` runs, the last result)."""
    result = None
    for _ in range(warmup):
        result = fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def agrees(out: dict[str, float], n: int) -> tuple[bool, str]:
    """The §5 rule against the reference answers (only RSI 14/30/70 has them)."""
    ref = wl.REFERENCE.get(n)
    if ref is None:
        return True, "(no reference)"
    ok_t = out["trades"] == ref[0]
    rel = abs(out["final_equity"] / ref[1] - 1.0)
    ok = ok_t and rel <= wl.EQUITY_RTOL
    note = "yes" if ok else f"NO (ref {ref[0]} trades, {ref[1]:.6f})"
    return ok, note


def same_results(a: list[dict[str, float]], b: list[dict[str, float]]) -> int:
    """How many of the sweep results agree (same trades, equity within 0.01 %)."""
    return sum(
        x["trades"] == y["trades"]
        and abs(x["final_equity"] / y["final_equity"] - 1.0) <= wl.EQUITY_RTOL
        for x, y in zip(a, b, strict=True)
    )


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den


# ----------------------------------------------------------------------------------------
# A. single run
# ----------------------------------------------------------------------------------------


def prepare(impl: str, a: dict[str, np.ndarray]) -> Any:
    if impl == "tradebot":
        return peers.tradebot_candles(a)
    if impl == "vectorbt":
        return peers.vectorbt_frame(a)
    if impl == "backtesting.py":
        return peers.backtesting_frame(a)
    return a


SINGLE = {
    "tradebot": peers.tradebot_single,
    "vectorbt": peers.vectorbt_single,
    "backtesting.py": peers.backtesting_single,
    "tight numba loop": peers.tight_single,
}
SWEEP = {
    "tradebot": peers.tradebot_sweep,
    "vectorbt": peers.vectorbt_sweep,
    "tight numba loop": peers.tight_sweep,
}


def bench_single(sizes: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in sizes:
        a = wl.load_arrays(n)
        for impl, fn in SINGLE.items():
            row: dict[str, Any] = {"bars": n, "impl": impl}
            rows.append(row)
            if impl == "backtesting.py":
                if args.skip_slow_peers:
                    row["skipped"] = "--skip-slow-peers"
                    continue
                if n > 100_000 and not args.slow_peers:
                    row["skipped"] = "over 100k bars only with --slow-peers"
                    continue
            log(f"single run, {n:,} bars, {impl}")
            data = prepare(impl, a)
            try:
                secs, out = best_of(lambda fn=fn, data=data: fn(data), repeat=args.repeat)
            except Exception as e:  # a peer failing must not stop the bench
                row["skipped"] = f"error: {type(e).__name__}: {e}"
                continue
            ok, note = agrees(out, n)
            row.update(seconds=secs, outputs=out, agrees=ok, agreement=note)
    return rows


def single_ratios(rows: list[dict[str, Any]]) -> dict[int, dict[str, float | None]]:
    by: dict[int, dict[str, float]] = {}
    for r in rows:
        if "seconds" in r:
            by.setdefault(r["bars"], {})[r["impl"]] = r["seconds"]
    out: dict[int, dict[str, float | None]] = {}
    for n, t in by.items():
        tb = t.get("tradebot")
        out[n] = {
            "vectorbt/tradebot": ratio(t.get("vectorbt"), tb),
            "tradebot/tight": ratio(tb, t.get("tight numba loop")),
            "backtesting.py/tradebot": ratio(t.get("backtesting.py"), tb),
        }
    return out


# ----------------------------------------------------------------------------------------
# B. sweep
# ----------------------------------------------------------------------------------------


def bench_sweep(args: argparse.Namespace) -> dict[str, Any]:
    n = wl.SWEEP_SIZE
    a = wl.load_arrays(n)
    grid = wl.sweep_grid()
    rows: list[dict[str, Any]] = []
    results: dict[str, list[dict[str, float]]] = {}
    for impl, fn in SWEEP.items():
        log(f"sweep, {len(grid)} combos on {n:,} bars, {impl}")
        data = prepare(impl, a)
        row: dict[str, Any] = {"impl": impl}
        rows.append(row)
        try:
            secs, out = best_of(lambda fn=fn, data=data: fn(data, grid), repeat=args.repeat)
        except Exception as e:
            row["skipped"] = f"error: {type(e).__name__}: {e}"
            continue
        results[impl] = out
        ref_combo = out[grid.index(wl.RSI_DEFAULT)]
        ok, note = agrees(ref_combo, n)
        row.update(seconds=secs, ref_combo=ref_combo, ref_combo_agrees=ok,
                   ref_combo_agreement=note)
    base = results.get("tradebot")
    for row in rows:
        if base is not None and row["impl"] in results:
            row["agree_with_tradebot"] = same_results(results[row["impl"]], base)
    import numba

    return {"bars": n, "combos": len(grid), "numba_threads": numba.get_num_threads(),
            "rows": rows,
            "all_results": {k: v for k, v in results.items()}}


# ----------------------------------------------------------------------------------------
# M. memory, one fresh subprocess per variant
# ----------------------------------------------------------------------------------------


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def child_main(kind: str, impl: str, n: int) -> int:
    """Measure one variant's memory; prints one JSON line.

    A warm-up on the first 2,000 bars loads/compiles every numba function (compilation
    depends on types, not sizes) without leaving big freed blocks in the heap; then the
    peak RSS (VmHWM) is reset and one full-size run is measured.
    """
    a = wl.load_arrays(n)
    small = {k: v[:2_000].copy() for k, v in a.items()}
    grid = wl.sweep_grid()

    def job(arrays: dict[str, np.ndarray]) -> Any:
        data = prepare(impl, arrays)
        return SINGLE[impl](data) if kind == "single" else SWEEP[impl](data, grid)

    job(small)
    reset = True
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    except OSError:
        reset = False
    rss_before = _status_kb("VmRSS")
    job(a)
    hwm = _status_kb("VmHWM")
    print(json.dumps({"hwm_reset": reset, "rss_before_kb": rss_before, "hwm_kb": hwm}))
    return 0


# Linux carries a process's peak RSS into the children it forks (the exec'ed child's
# ru_maxrss starts at the parent's high-water mark), so after the in-process sections every
# direct child would report this process's peak. A small launcher process runs the command
# instead and reports the wall time and the ru_maxrss of *its* child.
LAUNCHER = """\
import json, os, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[2:])
_, status, ru = os.wait4(p.pid, 0)
secs = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": secs, "rc": os.waitstatus_to_exitcode(status),
               "maxrss_kb": ru.ru_maxrss}, f)
"""


def run_measured(cmd: list[str], env: dict[str, str] | None = None,
                 timeout: float = 1800) -> tuple[float, int, int, str, str]:
    """(wall seconds, exit code, max RSS kB, stdout, stderr) of ``cmd`` in a fresh process.

    The time is measured by the launcher around spawn..exit (its own start-up excluded).
    """
    with tempfile.TemporaryDirectory(prefix="tradebot-bench-run-") as tmp:
        result = Path(tmp) / "result.json"
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.run([PY, "-c", LAUNCHER, str(result), *cmd], stdout=out,
                                      stderr=err, env=env, cwd=BENCH.parent, timeout=timeout,
                                      check=False)
                launcher_rc = proc.returncode
            except subprocess.TimeoutExpired:
                launcher_rc = -1
        stdout = out_path.read_text(errors="replace")
        stderr = err_path.read_text(errors="replace")
        if launcher_rc != 0 or not result.exists():
            return float("nan"), launcher_rc or 1, -1, stdout, stderr or "launcher failed"
        r = json.loads(result.read_text())
        return r["seconds"], r["rc"], r["maxrss_kb"], stdout, stderr


def bench_memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    variants = [("single", impl, 1_000_000) for impl in ("tradebot", "vectorbt",
                                                         "tight numba loop")]
    variants += [("sweep", impl, wl.SWEEP_SIZE) for impl in SWEEP]
    rows = []
    for kind, impl, n in variants:
        log(f"memory, {kind} {n:,} bars, {impl} (subprocess)")
        secs, rc, maxrss, out, err = run_measured(
            [PY, str(Path(__file__).resolve()), "--child", kind, impl, str(n)])
        row: dict[str, Any] = {"kind": kind, "impl": impl, "bars": n,
                               "process_max_rss_kb": maxrss}
        if rc != 0:
            row["skipped"] = f"exit {rc}: {last_line(err)}"
        else:
            row.update(json.loads(out.strip().splitlines()[-1]))
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------
# C. whole process, cold
# ----------------------------------------------------------------------------------------


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no output)"


def cold_runs(cmd: list[str], env: dict[str, str] | None, repeat: int,
              warmup: int = 1) -> dict[str, Any]:
    times, rss = [], []
    for i in range(warmup + repeat):
        secs, rc, maxrss, out, err = run_measured(cmd, env)
        if rc != 0:
            name = " ".join([Path(cmd[0]).name, *cmd[1:2]])
            return {"skipped": f"`{name}` exit {rc}: {last_line(err or out)}"}
        if i >= warmup:
            times.append(secs)
            rss.append(maxrss)
    return {"seconds": min(times), "max_rss_kb": max(rss), "stdout_tail": last_line(out)}


def find_tradebot() -> str | None:
    cand = Path(PY).parent / "tradebot"
    if cand.exists():
        return str(cand)
    return shutil.which("tradebot")


def bench_whole(args: argparse.Namespace) -> dict[str, Any]:
    n = 1_000_000
    csv = str(wl.csv_path(n))
    res: dict[str, Any] = {"bars": n, "rows": []}
    rows = res["rows"]
    exe = find_tradebot()

    # tradebot --help, best of 5 (no warm-up needed beyond the first run)
    log("whole process: tradebot --help")
    if exe is None:
        rows.append({"impl": "tradebot --help", "skipped": "no `tradebot` command"})
    else:
        r = cold_runs([exe, "--help"], None, repeat=5)
        rows.append({"impl": "tradebot --help", **r})

    # tradebot backtest on 1M cached candles
    with tempfile.TemporaryDirectory(prefix="tradebot-bench-") as home:
        env = dict(os.environ, TRADEBOT_HOME=home)
        row: dict[str, Any] = {"impl": "tradebot backtest"}
        rows.append(row)
        if exe is None:
            row["skipped"] = "no `tradebot` command"
        else:
            log("whole process: tradebot data import (1M)")
            secs, rc, _, out, err = run_measured(
                [exe, "data", "import", csv, "--exchange", "bench", "--symbol", "BTC/USDT",
                 "--timeframe", "1m"], env)
            res["tradebot_import_seconds"] = secs
            if rc != 0:
                row["skipped"] = f"`tradebot data import` exit {rc}: {last_line(err or out)}"
            else:
                cmd = [exe, "backtest", "--strategy", "rsi", "--exchange", "bench", "--symbol",
                       "BTC/USDT", "--timeframe", "1m", "--fee", "0.001"]
                log("whole process: tradebot backtest (1M), agreement run with --json")
                row.update(cli_agreement(cmd + ["--json", "--no-save"], env, n))
                log("whole process: tradebot backtest (1M), timed")
                row.update(cold_runs(cmd, env, repeat=args.repeat))

    # peers as small scripts
    with tempfile.TemporaryDirectory(prefix="tradebot-bench-peers-") as tmp:
        scripts = {"vectorbt script": peers.VECTORBT_SCRIPT}
        if args.slow_peers and not args.skip_slow_peers:
            scripts["backtesting.py script"] = peers.BACKTESTING_SCRIPT
        for impl, text in scripts.items():
            path = Path(tmp) / (impl.split()[0].replace(".", "_") + "_rsi.py")
            path.write_text(text)
            log(f"whole process: {impl} (1M)")
            rows.append(with_agreement(
                {"impl": impl, **cold_runs([PY, str(path), csv], None, args.repeat)}, n))
        if not (args.slow_peers and not args.skip_slow_peers):
            rows.append({"impl": "backtesting.py script", "skipped": "only with --slow-peers"})
        log("whole process: tight numba loop script (1M)")
        rows.append(with_agreement(
            {"impl": "tight numba loop script",
             **cold_runs([PY, str(BENCH / "peers.py"), "tight", csv], None, args.repeat)}, n))
    return res


def with_agreement(row: dict[str, Any], n: int) -> dict[str, Any]:
    """Check a peer script's last output line: ``{"trades": ..., "final_equity": ...}``."""
    if "skipped" in row:
        return row
    try:
        got = json.loads(row["stdout_tail"])
        got = {"trades": int(got["trades"]), "final_equity": float(got["final_equity"])}
    except (ValueError, KeyError, TypeError):
        row["agreement"] = "cannot read the script's result line"
        return row
    ok, note = agrees(got, n)
    row.update(outputs=got, agrees=ok, agreement=note)
    return row


def cli_agreement(cmd: list[str], env: dict[str, str], n: int) -> dict[str, Any]:
    """Run once with --json (this also fills the numba cache) and check the §5 rule."""
    secs, rc, _, out, err = run_measured(cmd, env)
    if rc != 0:
        return {"agreement": f"--json run exit {rc}: {last_line(err or out)}"}
    try:
        summary = json.loads(out)["summary"]
        got = {"trades": int(summary["trades"]), "final_equity": float(summary["final_equity"])}
    except (ValueError, KeyError, TypeError) as e:
        return {"agreement": f"cannot read --json output ({type(e).__name__}: {e})"}
    ok, note = agrees(got, n)
    return {"outputs": got, "agrees": ok, "agreement": note}


# ----------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 0.01:
        return f"{x * 1000:.2f} ms"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    return f"{x:.2f} s"


def fmt_x(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}x"


def fmt_mb(kb: int | None) -> str:
    return "-" if kb is None or kb < 0 else f"{kb / 1024:.0f} MB"


def verdict(value: float | None, target: float, higher_is_better: bool) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "NOT met"


def report(res: dict[str, Any]) -> str:
    out: list[str] = []
    p = out.append
    m = res["machine"]
    p("")
    p("tradebot bench: standard workload (WORKLOAD.md), RSI 14/30/70, fee 0.1 %, all-in")
    p(f"  {m['cpus']} CPUs, numba threads {m['numba_threads']}, Python {m['python']}, "
      f"numpy {m['numpy']}, numba {m['numba']}, vectorbt {m['vectorbt']} (numba engine), "
      f"backtesting {m['backtesting']}")
    p("  data: " + ", ".join(f"{n:,} {'sha256 OK' if ok else 'sha256 MISMATCH'}"
                            for n, ok in res["data_sha256_ok"].items()))
    if "single" in res:
        p("")
        p("A. single run in process (CSV parsed beforehand; best of "
          f"{res['repeat']} after a warm-up)")
        p(f"  {'bars':>9}  {'implementation':<18} {'time':>10}  {'trades':>6}  "
          f"{'final equity':>16}  {'max dd %':>8}  agrees")
        for r in res["single"]:
            if "skipped" in r:
                p(f"  {r['bars']:>9,}  {r['impl']:<18} {'skipped: ' + r['skipped']}")
                continue
            o = r["outputs"]
            p(f"  {r['bars']:>9,}  {r['impl']:<18} {fmt_s(r['seconds']):>10}  {o['trades']:>6}  "
              f"{o['final_equity']:>16,.6f}  {o['max_dd_pct']:>8.4f}  {r['agreement']}")
        for n, rat in res["single_ratios"].items():
            p(f"  {int(n):>9,}  vectorbt/tradebot {fmt_x(rat['vectorbt/tradebot'])} "
              f"(target >= 10x: {verdict(rat['vectorbt/tradebot'], 10, True)}); "
              f"tradebot/tight {fmt_x(rat['tradebot/tight'])} "
              f"(target <= 3x: {verdict(rat['tradebot/tight'], 3, False)})"
              + (f"; backtesting.py/tradebot {fmt_x(rat['backtesting.py/tradebot'])}"
                 if rat["backtesting.py/tradebot"] else ""))
    if "sweep" in res:
        s = res["sweep"]
        p("")
        p(f"B. sweep: {s['combos']} combos on {s['bars']:,} bars (best of {res['repeat']} "
          f"after a warm-up; numba threads {s['numba_threads']})")
        p(f"  {'implementation':<18} {'time':>10}  {'14/30/70 combo':<34}  agrees with tradebot")
        for r in s["rows"]:
            if "skipped" in r:
                p(f"  {r['impl']:<18} skipped: {r['skipped']}")
                continue
            c = r["ref_combo"]
            combo = f"{c['trades']} trades, {c['final_equity']:,.6f} {r['ref_combo_agreement']}"
            p(f"  {r['impl']:<18} {fmt_s(r['seconds']):>10}  {combo:<34}  "
              f"{r.get('agree_with_tradebot', '-')}/{s['combos']}")
        t = {r["impl"]: r.get("seconds") for r in s["rows"]}
        vr = ratio(t.get("vectorbt"), t.get("tradebot"))
        tr = ratio(t.get("tradebot"), t.get("tight numba loop"))
        p(f"  vectorbt/tradebot {fmt_x(vr)} (target >= 20x: {verdict(vr, 20, True)}); "
          f"tradebot/tight {fmt_x(tr)}")
    if "memory" in res:
        p("")
        p("M. memory, one fresh subprocess per variant (inputs prepared inside the measured run):")
        p("   peak = peak RSS during one full-size run after a 2,000-bar warm-up (libraries and")
        p("   parsed CSV included); rise = peak minus RSS just before the run; process max =")
        p("   ru_maxrss of the whole child (imports, CSV parsing, warm-up included)")
        p(f"  {'workload':<22} {'implementation':<18} {'peak':>8}  {'rise':>8}  "
          f"{'process max':>11}")
        for r in res["memory"]:
            what = f"{r['kind']} {r['bars']:,} bars"
            if "skipped" in r:
                p(f"  {what:<22} {r['impl']:<18} skipped: {r['skipped']}")
                continue
            p(f"  {what:<22} {r['impl']:<18} {fmt_mb(r['hwm_kb']):>8}  "
              f"{fmt_mb(r['hwm_kb'] - r['rss_before_kb']):>8}  "
              f"{fmt_mb(r['process_max_rss_kb']):>11}")
        mem = {(r["kind"], r["impl"]): r.get("hwm_kb") for r in res["memory"]}
        tb, vb = mem.get(("single", "tradebot")), mem.get(("single", "vectorbt"))
        if tb and vb:
            p(f"  1M single run: tradebot {fmt_mb(tb)} vs vectorbt {fmt_mb(vb)} "
              f"(target tradebot <= vectorbt: {'met' if tb <= vb else 'NOT met'})")
    if "whole" in res:
        w = res["whole"]
        p("")
        p(f"C. whole process, cold (fresh subprocess; best of {res['repeat']} after a warm-up "
          f"that fills the numba cache; --help best of 5), {w['bars']:,} bars")
        p(f"  {'command':<26} {'time':>10}  {'max RSS':>8}  agrees")
        for r in w["rows"]:
            if "skipped" in r:
                p(f"  {r['impl']:<26} skipped: {r['skipped']}")
                continue
            p(f"  {r['impl']:<26} {fmt_s(r['seconds']):>10}  {fmt_mb(r['max_rss_kb']):>8}  "
              f"{r.get('agreement', '')}")
        t = {r["impl"]: r.get("seconds") for r in w["rows"]}
        if "tradebot_import_seconds" in w:
            p(f"  (one-off `tradebot data import` of the CSV: {fmt_s(w['tradebot_import_seconds'])})")
        h = t.get("tradebot --help")
        p(f"  vectorbt/tradebot {fmt_x(ratio(t.get('vectorbt script'), t.get('tradebot backtest')))}; "
          f"tradebot/tight {fmt_x(ratio(t.get('tradebot backtest'), t.get('tight numba loop script')))}; "
          f"tradebot --help {fmt_s(h)} (target < 0.4 s: {verdict(h, 0.4, False) if h else 'n/a'})")
    p("")
    return "\n".join(out)


def machine() -> dict[str, Any]:
    import importlib.metadata as md

    import numba

    def ver(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "absent"

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "numpy": np.__version__, "numba": numba.__version__, "pandas": ver("pandas"),
            "vectorbt": ver("vectorbt"), "backtesting": ver("backtesting"),
            "talib": ver("TA-Lib")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(wl.SIZES),
                    help="bar counts for the single-run section (default: 10k 100k 1M)")
    ap.add_argument("--skip-slow-peers", action="store_true", help="no backtesting.py at all")
    ap.add_argument("--slow-peers", action="store_true",
                    help="backtesting.py on 1M bars and in the whole-process section too")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up")
    ap.add_argument("--no-single", action="store_true")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-whole", action="store_true")
    ap.add_argument("--out", type=Path, default=wl.OUT_DIR / "results.json")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "IMPL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, impl, n = args.child
        return child_main(kind, impl, int(n))

    needed = set(args.sizes)
    if not args.no_sweep:
        needed.add(wl.SWEEP_SIZE)
    if not (args.no_memory and args.no_whole):
        needed.add(1_000_000)
    log("data: " + ", ".join(f"{n:,}" for n in sorted(needed)))
    sha_ok = wl.ensure_data(sorted(needed), verbose=False)
    if not all(sha_ok.values()):
        log("WARNING: a data file does not match WORKLOAD.md's sha256 (see bench/workload.py)")

    res: dict[str, Any] = {"machine": machine(), "repeat": args.repeat,
                           "data_sha256_ok": {n: sha_ok[n] for n in sorted(sha_ok)},
                           "targets": TARGETS, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if not args.no_single:
        res["single"] = bench_single(sorted(args.sizes), args)
        res["single_ratios"] = single_ratios(res["single"])
    if not args.no_sweep:
        res["sweep"] = bench_sweep(args)
    if not args.no_memory:
        res["memory"] = bench_memory(args)
    if not args.no_whole:
        res["whole"] = bench_whole(args)

    text = report(res)
    print(text)
    res["table"] = text
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1, default=str))
    os.replace(tmp, args.out)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
