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
