"""``edge-affect bench``: a thin wrapper over :mod:`edge_affect.bench` (imported when run)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command()(bench)


def _default_models() -> list[Path]:
    runtime = importlib.import_module("edge_affect.runtime")
    folder: Path = runtime.BUNDLED_MODELS
    found = sorted(folder.glob("*.onnx"), key=lambda p: (".int8." not in p.name, p.name))
    if not found:
        runtime.default_model()  # raises the "no bundled model" message
    return found


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
    bench_module = importlib.import_module("edge_affect.bench")
    models = tuple(model) if model else tuple(_default_models())
    options = bench_module.BenchOptions(
        models=models, audio=audio, seconds=seconds, soak_s=soak, process=process,
        references=references,
    )  # fmt: skip
    report = bench_module.run_bench(options)
    if out is not None:
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    typer.echo(json.dumps(report, indent=2) if as_json else bench_module.format_bench(report))
