"""Opening the audio of a run: a microphone, a file or a pipe; listing input devices."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

from edge_affect.errors import EdgeAffectError, MissingDataError
from edge_affect.paths import display
from edge_affect.stream.feed import Source
from edge_affect.stream.sources import MIN_RATE_HZ, FileSource, MicSource, PipeSource


def open_file_source(audio: Path, realtime: bool) -> FileSource:
    return FileSource(audio, realtime=realtime)


def open_audio_source(
    audio: Path, realtime: bool, raw_rate_hz: int | None, allow_low_rate: bool
) -> Source:
    """A file (libsndfile), or a pipe: ``-`` (standard input) or a FIFO / character device,
    read as a WAV stream or as raw s16le mono PCM (``raw_rate_hz``), paced by the pipe."""
    min_rate = 1 if allow_low_rate else MIN_RATE_HZ
    if str(audio) == "-":
        return PipeSource(
            sys.stdin.fileno(), "stdin", raw_rate_hz=raw_rate_hz, min_rate_hz=min_rate
        )
    try:
        mode = audio.stat().st_mode
    except OSError:
        mode = 0
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        try:
            fd = os.open(audio, os.O_RDONLY)
        except OSError as error:
            raise MissingDataError(f"{display(audio)}: cannot read ({error.strerror})") from None
        return PipeSource(
            fd, display(audio), raw_rate_hz=raw_rate_hz, min_rate_hz=min_rate, owns_fd=True
        )
    if raw_rate_hz is not None:
        raise EdgeAffectError("--raw-rate is for a pipe (- or a FIFO); a file has a header")
    return FileSource(audio, realtime=realtime, min_rate_hz=min_rate)


def open_mic_source(device: str | None, rate_hz: int | None) -> MicSource:
    """Open the device now, so that a missing device fails before a log file exists."""
    chosen: str | int | None = int(device) if device is not None and device.isdigit() else device
    source = MicSource(chosen, rate_hz=rate_hz)
    source.open()
    return source


def describe_devices(devices: list[dict[str, Any]]) -> list[str]:
    if not devices:
        return ["no input devices"]
    lines = []
    for d in devices:
        mark = "*" if d["default"] else " "
        lines.append(
            f"{mark} {d['index']:3d}  {d['name']}  ({d['hostapi']}, {d['channels']} ch, "
            f"default {d['default_rate_hz']:.0f} Hz)"
        )
    return lines
