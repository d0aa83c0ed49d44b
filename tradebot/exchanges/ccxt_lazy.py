"""ccxt with its exchange classes imported on first use.

``import ccxt`` runs ccxt's package ``__init__``, which imports every one of its ~100
exchange classes (about a third of a second of a cold ``tradebot live`` or ``paper``
step that talks to one exchange). :func:`install` puts the package in ``sys.modules``
with that same ``__init__`` source executed minus the ``from ccxt.<id> import <id>``
lines; ``ccxt.<id>`` is then imported on first access (PEP 562 ``__getattr__``). The
base classes, errors, constants and the ``exchanges`` list are the package's own, so
``import ccxt`` afterwards (anywhere in the process) sees the same names and classes.

When ccxt is already imported, or its ``__init__`` does not have the expected shape
(a ccxt release that changed it), nothing is done and ccxt is imported as usual.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from typing import Any

__all__ = ["install"]

# one exchange class per line: `from ccxt.binance import binance`, then a lint comment
_CLASS_LINE = re.compile(r"^from ccxt\.(\w+) import (\w+)[ \t]*#[^\n]*$", re.MULTILINE)


def install() -> bool:
    """Install the lazy package (see the module docstring); True when it is in place."""
    current = sys.modules.get("ccxt")
    if current is not None:
        return getattr(current, "__tradebot_lazy__", False) is True
    spec = importlib.util.find_spec("ccxt")
    if spec is None or spec.origin is None or spec.submodule_search_locations is None:
        return False
    with open(spec.origin, encoding="utf-8") as f:
        source = f.read()
    lazy: set[str] = set()

    def drop(m: re.Match[str]) -> str:
        mod, name = m.group(1), m.group(2)
        if mod != name or mod == "base":
            return m.group(0)
        lazy.add(name)
        return ""

    trimmed = _CLASS_LINE.sub(drop, source)
    if len(lazy) < 10 or "exchanges = [" not in trimmed:
        return False  # not the shape this was written for: import ccxt as usual
    module = importlib.util.module_from_spec(spec)

    def __getattr__(name: str) -> Any:  # noqa: N807 - PEP 562
        if name in lazy:
            cls = getattr(importlib.import_module(f"ccxt.{name}"), name)
            setattr(module, name, cls)
            return cls
        raise AttributeError(f"module 'ccxt' has no attribute {name!r}")

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(module.__dict__) | lazy)

    module.__dict__.update(__getattr__=__getattr__, __dir__=__dir__, __tradebot_lazy__=True,
                           __tradebot_lazy_names__=frozenset(lazy))
    module.__class__ = _LazyPackage
    sys.modules["ccxt"] = module
    try:
        exec(compile(trimmed, spec.origin, "exec"), module.__dict__)  # noqa: S102
    except BaseException:
        sys.modules.pop("ccxt", None)
        raise
    return True


class _LazyPackage(types.ModuleType):
    """The import system binds ``ccxt.<id>`` to the submodule once it is imported (``from
    ccxt.okx import okx``); ccxt's own ``__init__`` then rebinds it to the class, and so
    does this."""

    def __setattr__(self, name: str, value: Any) -> None:
        if (isinstance(value, types.ModuleType) and value.__name__ == f"ccxt.{name}"
                and name in self.__dict__.get("__tradebot_lazy_names__", ())):
            value = getattr(value, name, value)
        super().__setattr__(name, value)

