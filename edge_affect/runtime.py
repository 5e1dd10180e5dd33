"""``listen`` and ``run``: a source, the pipeline, the log, the live view, the summary.

Both commands assemble the same objects and differ only in the source (a microphone or a
file). Whatever ends a run (the source, ``--duration``, Ctrl-C, a lost device, a full disk,
unreadable audio) the log is closed with every complete row on disk, the summary is printed,
and an error, if any, is raised afterwards for the CLI to report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile

from edge_affect import __version__
from edge_affect.audio import LABEL_RATE_HZ, SAMPLE_RATE
from edge_affect.errors import EdgeAffectError, MissingDataError
from edge_affect.live import LiveOptions, LiveOutput, RunInfo, close_outputs, open_outputs
from edge_affect.model import AffectModel
from edge_affect.pipeline import Consumer, Pipeline, PipelineSettings, Source, Summary, run_stream
from edge_affect.sinks import STDOUT, LogHeader, Sink, SinkError, model_info, open_sink
from edge_affect.sources import FileSource, MicSource
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


class Recorder:
    """``--record WAV``: the exact 16 kHz int16 hops the pipeline received."""

    def __init__(self, path: Path) -> None:
        try:
            self._file = soundfile.SoundFile(
                str(path), "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16"
            )
        except (RuntimeError, soundfile.LibsndfileError, OSError) as error:
            raise EdgeAffectError(f"{path}: cannot record ({error})") from None

    def __call__(self, hop: npt.NDArray[np.int16]) -> None:
        self._file.write(hop)

    def close(self) -> None:
        self._file.close()


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
    sink, outputs = _open_outputs(log, model, source, options, announce)
    consumers: list[Consumer] = [sink, *outputs]
    view = None if options.quiet else LiveView()
    if view is not None:
        consumers.append(view)
    recorder = Recorder(record) if record else None
    try:
        summary = run_stream(source, pipeline, consumers, max_hops=max_hops, on_hop=recorder)
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


def open_mic_source(device: str | None, rate_hz: int | None) -> MicSource:
    """Open the device now, so that a missing device fails before a log file exists."""
    chosen: str | int | None = int(device) if device is not None and device.isdigit() else device
    source = MicSource(chosen, rate_hz=rate_hz)
    source.open()
    return source


def duration_hops(duration_s: float | None) -> int | None:
    if duration_s is None:
        return None
    if duration_s <= 0:
        raise EdgeAffectError(f"--duration must be positive, got {duration_s}")
    return max(1, round(duration_s * LABEL_RATE_HZ))


def summary_lines(summary: Summary, paths: list[Path], what: str) -> list[str]:
    d = summary.to_dict()
    lines = [
        f"{what}: {d['audio_s']:.2f} s of audio, {d['hops']} hops "
        f"({summary.speech_share:.1%} speech, model ran on {d['model_hops']}), "
        f"RTF {summary.rtf:.4f}" + (" (interrupted)" if summary.interrupted else ""),
        f"per-hop latency p50 {d['latency_p50_us']:.0f} us, p99 {d['latency_p99_us']:.0f} us, "
        f"max {d['latency_max_us']:.0f} us; overflows {d['overflows']}, drops {d['drops']}",
    ]
    if paths:
        lines.append("log: " + ", ".join(_path_name(p) for p in paths))
    return lines


def _path_name(path: Path) -> str:
    return "standard output" if path == STDOUT else str(path)


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
