"""``tradebot report --model NAME[:VERSION]``: a trained model's record as a report.

:func:`model_report` is the verified record (its artifact's sha256 checked, nothing
unpickled) with the verdict line and the champion/challenger line; :func:`write_model_html`
writes its self-contained page (:mod:`tradebot.analysis.html_model`) atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tradebot.services.context import Context


def model_report(ctx: Context, ref: str) -> dict[str, Any]:
    """The stored record of ``NAME[:VERSION]`` (NAME: the champion, else the newest) plus
    ``verdict_line`` and ``challenge_line``; every score in it is out of sample."""
    from tradebot.ml.verdict import verdict_line
    from tradebot.services.train import show_model

    rec = show_model(ctx, ref)
    if (rec.get("model") or {}).get("kind") == "regime":
        from tradebot.core.errors import UsageError

        raise UsageError(f"model {rec['name']}:{rec['version']} is a regime classifier, not a trading model: "
                         f"`tradebot models show {rec['name']}` or `tradebot regime --model {rec['name']}`")
    return {**rec, "verdict_line": verdict_line(rec["verdict_detail"]), "challenge_line": challenge_line(rec)}


def challenge_line(rec: dict[str, Any]) -> str | None:
    from tradebot.ml.challenge import comparison_line

    ch = rec.get("challenge")
    if not ch:
        return None
    return comparison_line(ch, f"{rec['name']}:{rec['version']}", ch.get("champion") or "")


def write_model_html(ctx: Context, ref: str, path: Path) -> tuple[Path, int, str]:
    """Write the page of ``ref`` to ``path`` (atomically); ``(path, bytes, "model NAME:VERSION")``."""
    from tradebot.analysis.html_model import model_page
    from tradebot.core.atomic import atomic_write_bytes
    from tradebot.services.html_report import check_html_target

    target = check_html_target(path)
    rep = model_report(ctx, ref)
    data = model_page(rep, rep["verdict_line"], rep["challenge_line"]).encode("utf-8")
    atomic_write_bytes(target, data)
    return target, len(data), f"model {rep['name']}:{rep['version']}"
