"""Guards on the files a command reads and writes.

* :func:`check_distinct`: no output may be the same file as an input or as another output,
  whatever the flags (``--overwrite`` replaces an *earlier* file, never one this run reads
  or writes). "The same file" is decided by the file system (device and inode), so symbolic
  and hard links are caught; outputs that do not exist yet are compared by their resolved path.
* :func:`lock_or_fail`: a log (or recording) has one writer; an exclusive ``flock`` held
  while it is written makes a second writer fail before it writes a byte, naming the first.
* :func:`display`: a path as printable text, whatever bytes its name holds.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Mapping
from pathlib import Path

from edge_affect.errors import EdgeAffectError, MissingDataError


class SameFileError(EdgeAffectError):
    """Two roles of one command (input, log, recording, report) name the same file."""


class LockedError(EdgeAffectError):
    """Another process is writing the file."""


def display(path: str | Path) -> str:
    """``path`` as text that prints anywhere: bytes that are not UTF-8 become ``\\xNN``."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def _identity(path: Path) -> tuple[str, object]:
    """The file's (device, inode) when it exists, else its resolved absolute path."""
    try:
        info = os.stat(path)
    except OSError:
        return "path", os.path.realpath(os.path.abspath(path))
    return "inode", (info.st_dev, info.st_ino)


def check_distinct(inputs: Mapping[str, Path | None], outputs: Mapping[str, Path | None]) -> None:
    """Refuse an output that is the same file as an input or another output.

    ``inputs`` and ``outputs`` map a role (``"--out"``, ``"the audio"``) to a path or None.
    Character devices (``/dev/null``, a terminal) may be shared: writing them twice is safe.
    """
    seen: dict[tuple[str, object], str] = {}
    for role, path in inputs.items():
        if path is not None and not _is_char_device(path):
            seen.setdefault(_identity(path), f"{role} {display(path)}")
    for role, path in outputs.items():
        if path is None or _is_char_device(path):
            continue
        key = _identity(path)
        if key in seen:
            raise SameFileError(
                f"{role} {display(path)} is the same file as {seen[key]}; "
                "choose another name (nothing was written)"
            )
        seen[key] = f"{role} {display(path)}"


def _is_char_device(path: Path) -> bool:
    try:
        return path.is_char_device()
    except OSError:
        return False


def _holder(fd: int) -> str:
    """Who holds the lock on ``fd``'s file, from ``/proc/locks`` (Linux); else vaguely."""
    info = os.fstat(fd)
    inode = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[5] == inode and fields[1] == "FLOCK":
            return f"process {fields[4]}{_command(fields[4])}"
    return "another process"


def _command(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    words = [w.decode("utf-8", "backslashreplace") for w in raw.split(b"\0") if w]
    return f" ({' '.join(words)[:200]})" if words else ""


def lock_or_fail(fd: int, path: Path, what: str = "log") -> None:
    """Take an exclusive lock on ``fd`` without waiting; :class:`LockedError` naming the
    holder when another process has it. The lock goes with the descriptor's last close."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return  # a file system without locks: write unguarded, as before
        raise LockedError(
            f"{display(path)}: another writer has this {what} open ({_holder(fd)}); "
            "nothing was written; stop it or choose another name"
        ) from None


def locked_by_other(path: Path) -> str | None:
    """Who writes ``path`` now (a description), or None when nobody holds its lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return _holder(fd)
    finally:
        os.close(fd)
    return None


#: The models and the demo clip shipped inside the package.
PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_MODELS = PACKAGE_DIR / "models"
DEFAULT_MODEL = "default.int8.onnx"
DEMO_DIR = PACKAGE_DIR / "demo"
DEMO_AUDIO = DEMO_DIR / "demo.ogg"
DEMO_GOLD = (DEMO_DIR / "arousal.arff", DEMO_DIR / "valence.arff")


def default_model() -> Path:
    path = BUNDLED_MODELS / DEFAULT_MODEL
    if not path.is_file():
        raise MissingDataError(
            f"this install has no bundled model (edge_affect/models/{DEFAULT_MODEL}); "
            "pass --model MODEL.onnx (made with `edge-affect export`)"
        )
    return path
