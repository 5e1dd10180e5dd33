"""The device commands: ``listen``, ``run``, ``devices``, ``evaluate``.

Thin typer wrappers over :mod:`edge_affect.runtime`, which is imported inside each command so
that ``edge-affect --help`` and the host commands do not load onnxruntime or PortAudio.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from edge_affect.errors import EdgeAffectError
from edge_affect.live import DEFAULT_LSL_NAME, DEFAULT_OSC_PREFIX, LiveOptions, parse_endpoint
from edge_affect.live.endpoint import LOOPBACK
from edge_affect.paths import check_distinct, display

ModelOption = Annotated[
    Path | None,
    typer.Option(help="Exported model (.onnx); default: the bundled model."),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        help="Log file (format from --format or its suffix); - writes JSONL to standard output."
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format", help="Log format: csv, jsonl or arff (default: --out's suffix, else csv)."
    ),
]
GateOption = Annotated[
    bool, typer.Option("--gate/--no-gate", help="Skip the model in silence (webrtcvad).")
]
SilenceOption = Annotated[
    str, typer.Option(help="In gated silence: hold the last reading, or decay it to 0.")
]
QuietOption = Annotated[bool, typer.Option(help="No live view.")]
ThreadsOption = Annotated[int, typer.Option(help="onnxruntime intra-op threads.")]
RotateMb = Annotated[
    float | None, typer.Option("--rotate-mb", help="Start a new log file after this many MB.")
]
RotateHours = Annotated[
    float | None, typer.Option("--rotate-hours", help="Start a new log file after this long.")
]
OverwriteOption = Annotated[bool, typer.Option(help="Replace an existing log file.")]
LslOption = Annotated[
    str | None,
    typer.Option(
        "--lsl",
        metavar="[NAME]",
        help="Also stream the readings as a Lab Streaming Layer outlet NAME "
        "(a bare --lsl: edge-affect; needs the \\[lsl] extra).",
    ),
]
OscOption = Annotated[
    str | None,
    typer.Option(
        "--osc",
        metavar="HOST:PORT",
        help="Also send one OSC message per reading over UDP (needs the \\[osc] extra).",
    ),
]
OscPrefixOption = Annotated[
    str, typer.Option("--osc-prefix", help="OSC address prefix (PREFIX/reading, PREFIX/end).")
]
ServeOption = Annotated[
    str | None,
    typer.Option(
        "--serve",
        metavar="[HOST:]PORT",
        help="Also serve a live dashboard page (host 127.0.0.1 unless named; "
        "0.0.0.0 opens it to the network).",
    ),
]


def _runtime() -> ModuleType:
    return importlib.import_module("edge_affect.runtime")


def _settings(gate: bool, silence: str) -> Any:
    pipeline = importlib.import_module("edge_affect.pipeline")
    if silence not in ("hold", "decay"):
        raise EdgeAffectError(f"--silence {silence}: choose hold or decay")
    return pipeline.PipelineSettings(gate=gate, silence=silence)


def _run_options(
    rt: ModuleType,
    model: Path | None,
    pipeline: tuple[bool, str],
    threads: int,
    quiet: bool,
    live: LiveOptions,
    chunk_hops: int,
) -> Any:
    """The run's options from the command line, each checked (``pipeline``: gate, silence)."""
    return rt.RunOptions(
        model,
        _settings(*pipeline),
        rt.check_threads(threads),
        quiet,
        live,
        rt.check_chunk_hops(chunk_hops),
    )


def _log_options(
    rt: ModuleType,
    out: Path | None,
    fmt: str | None,
    default_out: Callable[[str], Path],
    rotate: tuple[float | None, float | None],
    overwrite: bool,
) -> Any:
    """The format comes from ``--format``, else from ``--out``'s suffix, else csv; without
    ``--out`` the log is ``default_out(format)``."""
    if fmt is not None and fmt not in rt.FORMATS:
        raise EdgeAffectError(f"--format {fmt}: choose csv, jsonl or arff")
    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    if out is None:
        fmt = fmt or "csv"
        out = default_out(fmt)
    elif str(out) == "-":
        fmt = fmt or "jsonl"
    elif fmt is None and suffix not in rt.FORMATS:
        fmt = "csv"  # /dev/stdout, a FIFO, a name without a known suffix
    elif fmt is not None and suffix in rt.FORMATS and suffix != fmt:
        raise EdgeAffectError(
            f"--format {fmt} but --out {display(out)} names a .{suffix} file; "
            f"drop --format or give the file a .{fmt} suffix"
        )
    return rt.LogOptions(out, fmt, rotate[0], rotate[1], overwrite)


#: Options whose value may be left out, and the value a bare one stands for.
OPTIONAL_VALUES = {"--lsl": DEFAULT_LSL_NAME}


def fill_optional_values(args: list[str]) -> list[str]:
    """``--lsl`` at the end or before another option means ``--lsl=edge-affect`` (typer has
    no options with an optional value); ``--lsl NAME`` and ``--lsl=NAME`` name the stream."""
    filled = []
    for k, arg in enumerate(args):
        after = args[k + 1] if k + 1 < len(args) else None
        bare = arg in OPTIONAL_VALUES and (after is None or after.startswith("-"))
        filled.append(f"{arg}={OPTIONAL_VALUES[arg]}" if bare else arg)
    return filled


def live_options(
    lsl: str | None,
    osc: str | None,
    osc_prefix: str,
    serve: str | None,
    lsl_wait_s: float = 0.0,
) -> LiveOptions:
    """The live outputs from the command line, checked before anything starts."""
    if lsl_wait_s < 0:
        raise EdgeAffectError(f"--lsl-wait {lsl_wait_s:g}: must be 0 or more seconds")
    if lsl_wait_s > 0 and lsl is None:
        raise EdgeAffectError("--lsl-wait needs --lsl")
    return LiveOptions(
        lsl=lsl,
        lsl_wait_s=lsl_wait_s,
        osc=None if osc is None else parse_endpoint(osc, "--osc"),
        osc_prefix=osc_prefix,
        serve=None if serve is None else parse_endpoint(serve, "--serve", default_host=LOOPBACK),
    )


def say(message: str) -> None:
    typer.echo(message, err=True)


def _check_files(
    rt: ModuleType,
    inputs: dict[str, Path | None],
    log: Any,
    record: Path | None = None,
) -> None:
    """No output may be an input or another output, even with --overwrite (a rotated log's
    files included)."""
    outputs: dict[str, Path | None] = {"the log --out": log.out, "--record": record}
    if log.rotate_mb is not None or log.rotate_hours is not None:
        outputs.update(
            (f"the log file {display(p.name)}", p) for p in rt.rotation_candidates(log.out, inputs)
        )
    check_distinct(inputs, outputs)


def _finish(rt: ModuleType, call: Any, what: str, to_stderr: bool = False) -> None:
    """Run ``call``; print the summary whatever happened (on stderr when the log goes to
    standard output); re-raise an error after it."""
    try:
        summary, paths = call()
    except rt.RunError as error:
        for line in rt.summary_lines(error.summary, error.paths, what):
            typer.echo(line, err=to_stderr)
        raise
    for line in rt.summary_lines(summary, paths, what):
        typer.echo(line, err=to_stderr)


def register(app: typer.Typer) -> None:
    app.command()(listen)
    app.command("run")(run_file)
    app.command()(devices)
    app.command()(evaluate)


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
    rt = _runtime()
    live = live_options(lsl, osc, osc_prefix, serve)
    options = _run_options(rt, model, (gate, silence), threads, quiet, live, chunk_hops)
    log = _log_options(
        rt,
        out,
        fmt,
        lambda f: rt.default_log_path("edge-affect", f),
        (rotate_mb, rotate_hours),
        overwrite,
    )
    max_hops = rt.duration_hops(duration)
    if rate is not None:
        rt.check_rate("--rate", rate)
    _check_files(rt, {"the model": model}, log, record)
    if record is not None:
        rt.check_record_path(record, overwrite)
    loaded = rt.load_model(options)
    source = rt.open_mic_source(device, rate)
    if not quiet:
        where = "standard output" if str(log.out) == "-" else log.out
        typer.echo(f"listening to {source.description}; Ctrl-C stops; log: {where}", err=True)
    if chunk_hops > 1:
        typer.echo(rt.chunk_latency_line(chunk_hops), err=True)
    _finish(
        rt,
        lambda: rt.stream_to_log(
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
    rt = _runtime()
    live = live_options(lsl, osc, osc_prefix, serve, lsl_wait)
    stdin = str(audio) == "-"
    chunk = 1 if chunk_hops is None else chunk_hops
    options = _run_options(rt, model, (gate, silence), threads, quiet, live, chunk)
    log = _log_options(
        rt,
        out,
        fmt,
        lambda f: rt.default_log_path("stdin", f) if stdin else Path(f"{audio.stem}.affect.{f}"),
        (None, None),
        overwrite,
    )
    if raw_rate is not None:
        rt.check_rate("--raw-rate", raw_rate)
    _check_files(rt, {"the audio": None if stdin else audio, "the model": model}, log)
    loaded = rt.load_model(options)
    source = rt.open_audio_source(audio, realtime, raw_rate, allow_low_rate)
    if chunk_hops is None:
        options = replace(options, chunk_hops=rt.file_chunk_hops(source))
    name = "stdin" if stdin else display(audio.name)
    _finish(
        rt,
        lambda: rt.stream_to_log(source, loaded, log, options, announce=say),
        name,
        to_stderr=str(log.out) == "-",
    )


def devices(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Input devices and their default rates (* marks the default)."""
    found = importlib.import_module("edge_affect.sources").list_input_devices()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for line in _runtime().describe_devices(found):
        typer.echo(line)


def evaluate(
    pred: Annotated[Path, typer.Argument(help="A prediction log (csv, jsonl or arff).")],
    gold: Annotated[
        list[Path],
        typer.Argument(help="Gold-standard ARFF file(s), or a corpus folder with --session."),
    ],
    session: Annotated[
        str | None, typer.Option(help="Session name when GOLD is a corpus folder.")
    ] = None,
    delay_search: Annotated[
        float, typer.Option("--delay-search", help="Also search annotation delays up to S s.")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """CCC per dimension between a prediction log and the gold standard."""
    ev = importlib.import_module("edge_affect.evaluate")
    sinks = importlib.import_module("edge_affect.sinks")
    if len(gold) == 1 and gold[0].is_dir():
        if session is None:
            raise EdgeAffectError(f"{gold[0]} is a folder: name the session with --session")
        reference = ev.load_corpus_gold(gold[0], session)
    else:
        reference = ev.load_gold(gold)
    result = ev.evaluate(sinks.read_log(pred), reference, delay_search)
    typer.echo(json.dumps(result, indent=2) if as_json else ev.format_evaluation(result))
