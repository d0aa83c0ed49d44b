"""The strategy registry: built-ins, a user folder, entry points; helpful errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradebot.core.errors import StrategyLoadError, UnknownStrategyError
from tradebot.strategies.base import Strategy
from tradebot.strategies.registry import BUILTINS, ENTRY_POINT_GROUP, Registry, _entry_points

USER_STRATEGY = '''
from tradebot.core.signals import Signals
from tradebot.strategies.base import Strategy
from tradebot.strategies.params import Param


class {cls}(Strategy):
    name = "{name}"
    version = "{version}"
    description = "closes above the previous close"
    params = {{"lag": Param("int", 1, 1, 10)}}

    def compute_indicators(self, candles):
        return {{}}

    def signals_from(self, candles, ind):
        c = candles.close
        up = c > c.copy()  # all False, replaced below
        up[self.lag:] = c[self.lag:] > c[:-self.lag]
        return Signals(entries=up, exits=~up)
'''


@pytest.fixture(autouse=True)
def _forget_user_modules():
    """Modules loaded from temporary folders do not outlive the test."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("tradebot_user_strategies", "tb_ep_")):
            del sys.modules[name]


def random_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * 1.002,
         "low": np.minimum(open_, close) * 0.998, "close": close, "volume": 1.0},
        index=pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC"),
    )


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_builtins_are_listed_with_version_and_description():
    table = Registry().all()
    assert set(BUILTINS) <= set(table)
    for name in BUILTINS:
        info = table[name]
        assert info.name == name
        assert info.origin == "builtin"
        assert info.version and isinstance(info.version, str)
        assert len(info.description) > 10
        assert issubclass(info.cls, Strategy) and info.cls.name == name
    assert list(table) == sorted(table)


def test_create_with_params():
    s = Registry().create("rsi", {"period": "21"})
    assert s.period == 21 and s.name == "rsi"


@pytest.mark.parametrize(("typo", "suggestion"), [("rsii", "rsi"), ("mcad", "macd"),
                                                   ("bolinger", "bollinger")])
def test_unknown_name_suggests_close_names(typo, suggestion):
    with pytest.raises(UnknownStrategyError) as e:
        Registry().get(typo)
    msg = str(e.value)
    assert f"'{typo}'" in msg and f"did you mean {suggestion}" in msg
    assert "available:" in msg and "\n" not in msg
    assert e.value.exit_code == 2


def test_unknown_name_without_close_match():
    with pytest.raises(UnknownStrategyError) as e:
        Registry().create("zzzzzz")
    assert "did you mean" not in str(e.value)
    assert "rsi" in str(e.value)  # the list of what is available


def test_user_folder_strategy_works(tmp_path):
    folder = tmp_path / "strategies"
    path = write(folder, "momentum.py", USER_STRATEGY.format(cls="Momentum", name="momentum",
                                                             version="2.1"))
    write(folder, "_private.py", "raise RuntimeError('files starting with _ are skipped')\n")
    write(folder, "notes.txt", "not python")
    reg = Registry(strategy_path=folder)
    info = reg.get("momentum")
    assert info.version == "2.1" and info.origin == str(path)
    assert "rsi" in reg.all()  # built-ins are still there
    s = reg.create("momentum", {"lag": "2"})
    res = s.backtest(random_frame(500, seed=1), 10_000)
    assert len(res.trades) > 0


def test_user_folder_can_shadow_a_builtin(tmp_path):
    folder = tmp_path / "s"
    write(folder, "myrsi.py", USER_STRATEGY.format(cls="MyRsi", name="rsi", version="9"))
    info = Registry(strategy_path=folder).get("rsi")
    assert info.version == "9" and info.origin.endswith("myrsi.py")


def test_user_file_with_syntax_error_names_file_and_line(tmp_path):
    folder = tmp_path / "s"
    path = write(folder, "broken.py", "x = 1\n\ndef f(:\n    pass\n")
    with pytest.raises(StrategyLoadError) as e:
        Registry(strategy_path=folder).all()
    msg = str(e.value)
    assert str(path) in msg and "line 3" in msg and "syntax error" in msg
    assert "\n" not in msg and e.value.exit_code == 2


def test_user_file_raising_on_import(tmp_path):
    folder = tmp_path / "s"
    path = write(folder, "boom.py", "import numpy\nraise ValueError('no market today')\n")
    with pytest.raises(StrategyLoadError) as e:
        Registry(strategy_path=folder).get("rsi")
    msg = str(e.value)
    assert str(path) in msg and "ValueError" in msg and "no market today" in msg


def test_user_file_with_missing_import(tmp_path):
    folder = tmp_path / "s"
    write(folder, "needs.py", "import tradebot_no_such_module_xyz\n")
    with pytest.raises(StrategyLoadError, match="ModuleNotFoundError.*tradebot_no_such_module_xyz"):
        Registry(strategy_path=folder).all()


def test_strategy_path_not_a_directory(tmp_path):
    with pytest.raises(StrategyLoadError, match="not a directory"):
        Registry(strategy_path=tmp_path / "missing").all()


# -- entry points -----------------------------------------------------------------------

def make_distribution(root: Path, dist: str, module: str, source: str, entry: str) -> None:
    """A minimal installed distribution: a module and a dist-info with entry_points.txt."""
    write(root, f"{module}.py", source)
    info = root / f"{dist}-1.0.dist-info"
    write(info, "METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    write(info, "entry_points.txt", f"[{ENTRY_POINT_GROUP}]\n{entry}\n")


def test_entry_point_strategy(tmp_path, monkeypatch):
    make_distribution(
        tmp_path, "tb_plugin", "tb_ep_plugin",
        USER_STRATEGY.format(cls="PluginStrategy", name="plugin", version="3"),
        "plugin = tb_ep_plugin:PluginStrategy",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = {i.name: i for i in _entry_points()}
    assert "plugin" in found
    assert found["plugin"].version == "3"
    assert found["plugin"].origin == "entry point (tb_plugin)"
    reg = Registry()
    assert reg.get("plugin").cls.__name__ == "PluginStrategy"
    assert {"rsi", "macd", "bollinger", "plugin"} <= set(reg.all())
    res = reg.create("plugin").backtest(random_frame(300, seed=2), 10_000)
    assert res.equity.shape == (300,)


def test_entry_point_not_a_strategy(tmp_path, monkeypatch):
    make_distribution(tmp_path, "tb_bad", "tb_ep_bad", "class NotAStrategy:\n    pass\n",
                      "bad = tb_ep_bad:NotAStrategy")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StrategyLoadError, match="'bad'.*not a Strategy subclass"):
        Registry().all()


def test_entry_point_failing_import(tmp_path, monkeypatch):
    make_distribution(tmp_path, "tb_fail", "tb_ep_fail", "raise ImportError('needs gpu')\n",
                      "failing = tb_ep_fail:Thing")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StrategyLoadError, match="'failing'.*needs gpu"):
        _entry_points()


def test_no_stray_entry_points_after_the_tests():
    """The temporary distributions above are gone once their test ends."""
    assert {i.name for i in _entry_points()}.isdisjoint({"plugin", "bad", "failing"})
