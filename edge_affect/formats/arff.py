"""ARFF files in the AVEC 2016 / RECOLA style.

Every AVEC 2016 ARFF file is a frame table: a string attribute naming the session
(``Instance_name``), a numeric ``frameTime`` on the 40 ms grid, then one or more numeric
columns (``GoldStandard`` for labels, features otherwise). The writer reproduces the
released gold-standard layout exactly::

    @relation GOLDSTANDARD_arousal
    <blank>
    @attribute Instance_name string
    @attribute frameTime numeric
    @attribute GoldStandard numeric
    <blank>
    <blank>
    @data
    <blank>
    train_1,0.00,0.123456

The reader is tolerant of what real files contain (keyword case, quoted names and values,
comments, blank lines, trailing spaces, CRLF, ``?`` for a missing value) and strict about
what matters (the column layout, numeric values, a monotone time on a constant step).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_affect.arrays import FloatArray
from edge_affect.audio import HOP_S
from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect.formats.timegrid import check_grid, frame_times

INSTANCE_ATTRIBUTE = "Instance_name"
TIME_ATTRIBUTE = "frameTime"
GOLD_ATTRIBUTE = "GoldStandard"
_NUMERIC_TYPES = frozenset({"numeric", "real", "integer"})
_TIME_FORMAT = "%.2f"
_VALUE_FORMAT = "%.6f"


@dataclass(frozen=True)
class FrameTable:
    """One session's frame-level ARFF content.

    ``values`` has shape ``(frames, len(feature_names))``; missing values are NaN.
    """

    relation: str
    instance: str
    times: FloatArray
    feature_names: tuple[str, ...]
    values: FloatArray
    instance_attribute: str = INSTANCE_ATTRIBUTE

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape != (
            self.times.shape[0],
            len(self.feature_names),
        ):
            raise ValueError(
                f"values shape {self.values.shape} does not match "
                f"{self.times.shape[0]} frames x {len(self.feature_names)} features"
            )

    @property
    def n_frames(self) -> int:
        return int(self.times.shape[0])

    def column(self, name: str) -> FloatArray:
        """One numeric column by attribute name."""
        try:
            i = self.feature_names.index(name)
        except ValueError:
            raise DataFormatError(
                f"no attribute {name!r} (has: {', '.join(self.feature_names)})"
            ) from None
        return self.values[:, i]


# ---------------------------------------------------------------------------- reading


def _unquote(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


def _split_header(line: str) -> list[str]:
    """Split ``@attribute 'a name' numeric`` into words, honouring quotes."""
    reader = csv.reader(io.StringIO(line), delimiter=" ", quotechar="'", skipinitialspace=True)
    words = [w for w in next(reader) if w]
    if len(words) >= 2 and words[1].startswith('"'):
        reader = csv.reader(io.StringIO(line), delimiter=" ", quotechar='"', skipinitialspace=True)
        words = [w for w in next(reader) if w]
    return words


@dataclass
class _Header:
    relation: str = ""
    attributes: list[tuple[str, str]] | None = None
    data_line: int = 0


def _parse_header(lines: list[str], source: str) -> _Header:
    header = _Header(attributes=[])
    assert header.attributes is not None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        keyword = line.split(None, 1)[0].lower()
        if keyword == "@relation":
            words = _split_header(line)
            header.relation = words[1] if len(words) > 1 else ""
        elif keyword == "@attribute":
            words = _split_header(line)
            if len(words) < 3:
                raise DataFormatError(f"{source}:{number}: malformed attribute line {line!r}")
            header.attributes.append((words[1].strip(), " ".join(words[2:]).lower()))
        elif keyword == "@data":
            header.data_line = number
            return header
        elif not line.startswith("@"):
            raise DataFormatError(
                f"{source}:{number}: data line {line!r} before '@data' (missing @data line?)"
            )
        else:
            raise DataFormatError(f"{source}:{number}: unexpected header line {line!r}")
    raise DataFormatError(f"{source}: no @data section")


def _check_layout(attributes: Sequence[tuple[str, str]], source: str) -> None:
    if len(attributes) < 3:
        raise DataFormatError(
            f"{source}: expected an instance name, frameTime and at least one numeric "
            f"attribute, found {len(attributes)} attribute(s)"
        )
    name_type = attributes[0][1]
    if name_type != "string" and not name_type.startswith("{"):
        raise DataFormatError(
            f"{source}: first attribute {attributes[0][0]!r} must be a string (the session name)"
        )
    if attributes[1][0].lower() != TIME_ATTRIBUTE.lower():
        raise DataFormatError(
            f"{source}: second attribute must be {TIME_ATTRIBUTE!r}, found {attributes[1][0]!r}"
        )
    for name, kind in attributes[1:]:
        if kind not in _NUMERIC_TYPES:
            raise DataFormatError(f"{source}: attribute {name!r} has type {kind!r}, not numeric")


def _split_row(line: str) -> list[str]:
    """The row's fields, unstripped where no quote is involved (every reader of a field
    strips it: :func:`_unquote`, and ``float``, which ignores surrounding whitespace)."""
    if "'" not in line and '"' not in line:
        return line.split(",")
    quote = "'" if "'" in line else '"'
    reader = csv.reader(io.StringIO(line), quotechar=quote, skipinitialspace=True)
    return [field.strip() for field in next(reader)]


def _parse_number(token: str, source: str, line_number: int, column: str) -> float:
    token = _unquote(token)
    if token == "?":
        return float("nan")
    try:
        value = float(token)
    except ValueError:
        raise DataFormatError(
            f"{source}:{line_number}: {column} is {token!r}, not a number"
        ) from None
    if not np.isfinite(value):
        raise DataFormatError(f"{source}:{line_number}: {column} is {token!r}")
    return value


def _plain_numbers(fields: list[str]) -> list[float] | None:
    """The fields as floats when every one is a plain finite number (the common row), else
    None, and :func:`_parse_number` decides field by field (``?``, quotes, errors).

    ``float`` ignores surrounding whitespace and rejects quotes and ``?``, so what it accepts
    it reads as :func:`_parse_number` would. A finite sum means every value is finite (a
    sum that overflows sends the row to the careful path, which accepts it).
    """
    try:
        values = [float(field) for field in fields]
    except ValueError:
        return None
    return values if math.isfinite(sum(values)) else None


def _parse_rows(
    lines: list[str], header: _Header, source: str
) -> tuple[str, FloatArray, FloatArray]:
    assert header.attributes is not None
    names = [name for name, _ in header.attributes]
    width = len(names)
    instance = ""
    rows: list[list[float]] = []
    for number in range(header.data_line + 1, len(lines) + 1):
        line = lines[number - 1].strip()
        if not line or line.startswith("%"):
            continue
        if line.startswith("{"):
            raise DataFormatError(f"{source}:{number}: sparse ARFF rows are not supported")
        fields = _split_row(line)
        if len(fields) != width:
            raise DataFormatError(
                f"{source}:{number}: {len(fields)} values, expected {width} ({', '.join(names)})"
            )
        name = _unquote(fields[0])
        if not rows:
            instance = name
        elif name != instance:
            raise DataFormatError(
                f"{source}:{number}: instance {name!r} differs from {instance!r}; "
                "one file holds one session"
            )
        values = _plain_numbers(fields[1:])
        if values is None:
            values = [
                _parse_number(f, source, number, names[i + 1]) for i, f in enumerate(fields[1:])
            ]
        rows.append(values)
    if not rows:
        raise DataFormatError(f"{source}: no data rows")
    table = np.asarray(rows, dtype=np.float64)
    if np.isnan(table[:, 0]).any():
        raise DataFormatError(f"{source}: missing frameTime value")
    return instance, table[:, 0], table[:, 1:]


def parse_arff(text: str, *, source: str = "<arff>", step_s: float | None = HOP_S) -> FrameTable:
    """Parse AVEC-style ARFF text; ``step_s=None`` skips the time-grid check."""
    lines = text.splitlines()
    header = _parse_header(lines, source)
    assert header.attributes is not None
    _check_layout(header.attributes, source)
    instance, times, values = _parse_rows(lines, header, source)
    if step_s is not None:
        check_grid(times, source=source, step_s=step_s)
    return FrameTable(
        relation=header.relation,
        instance=instance,
        times=times,
        feature_names=tuple(name for name, _ in header.attributes[2:]),
        values=values,
        instance_attribute=header.attributes[0][0],
    )


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MissingDataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MissingDataError(f"{path}: is a folder, expected a file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_arff(path: str | Path, *, step_s: float | None = HOP_S) -> FrameTable:
    """Read an AVEC-style ARFF file (gold standard or features)."""
    p = Path(path)
    return parse_arff(_read_text(p), source=str(p), step_s=step_s)


def read_gold_standard(path: str | Path) -> FrameTable:
    """Read a gold-standard file: exactly one numeric label column after frameTime."""
    table = read_arff(path)
    if len(table.feature_names) != 1:
        raise DataFormatError(
            f"{path}: a gold standard has one label column, found "
            f"{len(table.feature_names)} ({', '.join(table.feature_names)})"
        )
    return table


# ---------------------------------------------------------------------------- writing


def format_arff(table: FrameTable) -> str:
    """Render a table in the exact AVEC 2016 layout (see module docstring)."""
    head = [
        f"@relation {table.relation}",
        "",
        f"@attribute {table.instance_attribute} string",
        f"@attribute {TIME_ATTRIBUTE} numeric",
        *(f"@attribute {name} numeric" for name in table.feature_names),
        "",
        "",
        "@data",
        "",
    ]
    body = io.StringIO()
    data = np.column_stack([table.times, table.values])
    fmt = ",".join([_TIME_FORMAT] + [_VALUE_FORMAT] * table.values.shape[1])
    np.savetxt(body, data, fmt=f"{table.instance},{fmt}", newline="\n")
    return "\n".join(head) + "\n" + body.getvalue().replace(",nan", ",?")


def write_arff(path: str | Path, table: FrameTable) -> None:
    """Write ``table`` to ``path`` (parent folders are created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(format_arff(table))


def gold_standard_table(instance: str, dimension: str, values: FloatArray) -> FrameTable:
    """A gold-standard table on the 40 ms grid, relation ``GOLDSTANDARD_<dimension>``."""
    v = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return FrameTable(
        relation=f"GOLDSTANDARD_{dimension}",
        instance=instance,
        times=frame_times(v.shape[0]),
        feature_names=(GOLD_ATTRIBUTE,),
        values=v,
    )
