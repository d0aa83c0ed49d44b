"""``tradebot optimize`` over a pair list through the real CLI: a stored study with
walk-forward windows over the union timeline (listed, reported as S<id> in the terminal, as
JSON and as an HTML page, resumed, exported as a preset), and ``--per-pair``: a study per
pair, then the pair list backtested with each pair's parameters, stored and re-run to the
same numbers, and exported as a preset that trades the same. Bad input: one line, exit 2, nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import snapshot
from .test_cli_portfolio import COMMON, PAIRS, SINCE, UNTIL, cached  # noqa: F401 - the fixture

SPACE = ("--space", "fast=8,12", "--space", "slow=26", "--space", "signal=9", "--space", "below_zero=false")
RANGE = ("--since", SINCE, "--until", UNTIL)


def test_a_portfolio_study_with_walk_forward_is_stored_listed_reported_and_resumed(
        cached: Path, run: Callable[..., Any], tmp_path: Path) -> None:  # noqa: F811
    res = run("optimize", "--symbols", ",".join(PAIRS), *COMMON, *RANGE, *SPACE, "--wf-train", "15d",
              "--wf-test", "10d", "--export-preset", "pf-best", "--json")
    assert res.code == 0, res
    body = res.json()
    sid = body["study_id"]
    assert body["symbol"] == ",".join(PAIRS) and len(body["windows"]) >= 2
    assert body["walk_forward"]["out_of_sample"]["days"] > 0
    assert "dsr" in body["honesty"]["dsr"] and "pbo" in body["honesty"]["pbo"]
    preset = Path(body["preset_file"]).read_text()
    assert f"fast = {body['chosen']['params']['fast']}" in preset
    listed = run("optimize", "--list", "--json")
    assert listed.code == 0 and [s["symbol"] for s in listed.json()["studies"]] == [",".join(PAIRS)]
    text = run("report", f"S{sid}")
    assert text.code == 0 and "fast" in text.out, text
    page = tmp_path / "study.html"
    html = run("report", f"S{sid}", "--html", page)
    assert html.code == 0, html
    assert f"<title>Study S{sid}: macd on {','.join(PAIRS)} 1h</title>" in page.read_text()
    before = snapshot(cached)
    again = run("optimize", "--resume", f"S{sid}", "--json")
    assert again.code == 0, again
    assert again.json()["evaluated"] == 0 and again.json()["chosen"] == body["chosen"]
    assert snapshot(cached) == before


def test_per_pair_parameters_stored_run_reruns_identically(
        cached: Path, run: Callable[..., Any], tmp_path: Path) -> None:  # noqa: F811
    res = run("optimize", "--symbols", ",".join(PAIRS), *COMMON, *RANGE, *SPACE, "--per-pair",
              "--max-open-positions", "2", "--export-preset", "pp-pairs", "--json")
    assert res.code == 0, res
    body = res.json()
    assert [s["pair"] for s in body["studies"]] == list(PAIRS)
    assert body["pair_params"] == {s["pair"]: s["params"] for s in body["studies"]}
    run_id = body["run_id"]
    assert body["report"]["header"]["pair_params"] == body["pair_params"]
    stored = run("report", str(run_id), "--json")
    assert stored.code == 0 and stored.json()["header"]["pair_params"] == body["pair_params"], stored
    shown = run("report", str(run_id))
    assert shown.code == 0 and "Per-pair parameters: BTC/USDT fast=" in shown.out, shown
    rerun = run("report", str(run_id), "--rerun", "--json")
    assert rerun.code == 0, rerun
    assert rerun.json()["identical"] is True
    assert rerun.json()["report"]["header"]["pair_params"] == body["pair_params"]
    # the exported preset trades what the stored run traded
    bt = run("backtest", "--symbols", ",".join(PAIRS), *COMMON, *RANGE, "--max-open-positions", "2",
             "--preset", "pp-pairs", "--json", "--no-save")
    assert bt.code == 0, bt
    assert "[portfolio.pair_params]" in Path(body["preset_file"]).read_text()
    assert bt.json()["summary"]["final_equity"] == body["report"]["summary"]["final_equity"]
    assert bt.json()["header"]["pair_params"] == body["pair_params"]
    first = body["studies"][0]["study_id"]  # a study without walk-forward has its HTML page too
    page = tmp_path / "pair.html"
    html = run("report", f"S{first}", "--html", page)
    assert html.code == 0, html
    assert f"<title>Study S{first}: macd on BTC/USDT 1h</title>" in page.read_text()
    text = run("optimize", "--symbols", ",".join(PAIRS), *COMMON, *RANGE, *SPACE, "--per-pair")
    assert text.code == 0 and "Per-pair parameters" in text.out and "--rerun" in text.out, text


BAD = [
    (("--symbols", "BTC/USDT", "--per-pair"), "error: --per-pair needs a pair list of two or more pairs"),
    (("--resume", "S1", "--per-pair"), "error: --per-pair: not with --list or --resume"),
    (("--symbols", ",".join(PAIRS), "--per-pair", "--export-preset", "bad name"), "error: --export-preset 'bad name'"),
    (("--symbols", ",".join(PAIRS), "--per-pair", "--space", "stop_loss_pct=0.02,0.04"),
     "error: --per-pair: --space stop_loss_pct is an account setting"),
    (("--symbols", ",".join(PAIRS), "--wf-train", "15d", "--wf-test", "nope"), "error: invalid span 'nope'"),
    (("--symbols", ",".join(PAIRS), "--method", "annealing"), "error: --method 'annealing'"),
]


def test_bad_pair_list_optimize_input_is_one_line_exit_2_and_stores_nothing(
        cached: Path, run: Callable[..., Any]) -> None:  # noqa: F811
    for args, message in BAD:
        before = snapshot(cached)
        res = run("optimize", *args, *COMMON, *RANGE, "--space", "fast=8,12")
        assert res.code == 2 and res.err.startswith(message) and len(res.err.strip().splitlines()) == 1, (args, res)
        assert snapshot(cached) == before, args
