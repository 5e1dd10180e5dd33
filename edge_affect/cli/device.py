"""The device commands: ``info``, ``listen``, ``run``, ``devices``.

Thin typer wrappers over :mod:`edge_affect.runtime`, imported inside each command so that
``edge-affect --help`` and the host commands do not load onnxruntime or PortAudio.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from edge_affect.cli.common import (
    CalibrateOption,
    FormatOption,
    GateOption,
    LslOption,
    ModelOption,
    OscOption,
    OscPrefixOption,
    OutOption,
    OverwriteOption,
    QuietOption,
    RotateHours,
    RotateMb,
    ServeOption,
    SilenceOption,
    ThreadsOption,
    echo_json,
    live_options,
    say,
)
from edge_affect.cpu import cpu_line, describe_cpu, int8_warning
from edge_affect.errors import EdgeAffectError
from edge_affect.live import DEFAULT_OSC_PREFIX, LiveOptions
from edge_affect.paths import check_distinct, display

if TYPE_CHECKING:
    from edge_affect.runtime.options import LogOptions, RunOptions
    from edge_affect.stream.pipeline import PipelineSettings, Summary


def _settings(gate: bool, silence: str, calibrate_s: float | None) -> PipelineSettings:
    from edge_affect.runtime.options import check_calibrate  # noqa: PLC0415 - onnxruntime
    from edge_affect.stream.pipeline import PipelineSettings  # noqa: PLC0415 - onnxruntime

    if silence not in ("hold", "decay"):
        raise EdgeAffectError(f"--silence {silence}: choose hold or decay")
    return PipelineSettings(
        gate=gate,
        silence="hold" if silence == "hold" else "decay",
        calibrate_s=check_calibrate(calibrate_s),
    )


def _run_options(
    model: Path | None,
    pipeline: tuple[bool, str, float | None],
    threads: int,
    quiet: bool,
    live: LiveOptions,
    chunk_hops: int,
) -> RunOptions:
    """The run's options from the command line, each checked (``pipeline``: gate, silence,
    calibrate)."""
    from edge_affect.runtime import options as run_options  # noqa: PLC0415 - onnxruntime

    return run_options.RunOptions(
        model,
        _settings(*pipeline),
        run_options.check_threads(threads),
        quiet,
        live,
        run_options.check_chunk_hops(chunk_hops),
    )


def _log_options(
    out: Path | None,
    fmt: str | None,
    default_out: Callable[[str], Path],
    rotate: tuple[float | None, float | None],
    overwrite: bool,
) -> LogOptions:
    """The format comes from ``--format``, else from ``--out``'s suffix, else csv; without
    ``--out`` the log is ``default_out(format)``."""
    from edge_affect.logs.header import FORMATS  # noqa: PLC0415
    from edge_affect.runtime import options as run_options  # noqa: PLC0415 - onnxruntime

    if fmt is not None and fmt not in FORMATS:
        raise EdgeAffectError(f"--format {fmt}: choose csv, jsonl or arff")
    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    if out is None:
        fmt = fmt or "csv"
        out = default_out(fmt)
    elif str(out) == "-":
        fmt = fmt or "jsonl"
    elif fmt is None and suffix not in FORMATS:
        fmt = "csv"  # /dev/stdout, a FIFO, a name without a known suffix
    elif fmt is not None and suffix in FORMATS and suffix != fmt:
        raise EdgeAffectError(
            f"--format {fmt} but --out {display(out)} names a .{suffix} file; "
            f"drop --format or give the file a .{fmt} suffix"
        )
    return run_options.LogOptions(out, fmt, rotate[0], rotate[1], overwrite)


def _check_files(
    inputs: dict[str, Path | None],
    log: LogOptions,
    record: Path | None = None,
) -> None:
    """No output may be an input or another output, even with --overwrite (a rotated log's
    files included)."""
    from edge_affect.runtime import options as run_options  # noqa: PLC0415 - onnxruntime

    outputs: dict[str, Path | None] = {"the log --out": log.out, "--record": record}
    if log.rotate_mb is not None or log.rotate_hours is not None:
        outputs.update(
            (f"the log file {display(p.name)}", p)
            for p in run_options.rotation_candidates(log.out, inputs)
        )
    check_distinct(inputs, outputs)


def _finish(
    call: Callable[[], tuple[Summary, list[Path]]], what: str, to_stderr: bool = False
) -> None:
    """Run ``call``; print the summary whatever happened (on stderr when the log goes to
    standard output); re-raise an error after it."""
    from edge_affect.runtime import session  # noqa: PLC0415 - onnxruntime loads here

    try:
        summary, paths = call()
    except session.RunError as error:
        for line in session.summary_lines(error.summary, error.paths, what):
            typer.echo(line, err=to_stderr)
        raise
    for line in session.summary_lines(summary, paths, what):
        typer.echo(line, err=to_stderr)


def register(app: typer.Typer) -> None:
    app.command()(info)
    app.command()(listen)
    app.command("run")(run_file)
    app.command()(devices)


def listen(
    model: ModelOption = None,
    device: Annotated[
        str | None, typer.Option(help="Input device index or name (see `devices`).")
    ] = None,
    rate: Annotated[
        int | None, typer.Option("--rate", help="Open the device at this rate (Hz).")
    ] = None,
    out: OutOption = None,
    fmt: FormatOption = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    gate: GateOption = True,
    silence: SilenceOption = "hold",
    calibrate: CalibrateOption = None,
    quiet: QuietOption = False,
    rotate_mb: RotateMb = None,
    rotate_hours: RotateHours = None,
    record: Annotated[
        Path | None, typer.Option(help="Also save the 16 kHz audio the model heard (WAV).")
    ] = None,
    threads: ThreadsOption = 1,
    overwrite: OverwriteOption = False,
    lsl: LslOption = None,
    osc: OscOption = None,
    osc_prefix: OscPrefixOption = DEFAULT_OSC_PREFIX,
    serve: ServeOption = None,
    chunk_hops: Annotated[
        int,
        typer.Option(
            "--chunk-hops",
            help="Run the model on K hops at once (wake less often; readings come K at a "
            "time, up to (K-1) x 40 ms later). Ctrl-C drops an unfinished chunk.",
        ),
    ] = 1,
) -> None:
    """Stream the microphone: one arousal/valence reading per 40 ms, logged; Ctrl-C,
    SIGTERM or SIGHUP stops it cleanly (summary, log closed, exit 0)."""
    from edge_affect.runtime import inputs, session  # noqa: PLC0415
    from edge_affect.runtime import options as run_options  # noqa: PLC0415
    from edge_affect.runtime import record as recording  # noqa: PLC0415

    live = live_options(lsl, osc, osc_prefix, serve)
    options = _run_options(model, (gate, silence, calibrate), threads, quiet, live, chunk_hops)
    log = _log_options(
        out,
        fmt,
        lambda f: run_options.default_log_path("edge-affect", f),
        (rotate_mb, rotate_hours),
        overwrite,
    )
    max_hops = run_options.duration_hops(duration)
    if rate is not None:
        run_options.check_rate("--rate", rate)
    _check_files({"the model": model}, log, record)
    if record is not None:
        recording.check_record_path(record, overwrite)
    loaded = session.load_model(options)
    source = inputs.open_mic_source(device, rate)
    if not quiet:
        where = "standard output" if str(log.out) == "-" else log.out
        typer.echo(f"listening to {source.description}; Ctrl-C stops; log: {where}", err=True)
    if chunk_hops > 1:
        typer.echo(run_options.chunk_latency_line(chunk_hops), err=True)
    _finish(
        lambda: session.stream_to_log(
            source, loaded, log, options, max_hops=max_hops, record=record, announce=say
        ),
        "listened",
        to_stderr=str(log.out) == "-",
    )


def run_file(
    audio: Annotated[
        Path,
        typer.Argument(help="Audio file (WAV, FLAC...; any rate), or - for standard input."),
    ],
    model: ModelOption = None,
    out: OutOption = None,
    fmt: FormatOption = None,
    realtime: Annotated[bool, typer.Option(help="Pace the file in real time.")] = False,
    gate: GateOption = True,
    silence: SilenceOption = "hold",
    calibrate: CalibrateOption = None,
    quiet: QuietOption = True,
    threads: ThreadsOption = 1,
    overwrite: OverwriteOption = False,
    raw_rate: Annotated[
        int | None,
        typer.Option(
            "--raw-rate", help="AUDIO (a pipe or -) is raw s16le mono PCM at this rate (Hz)."
        ),
    ] = None,
    allow_low_rate: Annotated[
        bool, typer.Option(help="Accept audio below 8 kHz (refused as a likely wrong header).")
    ] = False,
    lsl: LslOption = None,
    lsl_wait: Annotated[
        float,
        typer.Option(
            "--lsl-wait",
            help="Wait up to this many seconds for an LSL consumer (e.g. LabRecorder) "
            "before the file starts, so that it records every reading.",
        ),
    ] = 0.0,
    osc: OscOption = None,
    osc_prefix: OscPrefixOption = DEFAULT_OSC_PREFIX,
    serve: ServeOption = None,
    chunk_hops: Annotated[
        int | None,
        typer.Option(
            "--chunk-hops",
            help="Hops per model call (same readings); default: 250 (10 s) for a file read "
            "as fast as possible, 1 for a pipe or --realtime.",
        ),
    ] = None,
) -> None:
    """Run an audio file, or a pipe (``-``: standard input, WAV or --raw-rate PCM), through
    the same streaming pipeline, as fast as it comes."""
    from edge_affect.runtime import inputs, session  # noqa: PLC0415 - onnxruntime loads here
    from edge_affect.runtime import options as run_options  # noqa: PLC0415

    live = live_options(lsl, osc, osc_prefix, serve, lsl_wait)
    stdin = str(audio) == "-"
    chunk = 1 if chunk_hops is None else chunk_hops
    options = _run_options(model, (gate, silence, calibrate), threads, quiet, live, chunk)
    log = _log_options(
        out,
        fmt,
        lambda f: (
            run_options.default_log_path("stdin", f) if stdin else Path(f"{audio.stem}.affect.{f}")
        ),
        (None, None),
        overwrite,
    )
    if raw_rate is not None:
        run_options.check_rate("--raw-rate", raw_rate)
    _check_files({"the audio": None if stdin else audio, "the model": model}, log)
    loaded = session.load_model(options)
    source = inputs.open_audio_source(audio, realtime, raw_rate, allow_low_rate)
    if chunk_hops is None:
        options = replace(options, chunk_hops=run_options.file_chunk_hops(source))
    name = "stdin" if stdin else display(audio.name)
    _finish(
        lambda: session.stream_to_log(source, loaded, log, options, announce=say),
        name,
        to_stderr=str(log.out) == "-",
    )


def devices(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Input devices and their default rates (* marks the default)."""
    from edge_affect.runtime.inputs import describe_devices  # noqa: PLC0415
    from edge_affect.stream.sources import list_input_devices  # noqa: PLC0415 - PortAudio

    found = list_input_devices()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for line in describe_devices(found):
        typer.echo(line)


def info(
    model: Annotated[Path, typer.Argument(help="An exported edge-affect ONNX model.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the contract as JSON.")] = False,
) -> None:
    """Print a model's contract (checked against this runtime and the graph)."""
    from edge_affect.stream.model import AffectModel  # noqa: PLC0415 - onnxruntime loads only here

    loaded = AffectModel(model)
    if as_json:
        contract = loaded.contract
        echo_json(
            {
                key.removeprefix("edge_affect."): _maybe_json(value)
                for key, value in contract.to_metadata().items()
            }
        )
        return
    contract = loaded.contract
    cpu = describe_cpu()
    rows = [*contract.summary(), ("this CPU", cpu_line(cpu))]
    warning = int8_warning(contract.precision, contract.quantization, cpu)
    if warning:
        rows.append(("warning", warning))
    width = max(len(k) for k, _ in rows)
    typer.echo(f"{model} ({model.stat().st_size / 1000:.1f} KB)")
    for key, value in rows:
        typer.echo(f"  {key:{width}s}  {value}")


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
