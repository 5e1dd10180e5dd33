"""``listen --record WAV``: the exact 16 kHz int16 hops the pipeline received."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import soundfile

from edge_affect.arrays import Int16Array
from edge_affect.audio import SAMPLE_RATE
from edge_affect.errors import EdgeAffectError
from edge_affect.paths import LockedError, display, lock_or_fail


class RecordError(EdgeAffectError):
    """``--record``: the recording cannot be created or written."""


def check_record_path(path: Path, overwrite: bool) -> None:
    """``--record`` follows the log's rules: a file name (not a folder), and an existing file
    is never replaced without ``overwrite``. Checked before the device opens, and again (without
    a race) when the recording is created."""
    if path.is_dir():
        raise RecordError(f"--record {display(path)}: is a folder, expected a WAV file name")
    if path.exists() and not path.is_char_device() and not overwrite:
        raise RecordError(
            f"--record {display(path)}: exists; choose another name or pass --overwrite"
        )


def _open_record_fd(path: Path, overwrite: bool) -> int:
    """Open ``path`` for the recording: the checks of :func:`check_record_path`, created with
    ``O_EXCL`` unless overwriting, one writer at a time (locked before it is emptied)."""
    check_record_path(path, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | (0 if overwrite else os.O_EXCL), 0o644)
    except OSError as error:
        raise RecordError(
            f"--record {display(path)}: cannot create it ({error.strerror})"
        ) from None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        try:
            lock_or_fail(fd, path, "recording")
            os.ftruncate(fd, 0)
        except (LockedError, OSError) as error:
            os.close(fd)
            raise RecordError(f"--record: {error}") from None
    return fd


class Recorder:
    """``--record WAV``: the exact 16 kHz int16 hops the pipeline received."""

    def __init__(self, path: Path, *, overwrite: bool = False) -> None:
        self.path = path
        self._fd = _open_record_fd(path, overwrite)
        try:
            self._file = soundfile.SoundFile(
                self._fd,
                "w",
                samplerate=SAMPLE_RATE,
                channels=1,
                subtype="PCM_16",
                format="WAV",
                closefd=False,
            )
        except (RuntimeError, soundfile.LibsndfileError, OSError) as error:
            os.close(self._fd)
            raise RecordError(f"--record {display(path)}: cannot record ({error})") from None

    def __call__(self, hop: Int16Array) -> None:
        try:
            self._file.write(hop)
        except (RuntimeError, soundfile.LibsndfileError, OSError) as error:
            raise RecordError(
                f"--record {display(self.path)}: writing the recording failed ({error})"
            ) from None

    def close(self) -> None:
        try:
            self._file.close()
        except (RuntimeError, soundfile.LibsndfileError, OSError):
            pass  # a failed write has already been reported; the log is what matters
        finally:
            os.close(self._fd)

    def discard(self) -> None:
        """Close and remove the recording (the run failed before its first hop)."""
        self.close()
        if self.path.is_file():
            self.path.unlink(missing_ok=True)
