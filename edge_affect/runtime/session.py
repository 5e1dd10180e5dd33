"""``listen`` and ``run``: a source, the pipeline, the log, the live view, the summary.

Both commands assemble the same objects and differ only in the source (a microphone or a
file). Whatever ends a run (the source, ``--duration``, Ctrl-C, a lost device, a full disk,
unreadable audio) the log is closed with every complete row on disk, the summary is printed,
and an error, if any, is raised afterwards for the CLI to report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge_affect import signals
from edge_affect.audio import HOP_S
from edge_affect.errors import EdgeAffectError
from edge_affect.live import LiveOutput, RunInfo, close_outputs, open_outputs
from edge_affect.live.view import LiveView
from edge_affect.logs.header import STDOUT, LogHeader, SinkError, model_info
from edge_affect.logs.writer import Sink, open_sink
from edge_affect.paths import default_model, display
from edge_affect.runtime.options import LogOptions, RunOptions
from edge_affect.runtime.record import Recorder
from edge_affect.stream.calibration import Baseline, Calibration, calibration_hops
from edge_affect.stream.feed import Source
from edge_affect.stream.model import AffectModel
from edge_affect.stream.pipeline import Consumer, Pipeline, PipelineSettings, Summary, run_stream
from edge_affect.stream.reading import Reading
from edge_affect.version import __version__


def load_model(options: RunOptions) -> AffectModel:
    return AffectModel(options.model or default_model(), threads=options.threads)


def _calibration(settings: PipelineSettings) -> dict[str, Any] | None:
    """The log header's record of ``--calibrate`` (the baseline itself is in the summary)."""
    seconds = settings.calibrate_s
    return None if seconds is None else {"seconds": seconds, "hops": calibration_hops(seconds)}


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
        calibration=_calibration(settings),
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
    if pipeline.calibration is not None:
        consumers.append(CalibrationNotice(pipeline.calibration, announce, view))
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
    closing = _closing_summary(summary, pipeline.calibration, announce)
    try:
        if not isinstance(error, SinkError):  # a failed sink has already closed itself
            sink.close(closing)
    finally:
        close_outputs(outputs, closing, announce)
    if error is not None:
        raise RunError(error, summary, list(sink.paths))
    return summary, list(sink.paths)


def calibration_line(baseline: Baseline) -> str:
    """The one line that says the baseline is complete."""
    return (
        f"calibrated at {baseline.time_s:.2f} s: baseline arousal {baseline.arousal:+.4f}, "
        f"valence {baseline.valence:+.4f}, the mean of {baseline.speech_s:.2f} s of speech "
        f"({baseline.hops} hops); readings are now also logged relative to it"
    )


class CalibrationNotice:
    """Says once, through ``announce``, that the baseline is complete, when the reading that
    completed it is delivered (a chunk's readings are all made before the first is delivered).
    The live view's line is ended first, so that the message gets a line of its own."""

    def __init__(
        self, calibration: Calibration, announce: Callable[[str], None], view: LiveView | None
    ) -> None:
        self.calibration = calibration
        self.announce = announce
        self.view = view
        self.said = False

    def write(self, reading: Reading) -> None:
        baseline = self.calibration.baseline
        if self.said or baseline is None or reading.index < baseline.index:
            return
        self.said = True
        if self.view is not None:
            self.view.break_line()
        self.announce(calibration_line(baseline))


def _closing_summary(
    summary: Summary, calibration: Calibration | None, announce: Callable[[str], None]
) -> dict[str, Any]:
    """The summary the log and the live outputs get at the end; with ``--calibrate``, the
    calibration too (and a line when it never completed)."""
    closing: dict[str, Any] = dict(summary.to_dict())
    if calibration is not None:
        closing["calibration"] = calibration.to_dict()
        if not calibration.complete:
            announce(
                f"calibration incomplete: {calibration.counted * HOP_S:.2f} of "
                f"{calibration.seconds:g} s of speech; the log has no relative values"
            )
    return closing


class RunError(EdgeAffectError):
    """An error that ended a run, with what the run had done before it."""

    def __init__(self, cause: EdgeAffectError, summary: Summary, paths: list[Path]) -> None:
        super().__init__(str(cause))
        self.exit_code = cause.exit_code
        self.summary = summary
        self.paths = paths


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
