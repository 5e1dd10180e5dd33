"""The log writer: one row per 40 ms reading, handed to the OS row by row, with rotation.

Each row is written with one unbuffered ``write(2)`` (the equivalent of a flush per row).
Files are not fsync'ed per row, only when they are closed (also at rotation). A file's header
is written with its first row (so that it can carry that row's time), or at close when the
log has no rows.

Rotation (``rotate_mb`` in units of 10^6 bytes, ``rotate_hours`` of file age): the log is
written as ``<stem>.0001<suffix>``, ``<stem>.0002<suffix>``, ... (the plain name is not
used, so a set sorts and globs as one), checked between rows, so a row is never split or
repeated across files. Every file starts with its own header; times stay absolute.

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
import math
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from edge_affect.logs.arff_log import ArffFormat, arff_instance_name
from edge_affect.logs.csv_log import CsvFormat
from edge_affect.logs.format import LogFormat, time_json
from edge_affect.logs.header import STDOUT, LogHeader, SinkError, infer_format
from edge_affect.logs.jsonl_log import JsonlFormat
from edge_affect.paths import LockedError, lock_or_fail, locked_by_other
from edge_affect.stream.reading import Reading

BYTES_PER_MB = 1_000_000
SECONDS_PER_HOUR = 3600.0
#: Rotation numbers: ``.0001`` ... (more digits past 9999; readers sort numerically).
MEMBER_DIGITS = 4
MEMBER_NAME = re.compile(r"^(?P<stem>.+)\.(?P<number>\d{4,})(?P<suffix>\.[^.]*)?$")

FORMAT_CLASSES: dict[str, type[LogFormat]] = {
    "csv": CsvFormat,
    "jsonl": JsonlFormat,
    "arff": ArffFormat,
}


def os_reason(exc: OSError) -> str:
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
            f"{path}: cannot create the log folder {path.parent}: {os_reason(exc)}"
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
        raise SinkError(f"{path}: cannot open the log for writing: {os_reason(exc)}") from None
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
        raise SinkError(f"{path}: cannot open the log for writing: {os_reason(exc)}") from None
    if regular:
        try:
            lock_or_fail(fd, path)
            os.ftruncate(fd, 0)
        except LockedError as exc:
            os.close(fd)
            raise SinkError(str(exc)) from None
        except OSError as exc:
            os.close(fd)
            raise SinkError(f"{path}: cannot empty the earlier log: {os_reason(exc)}") from None
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
            raise SinkError(f"{member}: cannot remove the earlier log: {os_reason(exc)}") from None


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
        fmt: LogFormat,
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
            self._emit(self._format.header(len(self._paths), time_json(reading)))
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
            raise SinkError(
                f"{self._current()}: closing the log failed: {os_reason(exc)}"
            ) from None

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
                outcome = f"could not cut it back to its last complete row ({os_reason(cut)})"
        with contextlib.suppress(OSError):  # the write error below is the one to report
            os.close(fd)
        raise SinkError(
            f"{self._current()}: writing the log failed after {self._rows} rows: "
            f"{os_reason(exc)}; {outcome}"
        ) from None


def _rotation(rotate_mb: float | None, rotate_hours: float | None) -> Rotation:
    for name, value in (("rotate_mb", rotate_mb), ("rotate_hours", rotate_hours)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise SinkError(f"{name} must be a positive number, got {value}")
    return Rotation(
        max_bytes=None if rotate_mb is None else max(1, round(rotate_mb * BYTES_PER_MB)),
        max_age_s=None if rotate_hours is None else rotate_hours * SECONDS_PER_HOUR,
    )


def open_sink(
    path: str | Path,
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
    formatter = FORMAT_CLASSES[name](header, arff_instance_name(path))
    return FileSink(path, formatter, rotation, overwrite=overwrite, clock=clock)
