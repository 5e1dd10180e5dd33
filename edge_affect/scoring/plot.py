"""A prediction log as a picture: arousal and valence over time, speech shaded, gold overlaid.

matplotlib is an optional extra (``pip install 'edge-affect[plot]'``) and is imported only
when a plot is drawn, through the object-oriented API with the Agg canvas: no display, no
global pyplot state. The figure has two stacked panels (arousal, valence) sharing the time
axis; grey bands mark the hops the log flags as speech; the gold standard, when given, is a
dashed black line and each panel's title carries its CCC (delay 0, as ``evaluate`` scores).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.arrays import BoolArray, FloatArray
from edge_affect.audio import HOP_S, LABEL_NAMES
from edge_affect.errors import EdgeAffectError, ToolMissingError
from edge_affect.logs.reader import LogTable

INSTALL_HINT = "pip install 'edge-affect[plot]'"
SUFFIXES = (".png", ".svg", ".pdf")
FIGURE_SIZE_IN = (11.0, 6.0)
DPI = 110
SPEECH_COLOUR = "#dde6f0"
PREDICTION_COLOURS = {"arousal": "#c0392b", "valence": "#2471a3"}


def matplotlib_figure() -> Any:
    """``matplotlib.figure.Figure``, or :class:`ToolMissingError` naming the extra."""
    try:
        from matplotlib.figure import Figure  # noqa: PLC0415 - optional extra
    except ImportError:
        raise ToolMissingError(
            f"plots need matplotlib, which is not installed: {INSTALL_HINT}"
        ) from None
    return Figure


def speech_runs(times: FloatArray, speech: BoolArray) -> list[tuple[float, float]]:
    """Contiguous speech hops as ``(start_s, end_s)``; reading ``k`` covers
    ``[t_k, t_k + 40 ms)``. Rows must be on consecutive hops for a run to continue."""
    runs: list[tuple[float, float]] = []
    start: float | None = None
    previous = -np.inf
    for t, flag in zip(times.tolist(), speech.tolist(), strict=True):
        contiguous = abs(t - previous - HOP_S) < HOP_S / 2
        if start is not None and (not flag or not contiguous):
            runs.append((start, previous + HOP_S))
            start = None
        if flag and start is None:
            start = t
        previous = t
    if start is not None:
        runs.append((start, previous + HOP_S))
    return runs


def _y_limits(*series: FloatArray) -> tuple[float, float]:
    """[-1, 1] (the AVEC scale), widened when the data leave it."""
    values = np.concatenate([s[np.isfinite(s)] for s in series])
    low = min(-1.0, float(values.min())) if values.size else -1.0
    high = max(1.0, float(values.max())) if values.size else 1.0
    margin = 0.05 * (high - low)
    return low - margin, high + margin


def _panel(
    ax: Any,
    dimension: str,
    log: LogTable,
    runs: list[tuple[float, float]],
    gold: FloatArray | None,
    score: float | None,
) -> None:
    for start, end in runs:
        ax.axvspan(start, end, color=SPEECH_COLOUR, linewidth=0, zorder=0)
    prediction: FloatArray = getattr(log, dimension)
    ax.axhline(0.0, color="0.6", linewidth=0.6, zorder=1)
    ax.plot(
        log.times,
        prediction,
        color=PREDICTION_COLOURS[dimension],
        linewidth=1.3,
        label="prediction",
        zorder=3,
    )
    shown = [prediction]
    if gold is not None:
        gold_times = np.arange(gold.shape[0]) * HOP_S
        ax.plot(
            gold_times,
            gold,
            color="black",
            linestyle="--",
            linewidth=1.1,
            label="gold standard",
            zorder=2,
        )
        shown.append(gold)
    ax.set_ylim(*_y_limits(*shown))
    ax.set_ylabel(dimension)
    ax.grid(axis="y", color="0.9", linewidth=0.5)
    label = dimension + (f" — CCC {score:.3f}" if score is not None else "")
    ax.set_title(label, loc="left", fontsize=10)


def plot_log(
    log: LogTable,
    out: Path,
    *,
    gold: Mapping[str, FloatArray] | None = None,
    scores: Mapping[str, float | None] | None = None,
    title: str | None = None,
) -> Path:
    """Draw ``log`` (and ``gold``: dimension -> values on the grid from 0.00 s) to ``out``.

    ``scores`` (dimension -> CCC) go into the panel titles. Returns ``out``.
    """
    if out.suffix.lower() not in SUFFIXES:
        raise EdgeAffectError(f"--out {out}: the plot file must end in {', '.join(SUFFIXES)}")
    if log.n_rows == 0:
        raise EdgeAffectError(f"{log.source}: the log has no rows to plot")
    figure = matplotlib_figure()(figsize=FIGURE_SIZE_IN, dpi=DPI, layout="constrained")
    axes = figure.subplots(len(LABEL_NAMES), 1, sharex=True)
    runs = speech_runs(log.times, log.speech)
    for ax, dimension in zip(axes, LABEL_NAMES, strict=True):
        dim_gold = None if gold is None else gold.get(dimension)
        score = None if scores is None else scores.get(dimension)
        _panel(ax, dimension, log, runs, dim_gold, score)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(float(log.times[0]), float(log.times[-1]) + HOP_S)
    _legend(figure, axes[0], bool(runs))
    figure.suptitle(title or Path(log.source).name, fontsize=11)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out)
    except OSError as error:
        raise EdgeAffectError(f"{out}: cannot write the plot ({error.strerror or error})") from None
    return out


def _legend(figure: Any, ax: Any, speech: bool) -> None:
    from matplotlib.patches import Patch  # noqa: PLC0415 - optional extra

    handles, labels = ax.get_legend_handles_labels()
    if speech:
        handles.append(Patch(color=SPEECH_COLOUR, label="speech (VAD)"))
        labels.append("speech (VAD)")
    figure.legend(
        handles, labels, loc="outside lower center", ncols=len(handles), fontsize=9, frameon=False
    )
