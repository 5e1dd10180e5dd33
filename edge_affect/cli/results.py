"""The results commands: ``evaluate``, ``demo`` and ``plot``.

``demo`` streams the bundled clip (an excerpt of a held-out synthetic test session, see
``edge_affect/demo/demo.json``) through the real pipeline — ``FileSource`` paced in real time
(``--fast``: as fast as possible) -> ``stream_to_log`` with the live view — then scores the
log against the clip's gold standard and plots it. Every run writes new files
``demo-<UTC time>.csv`` / ``.png`` into ``--out`` (default ``edge-affect-demo/``; ``-2``,
``-3``... within one second), so a demo never replaces an earlier result and can be run again
as is. Without matplotlib it still
runs and says how to get the plot. Offline: the model and the clip ship with the package.

``evaluate`` scores any prediction log against a gold standard; ``plot`` draws one, with gold
standards when given.

All are thin wrappers; the runtime, the evaluation and matplotlib load inside the commands,
so ``edge-affect --help`` stays light.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from edge_affect.cli.common import (
    LslOption,
    OscOption,
    OscPrefixOption,
    ServeOption,
    live_options,
    say,
)
from edge_affect.errors import EdgeAffectError, MissingDataError, ToolMissingError
from edge_affect.live import DEFAULT_OSC_PREFIX
from edge_affect.paths import DEMO_AUDIO, DEMO_GOLD, check_distinct

if TYPE_CHECKING:
    from edge_affect.arrays import FloatArray
    from edge_affect.logs.reader import LogTable

DEFAULT_OUT = Path("edge-affect-demo")


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(demo)
    app.command()(plot)


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


def _draw(
    log: LogTable,
    gold: dict[str, FloatArray],
    scores: dict[str, float | None],
    out: Path,
    title: str,
) -> bool:
    """Plot if matplotlib is there; else say how to get it. True when a plot was written."""
    from edge_affect.scoring.plot import plot_log  # noqa: PLC0415 - matplotlib loads here

    try:
        plot_log(log, out, gold=gold, scores=scores, title=title)
    except ToolMissingError as error:
        typer.echo(f"plot: skipped ({error})")
        return False
    return True


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
    from edge_affect.logs.reader import read_log  # noqa: PLC0415
    from edge_affect.scoring import evaluate as ev  # noqa: PLC0415

    if len(gold) == 1 and gold[0].is_dir():
        if session is None:
            raise EdgeAffectError(f"{gold[0]} is a folder: name the session with --session")
        reference = ev.load_corpus_gold(gold[0], session)
    else:
        reference = ev.load_gold(gold)
    result = ev.evaluate(read_log(pred), reference, delay_search)
    typer.echo(json.dumps(result, indent=2) if as_json else ev.format_evaluation(result))


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
    from edge_affect.logs.reader import read_log  # noqa: PLC0415 - onnxruntime loads here
    from edge_affect.runtime import inputs, session  # noqa: PLC0415
    from edge_affect.runtime import options as run_options  # noqa: PLC0415
    from edge_affect.scoring import evaluate as ev  # noqa: PLC0415

    _demo_files()
    live = live_options(lsl, osc, osc_prefix, serve)
    options = run_options.RunOptions(model=model, quiet=quiet, live=live)
    loaded = session.load_model(options)
    gold = ev.load_gold(DEMO_GOLD)  # before the run: a broken install fails early
    source = inputs.open_file_source(DEMO_AUDIO, not fast)
    log_path = fresh_log_path(out)  # claimed (created empty): the sink then owns it
    pace = "as fast as possible" if fast else "in real time (--fast skips the wait)"
    typer.echo(f"demo: {source.description} through {loaded.path.name}, {pace}")
    try:
        summary, _ = session.stream_to_log(
            source,
            loaded,
            run_options.LogOptions(log_path, "csv", overwrite=True),
            options,
            announce=say,
        )
    except session.RunError as error:
        for line in session.summary_lines(error.summary, error.paths, "demo"):
            typer.echo(line)
        raise
    for line in session.summary_lines(summary, [], "demo"):  # the files are listed at the end
        typer.echo(line)
    table = read_log(log_path)
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
    from edge_affect.logs.reader import read_log  # noqa: PLC0415
    from edge_affect.scoring import evaluate as ev  # noqa: PLC0415
    from edge_affect.scoring import plot as plotting  # noqa: PLC0415 - matplotlib loads here

    target = out or log.with_suffix(".png")
    inputs = {"the log": log, **{f"--gold {p.name}": p for p in gold or []}}
    check_distinct(inputs, {"--out": target})  # a figure never replaces its own data
    plotting.matplotlib_figure()  # a missing extra fails before any reading
    table = read_log(log)
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
