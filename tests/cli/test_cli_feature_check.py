"""``tradebot strategies check --spec``: the feature look-ahead check through the command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradebot.ml.spec import builtin_specs

Run = Callable[..., Any]


@pytest.mark.parametrize("name", builtin_specs())
def test_every_builtin_spec_passes_the_command(run: Run, name: str) -> None:
    res = run("strategies", "check", "--spec", name, "--points", "6")
    assert res.code == 0, res
    assert f"feature spec {name} (" in res.out and "6 truncation points" in res.out
    assert "no look-ahead: every feature value is the same on truncated histories" in res.out


@pytest.fixture
def peek() -> Iterator[str]:
    """A feature that reads the next bars' close: known only in the future."""
    from tradebot.ml.feature_kinds import Param, register_feature, unregister_feature

    @register_feature("peek", params={"shift": Param("int", 1, 1, 10)},
                      columns=lambda p: [f"peek_{p['shift']}"], warmup=lambda p: 0)
    def _peek(candles: Any, p: Any) -> list[np.ndarray]:
        c = candles.close
        out = np.full(c.shape[0], np.nan)
        out[: -p["shift"]] = c[p["shift"]:] / c[: -p["shift"]] - 1
        return [out]

    yield "peek"
    unregister_feature("peek")


def test_a_planted_future_feature_fails_the_command(run: Run, peek: str, tmp_path: Path) -> None:
    spec = tmp_path / "peeking.toml"
    spec.write_text('name = "peeking"\n[[features]]\nkind = "returns"\nperiods = [1, 4]\n\n'
                    '[[features]]\nkind = "peek"\nshift = 3\n')
    res = run("strategies", "check", "--spec", spec, "--points", "5")
    assert res.code == 1, res
    assert "feature peek_3 changes when future candles are removed" in res.out
    assert "ret_1" not in res.out.split("truncation points", 1)[1]  # the causal columns are not blamed
    assert "when cut after" in res.out


@pytest.mark.parametrize(("args", "needle"), [
    (["--spec", "nope"], "feature spec 'nope' is neither a file nor a built-in spec"),
    (["rsi", "--spec", "default"], "give a strategy NAME or --spec NAME|FILE (one of them)"),
    ([], "give a strategy NAME or --spec NAME|FILE"),
    (["--spec", "default", "--param", "x=1"], "--param applies to strategies"),
])
def test_bad_spec_check_input(run: Run, args: list[str], needle: str) -> None:
    res = run("strategies", "check", *args)
    assert res.code == 2, res
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], res


def test_second_timeframe_and_other_symbol_through_check_and_train(run: Run, home: Path, tmp_path: Path) -> None:
    from tests.cli.test_cli_train import cache, market_args, synthetic_market

    cache(home, synthetic_market(1500, 1, True, "PLANT/USDT"))
    cache(home, synthetic_market(1500, 2, False, "OTHER/USDT"))
    spec = tmp_path / "mtf.toml"
    spec.write_text('name = "mtf"\ntimeframe = "1h"\n[[features]]\nkind = "returns"\nperiods = [1, 12]\n\n'
                    '[[features]]\nkind = "returns"\nperiods = [1]\ntimeframe = "4h"\n\n'
                    '[[features]]\nkind = "returns"\nperiods = [1, 4]\nsymbol = "OTHER/USDT"\n')
    res = run("strategies", "check", "--spec", spec, *market_args("PLANT/USDT"), "--points", "6")
    assert res.code == 0 and "no look-ahead" in res.out, res
    res = run("train", "--name", "mtf", *market_args("PLANT/USDT"), "--spec", spec, "--folds", "2",
              "--shuffles", "0", "--no-importance", "--quiet", "--json")
    assert res.code == 0, res
    rec = res.json()
    assert rec["columns"] == ["ret_1", "ret_12", "4h:ret_1", "OTHER/USDT:ret_1", "OTHER/USDT:ret_4"]
    assert rec["spec"]["timeframe"] == "1h" and rec["spec"]["features"][2]["symbol"] == "OTHER/USDT"
    spec.write_text(spec.read_text().replace("OTHER/USDT", "MISSING/USDT"))
    res = run("train", "--name", "mtf", *market_args("PLANT/USDT"), "--spec", spec, "--quiet")
    assert res.code == 2 and "no cached candles for synth MISSING/USDT 1h" in res.err, res
    assert [r["version"] for r in run("models", "list", "--json").json()] == [1]
