"""The CSV log: ``time,arousal,valence,speech`` then rows ``0.00,0.123456,-0.012345,1``.

Nothing else, so pandas and spreadsheets read it as is; a row without values (``0.04,,,1``)
is an invalid model output and reads back as NaN.
"""

from __future__ import annotations

import math
from pathlib import Path

from edge_affect.audio import HOP_S
from edge_affect.errors import DataFormatError
from edge_affect.logs.format import LogFormat, LogPart
from edge_affect.stream.reading import Reading

CSV_COLUMNS = "time,arousal,valence,speech"


class CsvFormat(LogFormat):
    name = "csv"

    def header(self, file_index: int, first_time_s: float | None) -> str:
        return CSV_COLUMNS + "\n"

    def row(self, reading: Reading) -> str:
        speech = 1 if reading.speech else 0
        if not reading.valid:  # empty values: pandas reads NaN, so does read_log
            return f"{reading.index * HOP_S:.2f},,,{speech}\n"
        return f"{reading.index * HOP_S:.2f},{reading.arousal:.6f},{reading.valence:.6f},{speech}\n"


def _speech_flag(token: str, source: str) -> bool:
    if token in ("0", "1"):
        return token == "1"
    raise DataFormatError(f"{source}: speech is {token!r}, expected 0 or 1")


def read_csv_log(path: Path, text: str) -> LogPart:
    lines = text.splitlines()
    if not lines:
        raise DataFormatError(f"{path}: empty file, expected the column line {CSV_COLUMNS!r}")
    if lines[0].strip() != CSV_COLUMNS:
        raise DataFormatError(f"{path}:1: expected the column line {CSV_COLUMNS!r}")
    part = LogPart()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 4:
            raise DataFormatError(f"{path}:{number}: {len(fields)} values, expected 4 (truncated?)")
        try:
            values = [float(f) if f else math.nan for f in fields[:3]]
        except ValueError:
            raise DataFormatError(f"{path}:{number}: a value is not a number: {line!r}") from None
        part.times.append(values[0])
        part.arousal.append(values[1])
        part.valence.append(values[2])
        part.speech.append(_speech_flag(fields[3].strip(), f"{path}:{number}"))
    return part
