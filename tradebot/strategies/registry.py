"""Strategy registry: built-ins, the ``tradebot.strategies`` entry points, a user folder."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

from tradebot.core.errors import StrategyLoadError, UnknownStrategyError
from tradebot.strategies.base import Strategy

BUILTINS = {
    "rsi": "tradebot.strategies.builtin.rsi:RsiStrategy",
    "macd": "tradebot.strategies.builtin.macd:MacdStrategy",
    "bollinger": "tradebot.strategies.builtin.bollinger:BollingerStrategy",
    "ichimoku": "tradebot.strategies.builtin.ichimoku:IchimokuStrategy",
    "support_resistance": "tradebot.strategies.builtin.support_resistance:SupportResistanceStrategy",
    "volume_profile": "tradebot.strategies.builtin.volume_profile:VolumeProfileStrategy",
    "order_flow": "tradebot.strategies.builtin.order_flow:OrderFlowStrategy",
    "confluence": "tradebot.strategies.builtin.confluence:ConfluenceStrategy",
    "ml": "tradebot.strategies.builtin.ml:MlStrategy",
}
ENTRY_POINT_GROUP = "tradebot.strategies"


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    version: str
    description: str
    origin: str  # "builtin", "entry point <dist>", or the file it came from
    cls: type[Strategy]


def _load_ref(ref: str) -> type[Strategy]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def _strategies_in_module(module: object) -> list[type[Strategy]]:
    return [
        obj for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Strategy) and obj is not Strategy and not inspect.isabstract(obj)
        and obj.__module__ == getattr(module, "__name__", None) and obj.name
    ]


def _load_folder(folder: Path) -> list[StrategyInfo]:
    if not folder.is_dir():
        raise StrategyLoadError(f"--strategy-path {folder}: not a directory")
    found: list[StrategyInfo] = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        mod_name = f"tradebot_user_strategies.{path.stem}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise StrategyLoadError(f"strategy file {path}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as e:
            raise StrategyLoadError(
                f"strategy file {path}: syntax error at line {e.lineno}: {e.msg}"
            ) from e
        except Exception as e:  # user code: report any failure as one line
            raise StrategyLoadError(
                f"strategy file {path}: import failed: {type(e).__name__}: {e}"
            ) from e
        for cls in _strategies_in_module(module):
            found.append(StrategyInfo(cls.name, cls.version, cls.description, str(path), cls))
    return found


def _entry_points() -> list[StrategyInfo]:
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as e:  # third-party code: report, do not crash
            raise StrategyLoadError(f"strategy entry point {ep.name!r} ({ep.value}): {e}") from e
        if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
            raise StrategyLoadError(
                f"strategy entry point {ep.name!r} ({ep.value}) is not a Strategy subclass"
            )
        dist = getattr(getattr(ep, "dist", None), "name", "?")
        found.append(StrategyInfo(ep.name, cls.version, cls.description,
                                  f"entry point ({dist})", cls))
    return found


class Registry:
    """Every strategy tradebot can run, by name. User folder beats entry points beats
    built-ins, so a user can shadow a built-in on purpose."""

    def __init__(self, strategy_path: Path | None = None) -> None:
        self._strategy_path = strategy_path
        self._all: dict[str, StrategyInfo] | None = None
        self._ep_names: frozenset[str] | None = None

    def _builtin(self, name: str) -> StrategyInfo:
        cls = _load_ref(BUILTINS[name])
        return StrategyInfo(cls.name, cls.version, cls.description, "builtin", cls)

    def all(self) -> dict[str, StrategyInfo]:
        if self._all is None:
            table = {name: self._builtin(name) for name in BUILTINS}
            table.update({i.name: i for i in _entry_points()})
            if self._strategy_path is not None:
                table.update({i.name: i for i in _load_folder(self._strategy_path)})
            self._all = dict(sorted(table.items()))
        return self._all

    def get(self, name: str) -> StrategyInfo:
        """One strategy by name, importing only what it takes to find it (a cron run
        should not import every built-in): user folder, then entry points, then built-ins."""
        if self._all is None:
            if self._strategy_path is not None:
                for info in _load_folder(self._strategy_path):
                    if info.name == name:
                        return info
            if self._ep_names is None:  # scanned once per registry (a selector creates many strategies)
                from importlib.metadata import entry_points

                self._ep_names = frozenset(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
            if name not in self._ep_names and name in BUILTINS:
                return self._builtin(name)
        table = self.all()
        if name in table:
            return table[name]
        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownStrategyError(
            f"unknown strategy {name!r}{hint} (available: {', '.join(table)})"
        )

    def create(self, name: str, params: dict[str, object] | None = None) -> Strategy:
        strategy = self.get(name).cls()
        if params:
            strategy.set_parameters(dict(params))
        return strategy
