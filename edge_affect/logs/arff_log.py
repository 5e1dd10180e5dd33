"""The ARFF log, AVEC 2016 style, readable by liac-arff and
:func:`edge_affect.formats.arff.parse_arff`.

The JSONL header object is one ``%`` comment line before ``@relation edge_affect_predictions``;
attributes ``Instance_name`` (string), ``frameTime``, ``arousal``, ``valence``, ``speech``
(numeric); rows ``'<instance>',0.00,0.123456,-0.012345,1`` (``?`` for a non-finite value); the
summary is a final ``%`` comment line. The instance name is the log's file stem (without a
rotation number), with characters other than letters, digits, ``_ . -`` replaced by ``_``, so
every file of a rotated set names the same session.

A calibrated run (``--calibrate``) adds the numeric attributes ``arousal_rel`` and
``valence_rel`` after ``speech`` (``?`` until the baseline is complete); its summary comment
holds the baseline (``calibration``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from edge_affect.audio import HOP_S
from edge_affect.errors import DataFormatError
from edge_affect.formats.arff import parse_arff
from edge_affect.logs.format import LogFormat, LogPart
from edge_affect.logs.header import check_header
from edge_affect.stream.reading import Reading

ARFF_RELATION = "edge_affect_predictions"
ARFF_ATTRIBUTES = ("Instance_name", "frameTime", "arousal", "valence", "speech")
#: The attributes of a calibrated run's log.
ARFF_RELATIVE_ATTRIBUTES = (*ARFF_ATTRIBUTES, "arousal_rel", "valence_rel")
_UNSAFE_INSTANCE = re.compile(r"[^A-Za-z0-9_.\-]")


def _arff_value(value: float) -> str:
    return f"{value:.6f}" if math.isfinite(value) else "?"


class ArffFormat(LogFormat):
    name = "arff"
    has_footer = True

    def header(self, file_index: int, first_time_s: float | None) -> str:
        attributes = ARFF_RELATIVE_ATTRIBUTES if self.relative else ARFF_ATTRIBUTES
        lines = [
            "% " + self.header_json(file_index, first_time_s),
            f"@relation {ARFF_RELATION}",
            "",
            f"@attribute {attributes[0]} string",
            *(f"@attribute {name} numeric" for name in attributes[1:]),
            "",
            "@data",
        ]
        return "\n".join(lines) + "\n"

    def row(self, reading: Reading) -> str:
        arousal, valence = _arff_value(reading.arousal), _arff_value(reading.valence)
        speech = 1 if reading.speech else 0
        line = f"'{self.instance}',{reading.index * HOP_S:.2f},{arousal},{valence},{speech}"
        if self.relative:
            line += f",{_arff_value(reading.arousal_rel)},{_arff_value(reading.valence_rel)}"
        return line + "\n"

    def footer(self, summary_json: str) -> str:
        return "% " + summary_json + "\n"


def arff_instance_name(path: Path) -> str:
    """The ARFF ``Instance_name`` of a log: its file stem, made safe to quote."""
    return _UNSAFE_INSTANCE.sub("_", path.stem) or "log"


def _arff_comments(path: Path, lines: list[str]) -> LogPart:
    """The header (first line) and summary (a ``%`` line after the data) of an ARFF log."""
    if not lines or not lines[0].startswith("%"):
        raise DataFormatError(f"{path}:1: expected the edge-affect log header comment")
    part = LogPart()
    try:
        part.header = check_header(json.loads(lines[0][1:]), f"{path}:1")
        tail = [line[1:] for line in lines[1:] if line.startswith("%")]
        summary = json.loads(tail[-1]) if tail else None
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: malformed header/summary comment ({exc.msg})") from None
    if isinstance(summary, dict) and summary.get("type") == "summary":
        part.summary = summary
    return part


def _check_arff_attributes(path: Path, lines: list[str]) -> tuple[bool, bool]:
    """Check the attribute layout; return whether the file has data rows, and whether it
    has the calibration's relative attributes."""
    names = tuple(line.split()[1] for line in lines if line.lower().startswith("@attribute "))
    if names not in (ARFF_ATTRIBUTES, ARFF_RELATIVE_ATTRIBUTES):
        raise DataFormatError(
            f"{path}: attributes {', '.join(names) or '(none)'}, "
            f"expected {', '.join(ARFF_ATTRIBUTES)} (and arousal_rel, valence_rel)"
        )
    starts = [i for i, line in enumerate(lines) if line.strip().lower() == "@data"]
    if not starts:
        raise DataFormatError(f"{path}: no @data section (truncated?)")
    rest = lines[starts[0] + 1 :]
    has_rows = any(line.strip() and not line.startswith("%") for line in rest)
    return has_rows, names == ARFF_RELATIVE_ATTRIBUTES


def read_arff_log(path: Path, text: str) -> LogPart:
    lines = text.splitlines()
    part = _arff_comments(path, lines)
    has_rows, part.relative = _check_arff_attributes(path, lines)
    if not has_rows:
        return part
    table = parse_arff(text, source=str(path), step_s=None)
    speech = table.column("speech")
    if not np.isin(speech, (0.0, 1.0)).all():
        raise DataFormatError(f"{path}: speech values must be 0 or 1")
    part.times = table.times.tolist()
    part.arousal = table.column("arousal").tolist()
    part.valence = table.column("valence").tolist()
    part.speech = (speech == 1.0).tolist()
    if part.relative:
        part.arousal_rel = table.column("arousal_rel").tolist()
        part.valence_rel = table.column("valence_rel").tolist()
    return part
