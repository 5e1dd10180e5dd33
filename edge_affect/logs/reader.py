"""Reading a log back: any format, one file or a rotated set, into a :class:`LogTable`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.arrays import BoolArray, FloatArray
from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect.logs.arff_log import read_arff_log
from edge_affect.logs.csv_log import read_csv_log
from edge_affect.logs.format import LogPart
from edge_affect.logs.header import SinkError, infer_format
from edge_affect.logs.jsonl_log import read_jsonl_log
from edge_affect.logs.writer import MEMBER_NAME, member_path, rotated_members

_READERS: dict[str, Callable[[Path, str], LogPart]] = {
    "csv": read_csv_log,
    "jsonl": read_jsonl_log,
    "arff": read_arff_log,
}


@dataclass(frozen=True)
class LogTable:
    """The rows of a log (or of a rotated set, concatenated in order)."""

    times: FloatArray
    arousal: FloatArray
    valence: FloatArray
    speech: BoolArray
    header: dict[str, Any] | None = None  # of the first file; None for CSV
    summary: dict[str, Any] | None = None  # of the last file, when it was closed cleanly
    paths: tuple[Path, ...] = ()
    #: A calibrated run's relative values (NaN before the baseline was complete); ``None``
    #: for a log without them. Its baseline is in ``summary["calibration"]`` (JSONL, ARFF).
    arousal_rel: FloatArray | None = None
    valence_rel: FloatArray | None = None

    @property
    def n_rows(self) -> int:
        return int(self.times.shape[0])

    @property
    def source(self) -> str:
        return str(self.paths[0]) if self.paths else "<log>"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingDataError(f"{path}: no such log file") from None
    except IsADirectoryError:
        raise MissingDataError(f"{path}: is a folder, expected a log file") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text log ({exc.reason})") from None


def log_files(path: str | Path) -> list[Path]:
    """The files of the log ``path`` names, in order.

    An existing file is read alone, unless it is member ``0001`` of a rotated set: then the
    whole set. A missing ``<stem><suffix>`` whose ``<stem>.0001<suffix>`` exists (the name
    given to :func:`open_sink`) also means the set. A set must be numbered 1, 2, ... without
    gaps.
    """
    p = Path(path)
    match = MEMBER_NAME.match(p.name)
    if p.exists():
        if not (match and int(match["number"]) == 1):
            return [p]
        base = p.with_name(match["stem"] + (match["suffix"] or ""))
    else:
        base = p
    members = rotated_members(base)
    if not members:
        raise MissingDataError(
            f"{p}: no such log file (nor a rotated set {member_path(base, 1).name}, ...)"
        )
    for expected, member in enumerate(members, start=1):
        if member != member_path(base, expected):
            raise DataFormatError(
                f"{member_path(base, expected)}: missing from the rotated set of {base.name} "
                f"({len(members)} files found)"
            )
    return members


def _check_member(part: LogPart, first: LogPart, index: int, path: Path) -> None:
    if part.relative != first.relative:
        which = "has" if part.relative else "lacks"
        raise DataFormatError(
            f"{path}: {which} the relative columns arousal_rel, valence_rel, unlike the first "
            "file (another run?)"
        )
    if part.header is None or first.header is None:
        return
    if part.header.get("file_index") not in (None, index):
        raise DataFormatError(
            f"{path}: file_index {part.header.get('file_index')}, expected {index} "
            "(a file of the rotated set is missing or from another run)"
        )
    if part.header.get("started") != first.header.get("started"):
        raise DataFormatError(
            f"{path}: its log started at another time than the first file's (another run?)"
        )


def read_log(paths: str | Path | Sequence[str | Path], fmt: str | None = None) -> LogTable:
    """Read a log written by :func:`open_sink` (any format), or a rotated set in order.

    ``paths`` is one path (see :func:`log_files` for rotated sets) or an explicit list of
    files to concatenate. Malformed or truncated content raises :class:`DataFormatError`
    naming the file and line; a file with a header and no rows gives 0 rows.
    """
    if isinstance(paths, (str, Path)):
        files = log_files(paths)
    else:
        files = [Path(p) for p in paths]
        if not files:
            raise MissingDataError("no log files given")
    parts: list[LogPart] = []
    for index, path in enumerate(files, start=1):
        try:
            name = infer_format(path, fmt)
        except SinkError as exc:
            raise DataFormatError(str(exc)) from None
        part = _READERS[name](path, _read_text(path))
        if parts:
            _check_member(part, parts[0], index, path)
        parts.append(part)
    relative = parts[0].relative
    return LogTable(
        times=np.asarray([t for p in parts for t in p.times], dtype=np.float64),
        arousal=np.asarray([a for p in parts for a in p.arousal], dtype=np.float64),
        valence=np.asarray([v for p in parts for v in p.valence], dtype=np.float64),
        speech=np.asarray([s for p in parts for s in p.speech], dtype=np.bool_),
        header=parts[0].header,
        summary=parts[-1].summary,
        paths=tuple(files),
        arousal_rel=_column([a for p in parts for a in p.arousal_rel]) if relative else None,
        valence_rel=_column([v for p in parts for v in p.valence_rel]) if relative else None,
    )


def _column(values: list[float]) -> FloatArray:
    return np.asarray(values, dtype=np.float64)
