"""The JSONL log: a header object, one object per reading, a summary object at a clean close.

Rows: ``time, arousal, valence, speech, output, wall_time, latency_ms, overflows, drops``; a
row whose model output was not finite has ``null`` values and ``"valid": false``. A calibrated
run (``--calibrate``) adds ``arousal_rel`` and ``valence_rel`` after ``valence`` (``null``
until the baseline is complete); its summary holds the baseline (``calibration``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_affect.errors import DataFormatError
from edge_affect.logs.format import LogFormat, LogPart, time_json
from edge_affect.logs.header import check_header
from edge_affect.stream.reading import Reading


class JsonlFormat(LogFormat):
    name = "jsonl"
    has_footer = True

    def header(self, file_index: int, first_time_s: float | None) -> str:
        return self.header_json(file_index, first_time_s) + "\n"

    def row(self, r: Reading) -> str:
        """One JSON object; a row whose model output was not finite has ``null`` values and
        ``"valid": false`` (never ``NaN``/``Infinity``, which are not JSON)."""
        values: dict[str, Any] = (
            {"arousal": round(float(r.arousal), 6), "valence": round(float(r.valence), 6)}
            if r.valid
            else {"arousal": None, "valence": None, "valid": False}
        )
        if self.relative:
            values["arousal_rel"] = _json_value(r.arousal_rel)
            values["valence_rel"] = _json_value(r.valence_rel)
        row = {
            "time": time_json(r),
            **values,
            "speech": bool(r.speech),
            "output": str(r.output),
            "wall_time": round(float(r.wall_time), 6),
            "latency_ms": round(float(r.latency_s) * 1000.0, 3),
            "overflows": int(r.overflows),
            "drops": int(r.drops),
        }
        return json.dumps(row, allow_nan=False) + "\n"

    def footer(self, summary_json: str) -> str:
        return summary_json + "\n"


def _json_value(value: float) -> float | None:
    """Six decimals, or ``null`` for a missing (non-finite) value."""
    return round(float(value), 6) if math.isfinite(value) else None


def _json_number(obj: Mapping[str, Any], key: str, source: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataFormatError(f"{source}: {key!r} is {value!r}, expected a number")
    return float(value)


def _jsonl_row(part: LogPart, obj: Mapping[str, Any], source: str) -> None:
    speech = obj.get("speech")
    if not isinstance(speech, bool):
        raise DataFormatError(f"{source}: 'speech' is {speech!r}, expected true or false")
    part.times.append(_json_number(obj, "time", source))
    invalid = obj.get("valid") is False  # null values: the model's output was not finite
    part.arousal.append(math.nan if invalid else _json_number(obj, "arousal", source))
    part.valence.append(math.nan if invalid else _json_number(obj, "valence", source))
    part.speech.append(speech)
    if part.relative:
        for key, column in (("arousal_rel", part.arousal_rel), ("valence_rel", part.valence_rel)):
            missing = obj.get(key, 0) is None  # null: before the baseline, or no value
            column.append(math.nan if missing else _json_number(obj, key, source))


def read_jsonl_log(path: Path, text: str) -> LogPart:
    part = LogPart()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        source = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{source}: not valid JSON ({exc.msg}); truncated?") from None
        if part.header is None:
            part.header = check_header(obj, source)
            part.relative = part.header.get("calibration") is not None
            continue
        if not isinstance(obj, dict):
            raise DataFormatError(f"{source}: expected a JSON object")
        if part.summary is not None:
            raise DataFormatError(f"{source}: a line after the summary")
        kind = obj.get("type")
        if kind == "summary":
            part.summary = obj
        elif kind is None:
            _jsonl_row(part, obj, source)
        else:
            raise DataFormatError(f"{source}: unexpected line of type {kind!r}")
    if part.header is None:
        raise DataFormatError(f"{path}: empty file, expected the edge-affect log header")
    return part
