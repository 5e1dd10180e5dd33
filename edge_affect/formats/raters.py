"""Individual rater traces in the RECOLA ``ratings_individual`` CSV style.

``time;FM1 ;FM2 ;FM3 ;FF1 ;FF2 ;FF3`` then one row per 40 ms frame. Column names seen in
released files carry trailing spaces; the reader strips them. The delimiter is ``;``; the
reader also accepts ``,`` or a tab when the header uses it consistently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_affect.arrays import FloatArray
from edge_affect.audio import HOP_S
from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect.formats.timegrid import check_grid

DELIMITER = ";"
_CANDIDATE_DELIMITERS = (";", ",", "\t")


@dataclass(frozen=True)
class Ratings:
    """Rater traces: ``values`` is ``(frames, raters)``."""

    times: FloatArray
    raters: tuple[str, ...]
    values: FloatArray

    def mean(self) -> FloatArray:
        """The unweighted mean over raters (the synthetic corpus's gold standard)."""
        return np.asarray(self.values.mean(axis=1), dtype=np.float64)


def _detect_delimiter(header: str, source: str) -> str:
    for delimiter in _CANDIDATE_DELIMITERS:
        if delimiter in header:
            return delimiter
    raise DataFormatError(f"{source}: header {header!r} has no ';' separated columns")


def parse_ratings(text: str, *, source: str = "<csv>", step_s: float = HOP_S) -> Ratings:
    """Parse rater CSV text; the first column is time, every other column one rater."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataFormatError(f"{source}: empty file")
    delimiter = _detect_delimiter(lines[0], source)
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    names = [name.strip() for name in rows[0]]
    if names[0].lower() != "time" or len(names) < 2:
        raise DataFormatError(f"{source}: expected a header 'time;<rater>;...', found {lines[0]!r}")
    data: list[list[float]] = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(names):
            raise DataFormatError(f"{source}:{number}: {len(row)} columns, expected {len(names)}")
        try:
            data.append([float(field) for field in row])
        except ValueError:
            raise DataFormatError(f"{source}:{number}: non-numeric value in {row!r}") from None
    if not data:
        raise DataFormatError(f"{source}: no data rows")
    table = np.asarray(data, dtype=np.float64)
    if not np.all(np.isfinite(table)):
        raise DataFormatError(f"{source}: non-finite values")
    check_grid(table[:, 0], source=source, step_s=step_s)
    return Ratings(times=table[:, 0], raters=tuple(names[1:]), values=table[:, 1:])


def read_ratings(path: str | Path, *, step_s: float = HOP_S) -> Ratings:
    """Read a rater CSV file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MissingDataError(f"{p}: no such file") from None
    return parse_ratings(text, source=str(p), step_s=step_s)


def format_ratings(times: FloatArray, raters: Sequence[str], values: FloatArray) -> str:
    """Render rater traces; rater names are written as given (e.g. ``"FM1 "``)."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (times.shape[0], len(raters)):
        raise ValueError(f"values {v.shape} do not match {times.shape[0]} x {len(raters)}")
    body = io.StringIO()
    fmt = DELIMITER.join(["%.2f"] + ["%.6f"] * len(raters))
    np.savetxt(body, np.column_stack([times, v]), fmt=fmt, newline="\n")
    return DELIMITER.join(["time", *raters]) + "\n" + body.getvalue()


def write_ratings(
    path: str | Path, times: FloatArray, raters: Sequence[str], values: FloatArray
) -> None:
    """Write rater traces to ``path`` (parent folders are created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(format_ratings(times, raters, values), encoding="utf-8", newline="\n")
