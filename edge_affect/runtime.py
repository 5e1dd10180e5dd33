"""``listen`` and ``run``: a source, the pipeline, the log, the live view, the summary.

Both commands assemble the same objects and differ only in the source (a microphone or a
file). Whatever ends a run (the source, ``--duration``, Ctrl-C, a lost device, a full disk,
unreadable audio) the log is closed with every complete row on disk, the summary is printed,
and an error, if any, is raised afterwards for the CLI to report.
"""

from __future__ import annotations

import math
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile

from edge_affect import __version__, signals
from edge_affect.audio import HOP_S, LABEL_RATE_HZ, SAMPLE_RATE
from edge_affect.errors import EdgeAffectError, MissingDataError
from edge_affect.live import LiveOptions, LiveOutput, RunInfo, close_outputs, open_outputs
from edge_affect.model import AffectModel
from edge_affect.paths import LockedError, display, lock_or_fail
from edge_affect.pipeline import Consumer, Pipeline, PipelineSettings, Source, Summary, run_stream
from edge_affect.sinks import (
    MEMBER_NAME,
    STDOUT,
    LogHeader,
    Sink,
    SinkError,
    member_path,
    model_info,
    open_sink,
)
from edge_affect.sources import MAX_RATE_HZ, MIN_RATE_HZ, FileSource, MicSource, PipeSource
from edge_affect.view import LiveView

BUNDLED_MODELS = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "default.int8.onnx"
FORMATS = ("csv", "jsonl", "arff")


def default_model() -> Path:
    path = BUNDLED_MODELS / DEFAULT_MODEL
    if not path.is_file():
        raise MissingDataError(
            f"this install has no bundled model (edge_affect/models/{DEFAULT_MODEL}); "
            "pass --model MODEL.onnx (made with `edge-affect export`)"
        )
    return path


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


def load_model(options: RunOptions) -> AffectModel:
    return AffectModel(options.model or default_model(), threads=options.threads)


def _header(model: AffectModel, source: Source, settings: PipelineSettings) -> LogHeader:
    return LogHeader(
        started=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        source=source.description,
        model=model_info(model.path.name, model.contract),
        edge_affect_version=__version__,
        settings={
            "gate": settings.gate,
            "silence": settings.silence,
            "decay_tau_s": settings.decay_tau_s,
            "vad_mode": settings.vad.mode,
            "vad_onset_frames": settings.vad.onset_frames,
            "vad_hangover_ms": settings.vad.hangover_ms,
            "threads": model.session.get_session_options().intra_op_num_threads,
        },
    )


def open_log(
    log: LogOptions,
    model: AffectModel,
    source: Source,
    settings: PipelineSettings,
    header: LogHeader | None = None,
) -> Sink:
    return open_sink(
        log.out,
        log.fmt,
        header or _header(model, source, settings),
        log.rotate_mb,
        log.rotate_hours,
        overwrite=log.overwrite,
    )


def run_info(header: LogHeader) -> RunInfo:
    source = header.source if isinstance(header.source, str) else str(header.source)
    return RunInfo(
        header.model, source, header.started, header.settings, header.edge_affect_version
    )


def _quiet(message: str) -> None:
    """The default ``announce``: library callers get no messages."""


def _open_outputs(
    log: LogOptions,
    model: AffectModel,
    source: Source,
    options: RunOptions,
    announce: Callable[[str], None],
) -> tuple[Sink, list[LiveOutput]]:
    """The live outputs first (a bad address or a missing extra fails before any log file
    exists), then the log."""
    header = _header(model, source, options.settings)
    outputs = open_outputs(options.live, run_info(header), announce)
    try:
        return open_log(log, model, source, options.settings, header), outputs
    except BaseException:
        close_outputs(outputs, None, lambda _: None)
        raise


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

    def __call__(self, hop: npt.NDArray[np.int16]) -> None:
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


def stream_to_log(
    source: Source,
    model: AffectModel,
    log: LogOptions,
    options: RunOptions,
    *,
    max_hops: int | None = None,
    record: Path | None = None,
    announce: Callable[[str], None] = _quiet,
) -> tuple[Summary, list[Path]]:
    """Run a source through the pipeline into the log and the live outputs; close
    everything; raise any error after the log is closed. Returns the summary and the log
    files written. ``announce`` gets the live outputs' one-line messages (addresses, counts)."""
    pipeline = Pipeline(model, options.settings)
    try:
        recorder = Recorder(record, overwrite=log.overwrite) if record else None
        try:
            sink, outputs = _open_outputs(log, model, source, options, announce)
        except EdgeAffectError:
            if recorder is not None:
                recorder.discard()
            raise
    except EdgeAffectError:
        source.close()
        raise
    consumers: list[Consumer] = [sink, *outputs]
    view = None if options.quiet else LiveView()
    if view is not None:
        consumers.append(view)
    try:
        summary = run_stream(
            source,
            pipeline,
            consumers,
            max_hops=max_hops,
            on_hop=recorder,
            chunk_hops=options.chunk_hops,
        )
        signals.hold()  # shutting down: a further signal must not cut the log's close short
    finally:
        if view is not None:
            view.close()
        if recorder is not None:
            recorder.close()
    error = summary.failure
    try:
        if not isinstance(error, SinkError):  # a failed sink has already closed itself
            sink.close(summary.to_dict())
    finally:
        close_outputs(outputs, summary.to_dict(), announce)
    if error is not None:
        raise RunError(error, summary, list(sink.paths))
    return summary, list(sink.paths)


class RunError(EdgeAffectError):
    """An error that ended a run, with what the run had done before it."""

    def __init__(self, cause: EdgeAffectError, summary: Summary, paths: list[Path]) -> None:
        super().__init__(str(cause))
        self.exit_code = cause.exit_code
        self.summary = summary
        self.paths = paths


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


def open_mic_source(device: str | None, rate_hz: int | None) -> MicSource:
    """Open the device now, so that a missing device fails before a log file exists."""
    chosen: str | int | None = int(device) if device is not None and device.isdigit() else device
    source = MicSource(chosen, rate_hz=rate_hz)
    source.open()
    return source


def duration_hops(duration_s: float | None) -> int | None:
    if duration_s is None:
        return None
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise EdgeAffectError(
            f"--duration must be a positive number of seconds, got {duration_s} "
            "(leave it out to run until stopped)"
        )
    return max(1, round(duration_s * LABEL_RATE_HZ))


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


def summary_lines(summary: Summary, paths: list[Path], what: str) -> list[str]:
    d = summary.to_dict()
    lines = [
        f"{what}: {d['audio_s']:.2f} s of audio, {d['hops']} hops "
        f"({summary.speech_share:.1%} speech, model ran on {d['model_hops']}), "
        f"RTF {summary.rtf:.4f}" + _stopped(summary),
        f"per-hop latency p50 {d['latency_p50_us']:.0f} us, p99 {d['latency_p99_us']:.0f} us, "
        f"max {d['latency_max_us']:.0f} us; overflows {d['overflows']}, drops {d['drops']}",
    ]
    if summary.invalid_hops:
        lines.append(
            f"invalid rows: {summary.invalid_hops} (the model's output was not finite; "
            "logged without values)"
        )
    if paths:
        lines.append("log: " + ", ".join(_path_name(p) for p in paths))
    return lines


def _path_name(path: Path) -> str:
    return "standard output" if path == STDOUT else display(path)


def _stopped(summary: Summary) -> str:
    if not summary.interrupted:
        return ""
    if summary.stop_signal in (None, "SIGINT"):
        return " (interrupted)"
    return f" (interrupted: {summary.stop_signal})"


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
