"""What each log format provides: a renderer for writing and the rows it reads back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_affect.audio import HOP_MS
from edge_affect.logs.header import LOG_FORMAT, LogHeader, dumps
from edge_affect.stream.reading import Reading


def time_json(reading: Reading) -> float:
    """Exact-looking decimal stream time (``0.12``, not ``0.12000000000000001``)."""
    return int(reading.index) * HOP_MS / 1000


class LogFormat:
    """Renders one format's header, rows and footer as text."""

    name = ""
    has_footer = False  # a summary line at a clean close

    def __init__(self, header: LogHeader, instance: str) -> None:
        body = dumps(header.to_dict())
        self._header_body = body[1:-1]  # encoded once; completed per file
        self.instance = instance
        #: a calibrated run: rows carry ``arousal_rel`` and ``valence_rel`` too
        self.relative = header.calibration is not None

    def header_json(self, file_index: int, first_time_s: float | None) -> str:
        return (
            f'{{"type": "header", "format": "{LOG_FORMAT}", {self._header_body}, '
            f'"file_index": {file_index}, "first_time": {dumps(first_time_s)}}}'
        )

    @staticmethod
    def summary_json(rows: int, files: int, summary: Mapping[str, Any] | None) -> str:
        fixed = {"type": "summary", "rows": rows, "files": files}
        extra = {k: v for k, v in (summary or {}).items() if k not in fixed}
        return dumps({**fixed, **extra})

    def header(self, file_index: int, first_time_s: float | None) -> str:
        raise NotImplementedError

    def row(self, reading: Reading) -> str:
        raise NotImplementedError

    def footer(self, summary_json: str) -> str:
        return ""


@dataclass
class LogPart:
    times: list[float] = field(default_factory=list)
    arousal: list[float] = field(default_factory=list)
    valence: list[float] = field(default_factory=list)
    speech: list[bool] = field(default_factory=list)
    header: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    relative: bool = False  # the log has the calibration's relative columns
    arousal_rel: list[float] = field(default_factory=list)
    valence_rel: list[float] = field(default_factory=list)
