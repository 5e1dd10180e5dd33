"""The CSV log: ``time,arousal,valence,speech`` then rows ``0.00,0.123456,-0.012345,1``.

Nothing else, so pandas and spreadsheets read it as is; a row without values (``0.04,,,1``)
is an invalid model output and reads back as NaN. A calibrated run (``--calibrate``) adds
two columns at the end, ``arousal_rel,valence_rel``, empty until the baseline is complete.
"""

from __future__ import annotations

import math
from pathlib import Path

from edge_affect.audio import HOP_S
from edge_affect.errors import DataFormatError
from edge_affect.logs.format import LogFormat, LogPart
from edge_affect.stream.reading import Reading

CSV_COLUMNS = "time,arousal,valence,speech"
#: The column line of a calibrated run's log.
CSV_RELATIVE_COLUMNS = CSV_COLUMNS + ",arousal_rel,valence_rel"


def _csv_value(value: float) -> str:
    """Six decimals; empty for a missing (non-finite) value: pandas reads NaN, so does read_log."""
    return f"{value:.6f}" if math.isfinite(value) else ""


class CsvFormat(LogFormat):
    name = "csv"

    def header(self, file_index: int, first_time_s: float | None) -> str:
        return (CSV_RELATIVE_COLUMNS if self.relative else CSV_COLUMNS) + "\n"

    def row(self, reading: Reading) -> str:
        speech = 1 if reading.speech else 0
        # a row without values has empty cells: pandas reads NaN, so does read_log
        values = f"{reading.arousal:.6f},{reading.valence:.6f}" if reading.valid else ","
        line = f"{reading.index * HOP_S:.2f},{values},{speech}"
        if self.relative:
            line += f",{_csv_value(reading.arousal_rel)},{_csv_value(reading.valence_rel)}"
        return line + "\n"


def _speech_flag(token: str, source: str) -> bool:
    if token in ("0", "1"):
        return token == "1"
    raise DataFormatError(f"{source}: speech is {token!r}, expected 0 or 1")


def _number(field: str) -> float:
    return float(field) if field else math.nan


def read_csv_log(path: Path, text: str) -> LogPart:
    lines = text.splitlines()
    if not lines:
        raise DataFormatError(f"{path}: empty file, expected the column line {CSV_COLUMNS!r}")
    columns = lines[0].strip()
    if columns not in (CSV_COLUMNS, CSV_RELATIVE_COLUMNS):
        raise DataFormatError(
            f"{path}:1: expected the column line {CSV_COLUMNS!r} (or {CSV_RELATIVE_COLUMNS!r})"
        )
    part = LogPart(relative=columns == CSV_RELATIVE_COLUMNS)
    width = len(columns.split(","))
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != width:
            raise DataFormatError(
                f"{path}:{number}: {len(fields)} values, expected {width} (truncated?)"
            )
        try:
            values = [_number(f) for f in fields[:3] + fields[4:]]
        except ValueError:
            raise DataFormatError(f"{path}:{number}: a value is not a number: {line!r}") from None
        part.times.append(values[0])
        part.arousal.append(values[1])
        part.valence.append(values[2])
        part.speech.append(_speech_flag(fields[3].strip(), f"{path}:{number}"))
        if part.relative:
            part.arousal_rel.append(values[3])
            part.valence_rel.append(values[4])
    return part
