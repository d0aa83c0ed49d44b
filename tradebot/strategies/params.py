"""Declared strategy parameters: type, default, range; parsing and validation."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from tradebot.core.errors import ParameterError

_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One tunable parameter. ``low``/``high`` are inclusive bounds for numbers;
    ``choices`` restricts strings; ``step`` is a hint for grid search."""

    kind: str  # "int", "float", "bool" or "str"
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    step: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _TYPES:
            raise ValueError(f"unknown parameter kind {self.kind!r}")

    def coerce(self, strategy: str, name: str, value: Any) -> Any:
        """Parse (strings from the command line) and check ``value``; one-line errors."""
        where = f"strategy {strategy!r}: parameter {name}"
        kind = self.kind
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ParameterError(f"{where}={value!r} is not a boolean (use true or false)")
        if kind == "str":
            text = str(value)
            if self.choices and text not in self.choices:
                raise ParameterError(f"{where}={text!r} is not one of {', '.join(self.choices)}")
            return text
        if isinstance(value, bool):
            raise ParameterError(f"{where}={value!r} is not a number")
        try:
            if kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                parsed: float = int(value) if not isinstance(value, str) else int(value.strip())
            else:
                parsed = float(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"{where}={value!r} is not {'an integer' if kind == 'int' else 'a number'}"
            ) from None
        if parsed != parsed or parsed in (float("inf"), float("-inf")):
            raise ParameterError(f"{where}={value!r} is not a finite number")
        if (self.low is not None and parsed < self.low) or (
            self.high is not None and parsed > self.high
        ):
            raise ParameterError(f"{where}={value} is out of range [{self.low}, {self.high}]")
        return parsed

    def to_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "default": self.default}
        if self.low is not None:
            out["low"] = self.low
        if self.high is not None:
            out["high"] = self.high
        if self.choices:
            out["choices"] = list(self.choices)
        if self.step is not None:
            out["step"] = self.step
        if self.description:
            out["description"] = self.description
        return out


def unknown_parameter(strategy: str, name: str, known: list[str]) -> ParameterError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
    return ParameterError(f"strategy {strategy!r} has no parameter {name!r}{hint}")


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["period=21", "lower=25"]`` → ``{"period": "21", "lower": "25"}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--param {item!r}: expected NAME=VALUE, e.g. period=21")
        out[key.strip()] = value.strip()
    return out
