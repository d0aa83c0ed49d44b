"""The JSON of every API answer: the reports' own serializer (no NaN/inf, dates as ISO)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class SafeJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        from tradebot.analysis.report import report_to_json

        return report_to_json(content).encode("utf-8")


