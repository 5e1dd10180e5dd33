"""``edge-affect demo`` and ``edge-affect plot``.

``demo`` streams the bundled clip (an excerpt of a held-out synthetic test session, see
``edge_affect/demo/demo.json``) through the real pipeline — ``FileSource`` paced in real time
(``--fast``: as fast as possible) -> ``stream_to_log`` with the live view — then scores the
log against the clip's gold standard and plots it. Every run writes new files
``demo-<UTC time>.csv`` / ``.png`` into ``--out`` (default ``edge-affect-demo/``; ``-2``,
``-3``... within one second), so a demo never replaces an earlier result and can be run again
as is. Without matplotlib it still
runs and says how to get the plot. Offline: the model and the clip ship with the package.

``plot`` draws any prediction log, with gold standards when given.

Both are thin wrappers; the runtime, the evaluation and matplotlib load inside the commands,
so ``edge-affect --help`` stays light.
"""

from __future__ import annotations

import importlib
import os
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from edge_affect.cli_runtime import (
    LslOption,
    OscOption,
    OscPrefixOption,
    ServeOption,
    live_options,
    say,
)
from edge_affect.errors import EdgeAffectError, MissingDataError, ToolMissingError
from edge_affect.live import DEFAULT_OSC_PREFIX
from edge_affect.paths import check_distinct

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_AUDIO = DEMO_DIR / "demo.ogg"
DEMO_GOLD = (DEMO_DIR / "arousal.arff", DEMO_DIR / "valence.arff")
DEFAULT_OUT = Path("edge-affect-demo")


def register(app: typer.Typer) -> None:
    app.command()(demo)
    app.command()(plot)


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"edge_affect.{name}")


def _demo_files() -> None:
    missing = [p.name for p in (DEMO_AUDIO, *DEMO_GOLD) if not p.is_file()]
    if missing:
        raise MissingDataError(
            f"this install has no demo clip (edge_affect/demo/ lacks {', '.join(missing)})"
        )


def fresh_log_path(out: Path) -> Path:
    """``out/demo-<UTC time>.csv``, with ``-2``, ``-3``... when that second is taken.

    The name is claimed by creating the file with ``O_EXCL``, so two demos started in the same
    second (two terminals, a script) never pick the same name.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EdgeAffectError(f"--out {out}: cannot create the folder ({error.strerror})") from None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    n = 1
    while True:
        candidate = out / (f"demo-{stamp}.csv" if n == 1 else f"demo-{stamp}-{n}.csv")
        n += 1
        if candidate.with_suffix(".png").exists():
            continue
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            continue
        except OSError as error:
            raise EdgeAffectError(
                f"{candidate}: cannot create the log ({error.strerror})"
            ) from None
        return candidate


def _scores(result: dict[str, Any]) -> dict[str, float | None]:
    return {name: row["ccc"] for name, row in result["dimensions"].items()}


def _draw(log: Any, gold: Any, scores: dict[str, float | None], out: Path, title: str) -> bool:
    """Plot if matplotlib is there; else say how to get it. True when a plot was written."""
    try:
        _module("plot").plot_log(log, out, gold=gold, scores=scores, title=title)
    except ToolMissingError as error:
        typer.echo(f"plot: skipped ({error})")
        return False
    return True


def demo(
    fast: Annotated[
        bool, typer.Option(help="Stream the clip as fast as possible instead of in real time.")
    ] = False,
    out: Annotated[
        Path, typer.Option(help="Folder for the log and the plot (created if needed).")
    ] = DEFAULT_OUT,
    model: Annotated[
        Path | None, typer.Option(help="Exported model (.onnx); default: the bundled model.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No live view.")] = False,
    lsl: LslOption = None,
    osc: OscOption = None,
    osc_prefix: OscPrefixOption = DEFAULT_OSC_PREFIX,
    serve: ServeOption = None,
) -> None:
    """Stream the bundled demo clip live, log it, score it against its gold standard, plot it."""
    _demo_files()
    rt, ev, sinks = _module("runtime"), _module("evaluate"), _module("sinks")
    live = live_options(lsl, osc, osc_prefix, serve)
    options = rt.RunOptions(model=model, quiet=quiet, live=live)
    loaded = rt.load_model(options)
    gold = ev.load_gold(DEMO_GOLD)  # before the run: a broken install fails early
    source = rt.open_file_source(DEMO_AUDIO, not fast)
    log_path = fresh_log_path(out)  # claimed (created empty): the sink then owns it
    pace = "as fast as possible" if fast else "in real time (--fast skips the wait)"
    typer.echo(f"demo: {source.description} through {loaded.path.name}, {pace}")
    try:
        summary, _ = rt.stream_to_log(
            source,
            loaded,
            rt.LogOptions(log_path, "csv", overwrite=True),
            options,
            announce=say,
        )
    except rt.RunError as error:
        for line in rt.summary_lines(error.summary, error.paths, "demo"):
            typer.echo(line)
        raise
    for line in rt.summary_lines(summary, [], "demo"):  # the files are listed at the end
        typer.echo(line)
    table = sinks.read_log(log_path)
    result = ev.evaluate(table, gold)
    typer.echo("")
    typer.echo(ev.format_evaluation(result))
    plot_path = log_path.with_suffix(".png")
    title = f"edge-affect demo: {DEMO_AUDIO.name} through {loaded.path.name}"
    drawn = _draw(table, gold, _scores(result), plot_path, title)
    typer.echo("")
    typer.echo(f"log:  {log_path}")
    typer.echo(f"plot: {plot_path}" if drawn else "plot: pip install 'edge-affect[plot]'")


def plot(
    log: Annotated[Path, typer.Argument(help="A prediction log (csv, jsonl or arff).")],
    gold: Annotated[
        list[Path] | None,
        typer.Option(help="Gold-standard ARFF file (one per dimension; repeat the option)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Image to write (.png, .svg or .pdf); default: LOG with .png."),
    ] = None,
) -> None:
    """Arousal and valence over time, speech shaded, the gold standard overlaid."""
    ev, sinks, plotting = _module("evaluate"), _module("sinks"), _module("plot")
    target = out or log.with_suffix(".png")
    inputs = {"the log": log, **{f"--gold {p.name}": p for p in gold or []}}
    check_distinct(inputs, {"--out": target})  # a figure never replaces its own data
    plotting.matplotlib_figure()  # a missing extra fails before any reading
    table = sinks.read_log(log)
    reference = ev.load_gold(gold) if gold else None
    scores = _scores(ev.evaluate(table, reference)) if reference else None
    plotting.plot_log(table, target, gold=reference, scores=scores)
    message = f"wrote {target}"
    if scores:
        message += " (CCC " + ", ".join(
            f"{name} {'-' if value is None else f'{value:.3f}'}" for name, value in scores.items()
        )
        message += ")"
    typer.echo(message)
