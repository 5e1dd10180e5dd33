"""What the command modules share: the command group, the common options, small helpers.

Importing this module stays cheap: typer and the live-output option parsing only; the
runtime, onnxruntime and PortAudio load inside the commands that need them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from edge_affect.errors import EdgeAffectError
from edge_affect.live import DEFAULT_LSL_NAME, LiveOptions, parse_endpoint
from edge_affect.live.endpoint import LOOPBACK

#: The order of the commands in ``edge-affect --help``; commands not named here follow.
COMMAND_ORDER = (
    "version",
    "synth",
    "export",
    "info",
    "listen",
    "run",
    "devices",
    "evaluate",
    "bench",
    "demo",
    "plot",
    "data",
    "train",
)


class CommandGroup(TyperGroup):
    """Turns library errors into a one-line message and an exit code, for every command."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        arguments = list(sys.argv[1:] if args is None else args)
        return super().main(fill_optional_values(arguments), *rest, **kwargs)

    def list_commands(self, ctx: Any) -> list[str]:
        """Commands in :data:`COMMAND_ORDER` (the order of ``--help``), then any others in
        the order they were registered."""
        names = list(super().list_commands(ctx))
        listed = [name for name in COMMAND_ORDER if name in names]
        return listed + [name for name in names if name not in COMMAND_ORDER]

    def invoke(self, ctx: Any) -> Any:  # typer.Context; typer >= 0.20 vendors click
        try:
            return super().invoke(ctx)
        except EdgeAffectError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None


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
CalibrateOption = Annotated[
    float | None,
    typer.Option(
        "--calibrate",
        metavar="S",
        help="Take the mean of the first S seconds of speech as the speaker's baseline and "
        "also log every later reading relative to it (arousal_rel, valence_rel); 30-60 s "
        "of varied speech is a good baseline.",
    ),
]
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


def echo_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, sort_keys=False))
