"""Prediction logs: one row per 40 ms reading, handed to the OS row by row, in three formats.

``csv``
    ``time,arousal,valence,speech`` then rows ``0.00,0.123456,-0.012345,1``. Nothing else, so
    pandas and spreadsheets read it as is.
``jsonl``
    A header object (``"type": "header"``, ``"format": "edge-affect-log/1"``, the
    :class:`LogHeader` fields, ``file_index`` and ``first_time``), one object per reading
    (``time, arousal, valence, speech, output, wall_time, latency_ms, overflows, drops``) and,
    after a clean :meth:`FileSink.close`, a ``"type": "summary"`` object.
``arff``
    AVEC 2016 style, readable by liac-arff and :func:`edge_affect.formats.arff.parse_arff`: the
    JSONL header object as one ``%`` comment line before ``@relation edge_affect_predictions``,
    attributes ``Instance_name`` (string), ``frameTime``, ``arousal``, ``valence``, ``speech``
    (numeric), rows ``'<instance>',0.00,0.123456,-0.012345,1`` (``?`` for a non-finite value),
    and the summary as a final ``%`` comment line. The instance name is the log's file stem
    (without a rotation number), with characters other than letters, digits, ``_ . -``
    replaced by ``_``, so every file of a rotated set names the same session.

Each row is written with one unbuffered ``write(2)`` (the equivalent of a flush per row).
Files are not fsync'ed per row, only when they are closed (also at rotation). A file's header
is written with its first row (so that it can carry that row's time), or at close when the
log has no rows.

Rotation (``rotate_mb`` in units of 10^6 bytes, ``rotate_hours`` of file age): the log is
written as ``<stem>.0001<suffix>``, ``<stem>.0002<suffix>``, ... (the plain name is not
used, so a set sorts and globs as one), checked between rows, so a row is never split or
repeated across files. Every file starts with its own header; times stay absolute.

A reading whose values are not finite (an invalid model output) is a row without values:
CSV ``0.04,,,1``, JSONL ``null`` values and ``"valid": false`` (every line stays valid JSON),
ARFF ``?``; :func:`read_log` gives NaN for them.

Faults: parent folders are created (as :func:`edge_affect.formats.arff.write_arff` does);
an existing regular file (or rotated member) is refused unless ``overwrite=True``; devices
and pipes are written as they are. A regular file is locked (``flock``, exclusive) while it is
written and only emptied once locked, so a second writer fails before writing, naming the
first (also when ``overwrite=True`` would remove a rotated set a writer still holds). A failed
open, and a failed write or close mid-log (disk full, file-size limit), raise
:class:`SinkError` naming the file and the OS reason; after a failed write the file is cut back
to the end of its last complete row and closed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from edge_affect import __version__
from edge_affect.audio import HOP_MS, HOP_S
from edge_affect.contract import PREFIX, Contract
from edge_affect.errors import DataFormatError, EdgeAffectError, MissingDataError
from edge_affect.formats.arff import parse_arff
from edge_affect.paths import LockedError, lock_or_fail, locked_by_other
from edge_affect.reading import Reading

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: The ``format`` value of JSONL headers (and ARFF header comments); bumped on a breaking change.
LOG_FORMAT = "edge-affect-log/1"
#: Format names, and the file suffixes they are inferred from.
FORMATS = ("csv", "jsonl", "arff")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".arff": "arff"}
CSV_COLUMNS = "time,arousal,valence,speech"
ARFF_RELATION = "edge_affect_predictions"
ARFF_ATTRIBUTES = ("Instance_name", "frameTime", "arousal", "valence", "speech")
BYTES_PER_MB = 1_000_000
SECONDS_PER_HOUR = 3600.0
#: Rotation numbers: ``.0001`` ... (more digits past 9999; readers sort numerically).
MEMBER_DIGITS = 4
MEMBER_NAME = re.compile(r"^(?P<stem>.+)\.(?P<number>\d{4,})(?P<suffix>\.[^.]*)?$")
_UNSAFE_INSTANCE = re.compile(r"[^A-Za-z0-9_.\-]")


#: ``--out -``: the log goes to standard output (descriptor 1), written as it is.
STDOUT = Path("-")


class SinkError(EdgeAffectError):
    """A log cannot be opened, written or closed (the message names the file and OS reason)."""


# ---------------------------------------------------------------------------- header


def utc_now_iso() -> str:
    """The current UTC time as ISO-8601 with seconds, e.g. ``2025-01-31T12:00:00+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LogHeader:
    """What makes a log self-describing; every value must be JSON-able.

    ``source``: a description (``"USB Mic @ 48000 Hz"``, a file name) or a dict such as
    ``{"device": "USB Mic", "native_rate_hz": 48000}``;
    ``model``: see :func:`model_info`; ``settings``: gate, silence policy, VAD mode, ...
    """

    started: str
    source: str | dict[str, Any]
    model: dict[str, Any]
    edge_affect_version: str = __version__
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def now(
        cls,
        source: str | Mapping[str, Any],
        model: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None,
    ) -> LogHeader:
        """A header stamped with the current UTC time and this package's version."""
        described = source if isinstance(source, str) else dict(source)
        return cls(utc_now_iso(), described, dict(model), __version__, dict(settings or {}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "source": self.source,
            "model": self.model,
            "edge_affect_version": self.edge_affect_version,
            "settings": self.settings,
        }


def model_info(file_name: str, contract: Contract) -> dict[str, Any]:
    """``{"file": file_name, "contract": {...}}`` for :attr:`LogHeader.model`.

    The contract is :meth:`Contract.to_metadata` without the ``edge_affect.`` prefix; values
    that are JSON objects, lists or ``null`` there are parsed, the others stay strings.
    """
    parsed: dict[str, Any] = {}
    for key, value in contract.to_metadata().items():
        name = key.removeprefix(PREFIX)
        parsed[name] = json.loads(value) if value[:1] in ("{", "[") or value == "null" else value
    return {"file": file_name, "contract": parsed}


def _json_default(value: object) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable in a log header/summary")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default)


# ---------------------------------------------------------------------------- formats


def _time_json(reading: Reading) -> float:
    """Exact-looking decimal stream time (``0.12``, not ``0.12000000000000001``)."""
    return int(reading.index) * HOP_MS / 1000


class _Format:
    """Renders one format's header, rows and footer as text."""

    name = ""
    has_footer = False  # a summary line at a clean close

    def __init__(self, header: LogHeader, instance: str) -> None:
        body = _dumps(header.to_dict())
        self._header_body = body[1:-1]  # encoded once; completed per file
        self.instance = instance

    def header_json(self, file_index: int, first_time_s: float | None) -> str:
        return (
            f'{{"type": "header", "format": "{LOG_FORMAT}", {self._header_body}, '
            f'"file_index": {file_index}, "first_time": {_dumps(first_time_s)}}}'
        )

    @staticmethod
    def summary_json(rows: int, files: int, summary: Mapping[str, Any] | None) -> str:
        fixed = {"type": "summary", "rows": rows, "files": files}
        extra = {k: v for k, v in (summary or {}).items() if k not in fixed}
        return _dumps({**fixed, **extra})

    def header(self, file_index: int, first_time_s: float | None) -> str:
        raise NotImplementedError

    def row(self, reading: Reading) -> str:
        raise NotImplementedError

    def footer(self, summary_json: str) -> str:
        return ""


class _CsvFormat(_Format):
    name = "csv"

    def header(self, file_index: int, first_time_s: float | None) -> str:
        return CSV_COLUMNS + "\n"

    def row(self, reading: Reading) -> str:
        speech = 1 if reading.speech else 0
        if not reading.valid:  # empty values: pandas reads NaN, so does read_log
            return f"{reading.index * HOP_S:.2f},,,{speech}\n"
        return f"{reading.index * HOP_S:.2f},{reading.arousal:.6f},{reading.valence:.6f},{speech}\n"


class _JsonlFormat(_Format):
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
        row = {
            "time": _time_json(r),
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


def _arff_value(value: float) -> str:
    return f"{value:.6f}" if math.isfinite(value) else "?"


class _ArffFormat(_Format):
    name = "arff"
    has_footer = True

    def header(self, file_index: int, first_time_s: float | None) -> str:
        lines = [
            "% " + self.header_json(file_index, first_time_s),
            f"@relation {ARFF_RELATION}",
            "",
            f"@attribute {ARFF_ATTRIBUTES[0]} string",
            *(f"@attribute {name} numeric" for name in ARFF_ATTRIBUTES[1:]),
            "",
            "@data",
        ]
        return "\n".join(lines) + "\n"

    def row(self, reading: Reading) -> str:
        arousal, valence = _arff_value(reading.arousal), _arff_value(reading.valence)
        speech = 1 if reading.speech else 0
        return f"'{self.instance}',{reading.index * HOP_S:.2f},{arousal},{valence},{speech}\n"

    def footer(self, summary_json: str) -> str:
        return "% " + summary_json + "\n"


_FORMAT_CLASSES: dict[str, type[_Format]] = {
    "csv": _CsvFormat,
    "jsonl": _JsonlFormat,
    "arff": _ArffFormat,
}


def infer_format(path: Path, fmt: str | None = None) -> str:
    """``fmt`` checked, or the format named by ``path``'s suffix; :class:`SinkError` otherwise."""
    if fmt is not None:
        name = fmt.lower().lstrip(".")
        if name not in FORMATS:
            raise SinkError(f"unknown log format {fmt!r} (expected {', '.join(FORMATS)})")
        return name
    suffix = path.suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise SinkError(
            f"{path}: cannot tell the log format from the suffix {suffix or '(none)'!r}; "
            f"use {', '.join(SUFFIX_FORMATS)} or name the format"
        )
    return SUFFIX_FORMATS[suffix]


# ---------------------------------------------------------------------------- files


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def member_path(base: Path, number: int) -> Path:
    """The rotated file ``number`` (from 1) of the log ``base``: ``<stem>.0001<suffix>``."""
    return base.with_name(f"{base.stem}.{number:0{MEMBER_DIGITS}d}{base.suffix}")


def rotated_members(base: Path) -> list[Path]:
    """Existing files of ``base``'s rotated set, in numeric order (gaps included as found)."""
    if not base.parent.is_dir():
        return []
    found: list[tuple[int, Path]] = []
    for candidate in base.parent.iterdir():
        match = MEMBER_NAME.match(candidate.name)
        if (
            match
            and match["stem"] == base.stem
            and (match["suffix"] or "") == base.suffix
            and candidate.is_file()
        ):
            found.append((int(match["number"]), candidate))
    return [p for _, p in sorted(found)]


def _create_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise SinkError(f"{path}: cannot create the log: {path.parent} is not a folder") from None
    except OSError as exc:
        raise SinkError(
            f"{path}: cannot create the log folder {path.parent}: {_reason(exc)}"
        ) from None


def _open_file(path: Path, overwrite: bool) -> tuple[int, bool]:
    """Open ``path`` for writing; return the descriptor and whether it is a regular file."""
    if path == STDOUT:  # a copy of descriptor 1: never fsync'ed or cut back, like a pipe
        return os.dup(1), False
    _create_parent(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise SinkError(f"{path}: cannot open the log for writing: {_reason(exc)}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise SinkError(f"{path}: is a folder, expected a log file name")
    regular = mode is None or stat.S_ISREG(mode)
    if mode is not None and regular and not overwrite:
        raise SinkError(f"{path}: exists; choose another name or allow overwriting it")
    flags = os.O_WRONLY
    if regular:  # truncated only once locked: a second writer must not cut the first's log
        flags |= os.O_CREAT | (0 if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise SinkError(f"{path}: cannot open the log for writing: {_reason(exc)}") from None
    if regular:
        try:
            lock_or_fail(fd, path)
            os.ftruncate(fd, 0)
        except LockedError as exc:
            os.close(fd)
            raise SinkError(str(exc)) from None
        except OSError as exc:
            os.close(fd)
            raise SinkError(f"{path}: cannot empty the earlier log: {_reason(exc)}") from None
    return fd, regular


def _clear_rotated_set(base: Path, overwrite: bool) -> None:
    members = rotated_members(base)
    for member in members:
        if not overwrite:
            raise SinkError(
                f"{member}: exists from an earlier log; choose another name or allow overwriting"
            )
        writer = locked_by_other(member)
        if writer is not None:
            raise SinkError(
                f"{member}: another writer has this log open ({writer}); nothing was written; "
                "stop it or choose another name"
            )
    for member in members:
        try:
            member.unlink()
        except OSError as exc:
            raise SinkError(f"{member}: cannot remove the earlier log: {_reason(exc)}") from None


# ---------------------------------------------------------------------------- sinks


@runtime_checkable
class Sink(Protocol):
    """What the pipeline writes readings to."""

    def write(self, reading: Reading) -> None: ...

    def close(self, summary: Mapping[str, Any] | None = None) -> None: ...

    @property
    def rows_written(self) -> int: ...

    @property
    def paths(self) -> tuple[Path, ...]: ...


@dataclass(frozen=True)
class Rotation:
    """When to start the next file; ``None`` disables a criterion."""

    max_bytes: int | None = None
    max_age_s: float | None = None

    @property
    def enabled(self) -> bool:
        return self.max_bytes is not None or self.max_age_s is not None


class FileSink:
    """A log file (or rotated set of files) in one format; see the module docstring."""

    def __init__(
        self,
        path: Path,
        fmt: _Format,
        rotation: Rotation,
        *,
        overwrite: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = Path(path)
        self._format = fmt
        self._rotation = rotation
        self._clock = clock
        self._paths: list[Path] = []
        self._rows = 0
        self._fd: int | None = None
        self._regular = True
        self._offset = 0  # bytes of the current file up to its last complete row
        self._file_rows = 0
        self._header_written = False
        self._opened_at = 0.0
        if rotation.enabled:
            _clear_rotated_set(self._base, overwrite)
        self._open_next(overwrite)

    # -- Sink API

    @property
    def rows_written(self) -> int:
        """Complete rows written so far, over all files."""
        return self._rows

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every file this sink has created, in order."""
        return tuple(self._paths)

    @property
    def format(self) -> str:
        return self._format.name

    @property
    def closed(self) -> bool:
        return self._fd is None

    def write(self, reading: Reading) -> None:
        """Append one row (after a rotation, if one is due); :class:`SinkError` on an OS error."""
        if self._fd is None:
            raise ValueError("write to a closed log sink")
        if self._file_rows and self._rotation_due():
            self._finish_file()
            self._open_next(overwrite=False)
        if not self._header_written:
            self._emit(self._format.header(len(self._paths), _time_json(reading)))
            self._header_written = True
        self._emit(self._format.row(reading))
        self._file_rows += 1
        self._rows += 1

    def close(self, summary: Mapping[str, Any] | None = None) -> None:
        """Write the summary (JSONL, ARFF), fsync and close; a no-op once closed or failed."""
        if self._fd is None:
            return
        if not self._header_written:
            self._emit(self._format.header(len(self._paths), None))
            self._header_written = True
        if self._format.has_footer:
            summary_json = self._format.summary_json(self._rows, len(self._paths), summary)
            self._emit(self._format.footer(summary_json))
        self._finish_file()

    def __enter__(self) -> FileSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        elif self._fd is not None:  # keep the rows, skip the summary of an unclean end
            self._finish_file()

    # -- internals

    def _rotation_due(self) -> bool:
        limit = self._rotation
        if limit.max_bytes is not None and self._offset >= limit.max_bytes:
            return True
        return limit.max_age_s is not None and self._clock() - self._opened_at >= limit.max_age_s

    def _current(self) -> Path:
        return self._paths[-1]

    def _open_next(self, overwrite: bool) -> None:
        number = len(self._paths) + 1
        path = member_path(self._base, number) if self._rotation.enabled else self._base
        self._fd, self._regular = _open_file(path, overwrite)
        self._paths.append(path)
        self._offset = 0
        self._file_rows = 0
        self._header_written = False
        self._opened_at = self._clock()

    def _emit(self, text: str) -> None:
        assert self._fd is not None
        encoded = text.encode("utf-8")
        data = memoryview(encoded)
        try:
            while data:
                written = os.write(self._fd, data)
                if written <= 0:
                    raise OSError(0, "the operating system accepted no bytes")
                data = data[written:]
        except OSError as exc:
            self._fail(exc)
        self._offset += len(encoded)

    def _finish_file(self) -> None:
        fd = self._fd
        assert fd is not None
        try:
            if self._regular:
                os.fsync(fd)
        except OSError as exc:
            self._fail(exc)
        self._fd = None
        try:
            os.close(fd)
        except OSError as exc:
            raise SinkError(f"{self._current()}: closing the log failed: {_reason(exc)}") from None

    def _fail(self, exc: OSError) -> None:
        """Cut the file back to its last complete row, close it, raise :class:`SinkError`."""
        fd = self._fd
        assert fd is not None
        self._fd = None
        outcome = "the file ends at its last complete row"
        if self._regular:
            try:
                os.ftruncate(fd, self._offset)
            except OSError as cut:
                outcome = f"could not cut it back to its last complete row ({_reason(cut)})"
        with contextlib.suppress(OSError):  # the write error below is the one to report
            os.close(fd)
        raise SinkError(
            f"{self._current()}: writing the log failed after {self._rows} rows: "
            f"{_reason(exc)}; {outcome}"
        ) from None


def _rotation(rotate_mb: float | None, rotate_hours: float | None) -> Rotation:
    for name, value in (("rotate_mb", rotate_mb), ("rotate_hours", rotate_hours)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SinkError(f"{name} must be a positive number, got {value}")
    return Rotation(
        max_bytes=None if rotate_mb is None else max(1, round(rotate_mb * BYTES_PER_MB)),
        max_age_s=None if rotate_hours is None else rotate_hours * SECONDS_PER_HOUR,
    )


def arff_instance_name(path: Path) -> str:
    """The ARFF ``Instance_name`` of a log: its file stem, made safe to quote."""
    return _UNSAFE_INSTANCE.sub("_", path.stem) or "log"


def open_sink(
    path: Path,
    fmt: str | None,
    header: LogHeader,
    rotate_mb: float | None = None,
    rotate_hours: float | None = None,
    *,
    overwrite: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> FileSink:
    """Open a log for writing; ``fmt=None`` infers the format from the suffix.

    Raises :class:`SinkError` for an unknown format, bad rotation limits, an existing file
    (unless ``overwrite``) or a path that cannot be written. ``clock`` (seconds, monotonic)
    measures file age for ``rotate_hours``.
    """
    path = Path(path)
    name = infer_format(path, fmt)
    rotation = _rotation(rotate_mb, rotate_hours)
    if path == STDOUT and rotation.enabled:
        raise SinkError("a log on standard output (-) cannot rotate; name a file")
    formatter = _FORMAT_CLASSES[name](header, arff_instance_name(path))
    return FileSink(path, formatter, rotation, overwrite=overwrite, clock=clock)


# ---------------------------------------------------------------------------- reading


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

    @property
    def n_rows(self) -> int:
        return int(self.times.shape[0])

    @property
    def source(self) -> str:
        return str(self.paths[0]) if self.paths else "<log>"


@dataclass
class _Part:
    times: list[float] = field(default_factory=list)
    arousal: list[float] = field(default_factory=list)
    valence: list[float] = field(default_factory=list)
    speech: list[bool] = field(default_factory=list)
    header: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingDataError(f"{path}: no such log file") from None
    except IsADirectoryError:
        raise MissingDataError(f"{path}: is a folder, expected a log file") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text log ({exc.reason})") from None


def _speech_flag(token: str, source: str) -> bool:
    if token in ("0", "1"):
        return token == "1"
    raise DataFormatError(f"{source}: speech is {token!r}, expected 0 or 1")


def _read_csv(path: Path, text: str) -> _Part:
    lines = text.splitlines()
    if not lines:
        raise DataFormatError(f"{path}: empty file, expected the column line {CSV_COLUMNS!r}")
    if lines[0].strip() != CSV_COLUMNS:
        raise DataFormatError(f"{path}:1: expected the column line {CSV_COLUMNS!r}")
    part = _Part()
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


def _json_number(obj: Mapping[str, Any], key: str, source: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataFormatError(f"{source}: {key!r} is {value!r}, expected a number")
    return float(value)


def _jsonl_row(part: _Part, obj: Mapping[str, Any], source: str) -> None:
    speech = obj.get("speech")
    if not isinstance(speech, bool):
        raise DataFormatError(f"{source}: 'speech' is {speech!r}, expected true or false")
    part.times.append(_json_number(obj, "time", source))
    invalid = obj.get("valid") is False  # null values: the model's output was not finite
    part.arousal.append(math.nan if invalid else _json_number(obj, "arousal", source))
    part.valence.append(math.nan if invalid else _json_number(obj, "valence", source))
    part.speech.append(speech)


def _check_header(header: Any, source: str) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("type") != "header":
        raise DataFormatError(f"{source}: expected the edge-affect log header")
    if header.get("format") != LOG_FORMAT:
        raise DataFormatError(
            f"{source}: log format {header.get('format')!r}, this version reads {LOG_FORMAT!r}"
        )
    return header


def _read_jsonl(path: Path, text: str) -> _Part:
    part = _Part()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        source = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{source}: not valid JSON ({exc.msg}); truncated?") from None
        if part.header is None:
            part.header = _check_header(obj, source)
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


def _arff_comments(path: Path, lines: list[str]) -> _Part:
    """The header (first line) and summary (a ``%`` line after the data) of an ARFF log."""
    if not lines or not lines[0].startswith("%"):
        raise DataFormatError(f"{path}:1: expected the edge-affect log header comment")
    part = _Part()
    try:
        part.header = _check_header(json.loads(lines[0][1:]), f"{path}:1")
        tail = [line[1:] for line in lines[1:] if line.startswith("%")]
        summary = json.loads(tail[-1]) if tail else None
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: malformed header/summary comment ({exc.msg})") from None
    if isinstance(summary, dict) and summary.get("type") == "summary":
        part.summary = summary
    return part


def _check_arff_attributes(path: Path, lines: list[str]) -> bool:
    """Check the attribute layout; return whether the file has data rows."""
    names = [line.split()[1] for line in lines if line.lower().startswith("@attribute ")]
    if tuple(names) != ARFF_ATTRIBUTES:
        raise DataFormatError(
            f"{path}: attributes {', '.join(names) or '(none)'}, "
            f"expected {', '.join(ARFF_ATTRIBUTES)}"
        )
    starts = [i for i, line in enumerate(lines) if line.strip().lower() == "@data"]
    if not starts:
        raise DataFormatError(f"{path}: no @data section (truncated?)")
    rest = lines[starts[0] + 1 :]
    return any(line.strip() and not line.startswith("%") for line in rest)


def _read_arff(path: Path, text: str) -> _Part:
    lines = text.splitlines()
    part = _arff_comments(path, lines)
    if not _check_arff_attributes(path, lines):
        return part
    table = parse_arff(text, source=str(path), step_s=None)
    speech = table.column("speech")
    if not np.isin(speech, (0.0, 1.0)).all():
        raise DataFormatError(f"{path}: speech values must be 0 or 1")
    part.times = table.times.tolist()
    part.arousal = table.column("arousal").tolist()
    part.valence = table.column("valence").tolist()
    part.speech = (speech == 1.0).tolist()
    return part


_READERS: dict[str, Callable[[Path, str], _Part]] = {
    "csv": _read_csv,
    "jsonl": _read_jsonl,
    "arff": _read_arff,
}


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


def _check_member(part: _Part, first: _Part, index: int, path: Path) -> None:
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
    parts: list[_Part] = []
    for index, path in enumerate(files, start=1):
        try:
            name = infer_format(path, fmt)
        except SinkError as exc:
            raise DataFormatError(str(exc)) from None
        part = _READERS[name](path, _read_text(path))
        if parts:
            _check_member(part, parts[0], index, path)
        parts.append(part)
    return LogTable(
        times=np.asarray([t for p in parts for t in p.times], dtype=np.float64),
        arousal=np.asarray([a for p in parts for a in p.arousal], dtype=np.float64),
        valence=np.asarray([v for p in parts for v in p.valence], dtype=np.float64),
        speech=np.asarray([s for p in parts for s in p.speech], dtype=np.bool_),
        header=parts[0].header,
        summary=parts[-1].summary,
        paths=tuple(files),
    )
