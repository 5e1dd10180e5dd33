"""The ``edge-affect`` command line: a thin typer layer over plain functions.

The app is built here from one module per audience, each adding its commands with
``register(app)``: the host side's own command modules, :mod:`edge_affect_train.cli` (``synth``,
``data describe``, ``train teacher|student|experiment``) and :mod:`edge_affect_export.cli`
(``export``), which import only typer and light runtime modules at the top and load torch or
onnx inside a command, naming the missing extra on a device install;
:mod:`~edge_affect.cli.device` (``info``, ``listen``, ``run``, ``devices``),
:mod:`~edge_affect.cli.results` (``evaluate``, ``demo``, ``plot``) and
:mod:`~edge_affect.cli.bench`. ``--help`` lists them in the order of
:data:`~edge_affect.cli.common.COMMAND_ORDER`.
Every :class:`EdgeAffectError` becomes ``error: <message>`` on stderr and a non-zero exit code.
"""

from __future__ import annotations

import signal
import sys

import typer

from edge_affect import signals
from edge_affect.cli import bench, device, results
from edge_affect.cli.common import CommandGroup
from edge_affect.version import __version__
from edge_affect_export import cli as export_cli
from edge_affect_train import cli as train_cli


def version() -> None:
    """Print the edge-affect version."""
    typer.echo(f"edge-affect {__version__}")


def build_app() -> typer.Typer:
    """The ``edge-affect`` app: ``version``, then each command module's commands."""
    app = typer.Typer(
        cls=CommandGroup,
        help="Streaming audio arousal/valence: synthetic corpora, training, export, live runtime.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )
    app.command()(version)
    for register in (
        train_cli.register,
        export_cli.register,
        device.register,
        results.register,
        bench.register,
    ):
        register(app)
    return app


app = build_app()


def main() -> None:
    """Run the command line (``edge_affect.__main__.entry`` routes the signals first)."""
    signals.install()  # again, for callers that start here: a no-op outside the main thread
    try:
        app()
    except SystemExit as done:
        # typer turns an interrupt outside a run's loop (parsing, imports, model load) into
        # a silent exit 130; say which signal, and exit with its own status
        name = signals.fired()
        if name is not None and done.code == 130:
            typer.echo(f"interrupted ({name})", err=True)
            sys.exit(128 + signal.Signals[name].value)
        raise
    except ImportError:
        # an interrupt inside a compiled module's initialisation (numpy, onnxruntime) comes
        # out as "ImportError: initialization failed"
        name = signals.fired()
        if name is None:
            raise
        typer.echo(f"interrupted ({name})", err=True)
        sys.exit(128 + signal.Signals[name].value)
    except KeyboardInterrupt as interrupt:  # pragma: no cover - typer normally catches it
        name = signals.signal_name(interrupt)
        typer.echo(f"interrupted ({name})", err=True)
        sys.exit(128 + signal.Signals[name].value)
