"""The ``edge-affect export`` command: a student checkpoint to ONNX with a parity report.

:func:`register` adds it to a typer app. This module loads with typer and the standard
library alone; torch and onnx load when the command runs, and a missing extra becomes one
line that says what to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from edge_affect.errors import EdgeAffectError
from edge_affect_train.cli import echo_json, needs_extra, reports_errors

Mode = Literal["stream", "window"]


@reports_errors
def export_model(
    checkpoint: Annotated[Path, typer.Argument(help="A student checkpoint (checkpoint.pt).")],
    out: Annotated[Path, typer.Option(help="The fp32 ONNX file to write (NAME.onnx).")],
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write NAME.int8.onnx (dynamic u8u8 int8).")
    ] = False,
    mode: Annotated[
        str | None,
        typer.Option(help="stream (causal students; default) or window (default otherwise)."),
    ] = None,
    window_s: Annotated[
        float | None,
        typer.Option("--window-s", help="Window length in s (default: the training chunk)."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Corpus whose dev split the report scores.")
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="Corpus whose train audio calibrates static QDQ int8 (implies --int8)."),
    ] = None,
    int8_scheme: Annotated[
        str | None,
        typer.Option(
            "--int8-scheme",
            help="int8 scheme (implies --int8): u8u8 (default), u8u8-per-channel, u8s8, "
            "u8s8-reduce-range, u8s8-per-channel-reduce-range, static-u8u8 (default with "
            "--calibration), static-u8s8. See docs/export.md.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Student checkpoint -> ONNX fp32 (+ int8) with its contract and a parity report."""
    if mode not in (None, "stream", "window"):
        raise EdgeAffectError(f"--mode {mode}: choose stream or window")
    with needs_extra("export"):
        from edge_affect_export import exporter  # noqa: PLC0415 - host-only (torch, onnx)
        from edge_affect_export.report import format_report  # noqa: PLC0415 - host-only

    options = exporter.ExportOptions(
        mode=cast(Mode | None, mode),
        window_s=window_s,
        int8=int8,
        data=data,
        calibration=calibration,
        int8_scheme=int8_scheme,
    )
    report = exporter.export_student(checkpoint, out, options)
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_report(report))
        written = [out, *([exporter.int8_path(out)] if "int8" in report["files"] else [])]
        typer.echo(f"wrote {', '.join(str(p) for p in written)} and {exporter.report_path(out)}")


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""
    app.command("export")(export_model)
