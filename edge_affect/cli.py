"""The ``edge-affect`` command line: a thin typer layer over plain functions.

Commands that need host-side packages (``train``, ``export``) load them by name when they
run, so the runtime install (no torch, no onnx) starts and serves its own commands. Every
:class:`EdgeAffectError` becomes ``error: <message>`` on stderr and a non-zero exit code.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from edge_affect import __version__
from edge_affect.errors import EdgeAffectError, ToolMissingError


class _Group(TyperGroup):
    """Turns library errors into a one-line message and an exit code, for every command."""

    def invoke(self, ctx: Any) -> Any:  # typer.Context; typer >= 0.20 vendors click
        try:
            return super().invoke(ctx)
        except EdgeAffectError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=_Group,
    help="Streaming audio arousal/valence: synthetic corpora, training, export, live runtime.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
data_app = typer.Typer(cls=_Group, help="Inspect corpora.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def load_host_module(name: str, extra: str) -> ModuleType:
    """Import a host-side module (``train.*``/``export.*``) by name, or say which extra."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if (
            missing in {"train", "export"}
            or name.startswith(f"{missing}.")
            or missing
            in {
                "torch",
                "onnx",
                "onnxscript",
                "h5py",
            }
        ):
            raise ToolMissingError(
                f"this command needs the [{extra}] extra ({missing} is not installed): "
                f"pip install 'edge-affect[{extra}]'"
            ) from None
        raise


def _echo_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, sort_keys=False))


@app.command()
def version() -> None:
    """Print the edge-affect version."""
    typer.echo(f"edge-affect {__version__}")


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write the corpus into (new or empty).")],
    preset: Annotated[str, typer.Option(help="Corpus size: tiny, small or avec.")] = "tiny",
    seed: Annotated[int, typer.Option(help="Random seed; same seed -> same bytes.")] = 0,
    sample_rate: Annotated[int, typer.Option("--sample-rate", help="Audio rate in Hz.")] = 16_000,
    jobs: Annotated[int, typer.Option(help="Parallel worker processes (default: all cores).")] = 0,
    force: Annotated[
        bool, typer.Option(help="Replace an existing synthetic corpus in OUT.")
    ] = False,
) -> None:
    """Generate a synthetic multimodal corpus in the AVEC 2016 / RECOLA layout."""
    corpus = load_host_module("train.synth", "train")
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    summary = corpus.generate_corpus(
        out, preset=preset, seed=seed, sample_rate=sample_rate, jobs=workers, force=force
    )
    typer.echo(
        f"wrote {summary.sessions} sessions ({summary.audio_s / 60:.1f} min of audio, "
        f"{summary.bytes_on_disk / 1e6:.1f} MB) to {out} in {summary.elapsed_s:.1f} s"
    )


@data_app.command("describe")
def data_describe(
    path: Annotated[Path, typer.Argument(help="An AVEC 2016-layout corpus folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    evidence: Annotated[
        bool, typer.Option(help="For a synthetic corpus, measure the simulation evidence.")
    ] = True,
) -> None:
    """Sessions, durations, modalities, label statistics (and synthetic-corpus evidence)."""
    avec = load_host_module("train.data", "train")
    describe = load_host_module("train.data.describe", "train")
    description = describe.describe(avec.AvecCorpus(path), evidence=evidence)
    if as_json:
        _echo_json(description)
    else:
        typer.echo(describe.format_description(description))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - click normally turns this into Abort
        typer.echo("interrupted", err=True)
        sys.exit(130)
