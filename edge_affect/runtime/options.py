"""The checked options of a ``listen`` or ``run``: what to log where, and how to run."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from edge_affect.audio import HOP_S, LABEL_RATE_HZ
from edge_affect.errors import EdgeAffectError
from edge_affect.live import LiveOptions
from edge_affect.logs.writer import MEMBER_NAME, member_path
from edge_affect.stream.calibration import MAX_CALIBRATION_S
from edge_affect.stream.feed import Source
from edge_affect.stream.pipeline import PipelineSettings
from edge_affect.stream.sources import MAX_RATE_HZ, MIN_RATE_HZ, FileSource


@dataclass(frozen=True)
class LogOptions:
    out: Path
    fmt: str | None = None  # None: from the suffix
    rotate_mb: float | None = None
    rotate_hours: float | None = None
    overwrite: bool = False


@dataclass(frozen=True)
class RunOptions:
    model: Path | None = None
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    threads: int = 1
    quiet: bool = False
    live: LiveOptions = field(default_factory=LiveOptions)
    chunk_hops: int = 1  # hops processed per model call (see run_stream)


def default_log_path(prefix: str, fmt: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"{prefix}-{stamp}.{fmt}")


def check_rate(option: str, rate_hz: int) -> int:
    if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        raise EdgeAffectError(
            f"{option} {rate_hz}: choose a rate from {MIN_RATE_HZ} to {MAX_RATE_HZ} Hz"
        )
    return rate_hz


def rotation_candidates(base: Path, inputs: dict[str, Path | None]) -> list[Path]:
    """Files a rotated log ``base`` may write that an input could be: its first member, and
    the member with the number of any input named like one of the set."""
    found = [member_path(base, 1)]
    for path in inputs.values():
        match = MEMBER_NAME.match(path.name) if path is not None else None
        if match and match["stem"] == base.stem and (match["suffix"] or "") == base.suffix:
            found.append(member_path(base, int(match["number"])))
    return found


def duration_hops(duration_s: float | None) -> int | None:
    if duration_s is None:
        return None
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise EdgeAffectError(
            f"--duration must be a positive number of seconds, got {duration_s} "
            "(leave it out to run until stopped)"
        )
    return max(1, round(duration_s * LABEL_RATE_HZ))


def check_calibrate(seconds: float | None) -> float | None:
    """``--calibrate S``: a positive number of seconds of speech, at most 10 minutes."""
    if seconds is None:
        return None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_CALIBRATION_S):
        raise EdgeAffectError(
            f"--calibrate {seconds:g}: choose the seconds of speech for the baseline, "
            f"more than 0 and at most {MAX_CALIBRATION_S:g} (30 to 60 is typical)"
        )
    return seconds


#: ``run``'s chunk for a file read as fast as possible: 10 s of audio per model call.
FILE_CHUNK_HOPS = 250


#: The longest chunk: 60 s of audio (readings come that late).
MAX_CHUNK_HOPS = 1500


def check_chunk_hops(chunk_hops: int) -> int:
    if not 1 <= chunk_hops <= MAX_CHUNK_HOPS:
        raise EdgeAffectError(
            f"--chunk-hops {chunk_hops}: choose 1 to {MAX_CHUNK_HOPS} hops of {HOP_S * 1000:.0f} ms"
        )
    return chunk_hops


def file_chunk_hops(source: Source) -> int:
    """``run``'s default: big chunks for a file read as fast as possible; hop by hop for a
    pipe or a paced file, whose readings someone may be watching live."""
    fast_file = isinstance(source, FileSource) and not source.realtime
    return FILE_CHUNK_HOPS if fast_file else 1


def chunk_latency_line(chunk_hops: int) -> str:
    """What a chunk costs a live reader: readings come in batches, the first of each late."""
    extra_ms = (chunk_hops - 1) * HOP_S * 1000
    return (
        f"chunks of {chunk_hops} hops: readings arrive {chunk_hops} at a time every "
        f"{chunk_hops * HOP_S * 1000:.0f} ms, up to {extra_ms:.0f} ms later than hop by hop"
    )


def max_threads() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def check_threads(threads: int) -> int:
    """``--threads`` within 1..cores: more threads than cores only adds contention."""
    cores = max_threads()
    if not 1 <= threads <= cores:
        raise EdgeAffectError(
            f"--threads {threads}: choose 1 to {cores} (the cores this process may use); "
            "1 is right for a stream model"
        )
    return threads
