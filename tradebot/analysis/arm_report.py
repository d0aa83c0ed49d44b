"""Arm statistics and the switching history of a selector paper account (pure functions over
its window rows; :func:`tradebot.services.paper_selector.selector_report` reads them).

A window row is a mapping with ``window``, ``start_ms``, ``arm``, ``previous_arm``, ``reward``
(the played arm's realised return, None while the window is open) and ``shadow`` (every arm's
return on the same candles, None while open).

* ``plays`` — windows the arm was chosen for (the open one included); ``closed`` — of those,
  the ones finished; ``mean_reward`` / ``total_reward`` — the realised returns of those;
* ``shadow_mean`` — the arm's mean engine return over every finished window, played or not
  (what following it throughout would have earned per window, before switching costs);
* ``last_chosen`` — the last window it was chosen for (and its start).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def arm_statistics(names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per arm, in arm order (see the module docstring)."""
    out = []
    closed_rows = [r for r in rows if r.get("reward") is not None and r.get("shadow") is not None]
    for i, name in enumerate(names):
        chosen = [r for r in rows if int(r["arm"]) == i]
        realised = [float(r["reward"]) for r in chosen if r.get("reward") is not None]
        shadow = [float(r["shadow"][i]) for r in closed_rows if i < len(r["shadow"])]
        last = chosen[-1] if chosen else None
        out.append({
            "arm": i, "name": name, "plays": len(chosen), "closed": len(realised),
            "mean_reward": sum(realised) / len(realised) if realised else None,
            "total_reward": sum(realised) if realised else 0.0,
            "shadow_mean": sum(shadow) / len(shadow) if shadow else None,
            "last_chosen_window": None if last is None else int(last["window"]),
            "last_chosen_ms": None if last is None else int(last["start_ms"]),
        })
    return out


def switch_history(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """Every window whose arm differs from the previous window's, in order."""
    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else f"arm {i}"

    return [{"window": int(r["window"]), "ts_ms": int(r["start_ms"]), "from": name(int(r["previous_arm"])),
             "to": name(int(r["arm"]))}
            for r in rows if r.get("previous_arm") is not None and int(r["previous_arm"]) != int(r["arm"])]
