"""``edge-affect bench``: a thin wrapper over :mod:`edge_affect.bench.measure` (loaded when run)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated

import typer

from edge_affect import paths
from edge_affect.errors import EdgeAffectError
from edge_affect.paths import check_distinct, display

MIN_SECONDS = 2.0  # the warm-up alone is 2 s (50 hops)


def register(app: typer.Typer) -> None:
    app.command()(bench)


def _default_models() -> list[Path]:
    found = sorted(
        paths.BUNDLED_MODELS.glob("*.onnx"), key=lambda p: (".int8." not in p.name, p.name)
    )
    if not found:
        paths.default_model()  # raises the "no bundled model" message
    return found


def _check_seconds(option: str, value: float, minimum: float) -> None:
    if not (math.isfinite(value) and value >= minimum):
        raise EdgeAffectError(
            f"{option} {value}: give at least {minimum:g} s (the first 2 s warm the model up)"
        )


def _check_report_path(out: Path) -> None:
    """The report's file must be writable: say so before the minutes of measuring."""
    if out.is_dir():
        raise EdgeAffectError(f"--out {display(out)}: is a folder, expected a .json file name")
    parent = out.parent
    if not parent.is_dir():
        raise EdgeAffectError(f"--out {display(out)}: the folder {display(parent)} does not exist")
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise EdgeAffectError(f"--out {display(out)}: not writable")


def bench(
    model: Annotated[
        list[Path] | None,
        typer.Option(help="Model(s) to measure (repeatable); default: the bundled ones."),
    ] = None,
    audio: Annotated[
        Path | None, typer.Option(help="Speech to use; default: espeak-ng speech.")
    ] = None,
    seconds: Annotated[float, typer.Option(help="Seconds of audio per measurement.")] = 60.0,
    soak: Annotated[
        float | None, typer.Option(help="Also stream this many seconds (e.g. 3600) and report.")
    ] = None,
    process: Annotated[
        bool, typer.Option(help="Measure start-up and RSS in a listen-equivalent process.")
    ] = True,
    references: Annotated[
        bool, typer.Option(help="Measure openSMILE and torch references when installed.")
    ] = True,
    out: Annotated[Path | None, typer.Option(help="Also write the report as JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Speed, memory and stability of the device pipeline, with references in the same run."""
    _check_seconds("--seconds", seconds, MIN_SECONDS)
    if soak is not None:
        _check_seconds("--soak", soak, MIN_SECONDS)
    models = tuple(model) if model else tuple(_default_models())
    if out is not None:
        check_distinct(
            {"--audio": audio, **{f"--model {m.name}": m for m in models}}, {"--out": out}
        )
        _check_report_path(out)
    from edge_affect.bench import measure  # noqa: PLC0415 - onnxruntime loads here

    options = measure.BenchOptions(
        models=models,
        audio=audio,
        seconds=seconds,
        soak_s=soak,
        process=process,
        references=references,
    )
    report = measure.run_bench(options)
    if out is not None:
        try:
            out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            raise EdgeAffectError(f"--out {display(out)}: {error.strerror}") from None
    typer.echo(json.dumps(report, indent=2) if as_json else measure.format_bench(report))
