"""Score a predictions log against AVEC 2016 gold standards (``edge-affect evaluate``).

CCC (:func:`edge_affect.scoring.metrics.ccc`, population moments) per dimension, over the frames
both the log and the gold standard have on the 40 ms grid, and again over the speech hops
only (the log's ``speech`` column).

Delay convention: raters react late, so the gold standard lags the audio. With a delay
``d`` the prediction made at time ``t`` is paired with the gold value at ``t + d`` (the
predictions are moved ``d`` later); only pairs that exist on both sides are compared (no
padding). ``delay_search_s = S`` tries ``d = 0, 0.04, ..., S`` and reports, per dimension,
the best delay and its CCC next to the CCC at ``d = 0``. The speech-only rows use the delay
found on all frames of their dimension, not a search of their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_affect.arrays import BoolArray, FloatArray
from edge_affect.audio import HOP_S, LABEL_NAMES
from edge_affect.errors import DataFormatError, EdgeAffectError, MissingDataError
from edge_affect.formats.arff import read_gold_standard
from edge_affect.formats.timegrid import GRID_TOLERANCE_S
from edge_affect.logs.reader import LogTable
from edge_affect.scoring.metrics import ccc

GOLD_FOLDER = "ratings_gold_standard"
GOLD_RELATION_PREFIX = "GOLDSTANDARD_"
#: Fewest frame pairs a CCC is reported for.
MIN_FRAMES = 2


class EvaluationError(EdgeAffectError):
    """The inputs cannot be scored together (no overlap, bad delay range, no dimensions)."""


# ---------------------------------------------------------------------------- gold standards


def _dimension_of(path: Path, relation: str) -> str:
    """The label dimension of a gold file: its folder name or ``GOLDSTANDARD_<dim>``."""
    by_folder = path.parent.name.lower() if path.parent.name.lower() in LABEL_NAMES else None
    by_relation = None
    if relation.upper().startswith(GOLD_RELATION_PREFIX):
        name = relation[len(GOLD_RELATION_PREFIX) :].lower()
        by_relation = name if name in LABEL_NAMES else None
    if by_folder and by_relation and by_folder != by_relation:
        raise DataFormatError(
            f"{path}: the folder says {by_folder} but the relation says {by_relation}"
        )
    dimension = by_folder or by_relation
    if dimension is None:
        raise DataFormatError(
            f"{path}: cannot tell the dimension (folder {path.parent.name!r}, relation "
            f"{relation!r}); expected a folder named {' or '.join(LABEL_NAMES)} or the "
            f"relation {GOLD_RELATION_PREFIX}<dimension>"
        )
    return dimension


def load_gold(paths: Sequence[str | Path]) -> dict[str, FloatArray]:
    """Gold-standard ARFF files (one per dimension, one session) -> values on the grid from 0.

    A file starting after 0.00 s is padded with NaN (not scored). Files of different
    lengths are returned as they are; :func:`evaluate` compares over the common length.
    """
    if not paths:
        raise MissingDataError("no gold-standard files given")
    gold: dict[str, FloatArray] = {}
    sources: dict[str, Path] = {}
    instance = None
    for raw in paths:
        path = Path(raw)
        table = read_gold_standard(path)
        dimension = _dimension_of(path, table.relation)
        if dimension in gold:
            raise DataFormatError(
                f"{path}: a second {dimension} gold standard ({sources[dimension]})"
            )
        if instance is not None and table.instance != instance:
            raise DataFormatError(
                f"{path}: session {table.instance!r}, but the other gold file is {instance!r}"
            )
        instance = table.instance
        first = round(float(table.times[0]) / HOP_S)
        values = np.full(first + table.n_frames, np.nan)
        values[first:] = table.values[:, 0]
        gold[dimension] = values
        sources[dimension] = path
    return gold


def load_corpus_gold(root: str | Path, session: str) -> dict[str, FloatArray]:
    """The gold standards of ``session`` (``dev_1``) in an AVEC-layout corpus folder.

    Reads ``root/ratings_gold_standard/<dimension>/<session>.arff`` for the dimensions that
    exist; at least one must.
    """
    folder = Path(root) / GOLD_FOLDER
    if not Path(root).is_dir():
        raise MissingDataError(f"{root}: no such corpus folder")
    if not folder.is_dir():
        raise MissingDataError(f"{root}: no {GOLD_FOLDER} folder (not an AVEC-layout corpus?)")
    name = session.removesuffix(".arff")
    candidates = [folder / dimension / f"{name}.arff" for dimension in LABEL_NAMES]
    present = [path for path in candidates if path.is_file()]
    if not present:
        looked = ", ".join(str(p.relative_to(folder)) for p in candidates)
        raise MissingDataError(
            f"{folder}: no gold standard for session {name!r} (looked for {looked})"
        )
    return load_gold(present)


# ---------------------------------------------------------------------------- predictions


def _prediction_frames(pred: LogTable) -> npt.NDArray[np.int64]:
    """Grid indices of the prediction rows; :class:`DataFormatError` if off the 40 ms grid."""
    if pred.n_rows == 0:
        raise EvaluationError(f"{pred.source}: the log has no rows to evaluate")
    exact = pred.times / HOP_S
    frames = np.rint(exact).astype(np.int64)
    off = np.flatnonzero(
        ~np.isfinite(pred.times) | (np.abs(pred.times - frames * HOP_S) > GRID_TOLERANCE_S)
    )
    if off.size:
        i = int(off[0])
        raise DataFormatError(
            f"{pred.source}: row {i + 1} has time {pred.times[i]:.4f} s, "
            f"not on the {HOP_S * 1000:.0f} ms grid"
        )
    if frames[0] < 0:
        raise DataFormatError(f"{pred.source}: negative time {pred.times[0]:.2f} s")
    back = np.flatnonzero(np.diff(frames) <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataFormatError(
            f"{pred.source}: time does not increase at row {i + 1} ({pred.times[i]:.2f} s)"
        )
    return frames


def _dense_predictions(pred: LogTable) -> tuple[dict[str, FloatArray], BoolArray, BoolArray]:
    """Predictions on the full grid from 0 (NaN / not speech where the log has no row),
    the speech flags and which frames have a row."""
    frames = _prediction_frames(pred)
    size = int(frames[-1]) + 1
    values: dict[str, FloatArray] = {}
    for dimension, column in (("arousal", pred.arousal), ("valence", pred.valence)):
        dense = np.full(size, np.nan)
        dense[frames] = column
        values[dimension] = dense
    speech = np.zeros(size, dtype=np.bool_)
    speech[frames] = pred.speech
    present = np.zeros(size, dtype=np.bool_)
    present[frames] = True
    return values, speech, present


def _check_gold(gold: Mapping[str, npt.ArrayLike]) -> tuple[dict[str, FloatArray], int]:
    if not gold:
        raise EvaluationError("no gold-standard dimension to evaluate")
    arrays: dict[str, FloatArray] = {}
    for dimension, raw in gold.items():
        if dimension not in LABEL_NAMES:
            raise EvaluationError(
                f"gold dimension {dimension!r} is not one the log has ({', '.join(LABEL_NAMES)})"
            )
        values = np.asarray(raw, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise EvaluationError(f"gold {dimension}: expected a non-empty 1-d sequence")
        arrays[dimension] = values
    return arrays, min(v.shape[0] for v in arrays.values())


# ---------------------------------------------------------------------------- scoring


def _pairs(
    pred: FloatArray, gold: FloatArray, speech: BoolArray, shift: int
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Prediction at frame ``i`` with gold at frame ``i + shift``, where both exist."""
    n = max(0, min(pred.shape[0], gold.shape[0] - shift))
    p, g = pred[:n], gold[shift : shift + n]
    keep = np.isfinite(p) & np.isfinite(g)
    return p[keep], g[keep], speech[:n][keep]


def _score(p: FloatArray, g: FloatArray) -> float | None:
    return ccc(p, g) if p.shape[0] >= MIN_FRAMES else None


def _best_shift(pred: FloatArray, gold: FloatArray, speech: BoolArray, max_shift: int) -> int:
    scores = np.full(max_shift + 1, -np.inf)
    for shift in range(max_shift + 1):
        p, g, _ = _pairs(pred, gold, speech, shift)
        value = _score(p, g)
        if value is not None:
            scores[shift] = value
    return int(np.argmax(scores))


def _dimension_result(
    pred: FloatArray, gold: FloatArray, speech: BoolArray, max_shift: int
) -> dict[str, Any]:
    p, g, s = _pairs(pred, gold, speech, 0)
    best = _best_shift(pred, gold, speech, max_shift) if max_shift else 0
    bp, bg, bs = _pairs(pred, gold, speech, best)
    return {
        "n_frames": int(p.shape[0]),
        "ccc": _score(p, g),
        "best_delay_s": round(best * HOP_S, 6),
        "best_n_frames": int(bp.shape[0]),
        "best_ccc": _score(bp, bg),
        "speech_n_frames": int(s.sum()),
        "speech_ccc": _score(p[s], g[s]),
        "speech_best_ccc": _score(bp[bs], bg[bs]),
    }


def _max_shift(delay_search_s: float, overlap_frames: int) -> int:
    if not (math.isfinite(delay_search_s) and delay_search_s >= 0):
        raise EvaluationError(f"the delay search must be >= 0 s, got {delay_search_s}")
    max_shift = round(delay_search_s / HOP_S)
    if max_shift and overlap_frames - max_shift < MIN_FRAMES:
        raise EvaluationError(
            f"a delay search up to {delay_search_s:g} s leaves too few frames: predictions "
            f"and gold overlap for {overlap_frames * HOP_S:.2f} s"
        )
    return max_shift


def evaluate(
    pred: LogTable, gold: Mapping[str, npt.ArrayLike], delay_search_s: float = 0.0
) -> dict[str, Any]:
    """CCC of a predictions log against gold values on the 40 ms grid starting at 0.00 s.

    Returns a JSON-able dict: ``prediction`` (log path), ``invalid_rows`` (log rows without
    a value, NaN, left out), ``gold_frames`` (common length of the gold dimensions),
    ``n_frames`` and ``overlap_s`` (frames with both a prediction row and gold at delay 0, and
    their first/last time), ``speech_frames``, ``delay_search_s``,
    ``delay_step_s`` and ``dimensions``: for each gold dimension ``n_frames``, ``ccc`` (at
    delay 0), ``best_delay_s``, ``best_n_frames``, ``best_ccc``, ``speech_n_frames``,
    ``speech_ccc`` and ``speech_best_ccc`` (``None`` with fewer than 2 speech frames).
    Without a search ``best_*`` equal the delay-0 values. See the module docstring for the
    delay direction.
    """
    arrays, gold_frames = _check_gold(gold)
    values, speech, present = _dense_predictions(pred)
    overlap = np.flatnonzero(present[:gold_frames])
    if overlap.size < MIN_FRAMES:
        raise EvaluationError(
            f"{pred.source}: predictions ({pred.times[0]:.2f}-{pred.times[-1]:.2f} s) and "
            f"gold (0.00-{(gold_frames - 1) * HOP_S:.2f} s) share {overlap.size} frame(s)"
        )
    max_shift = _max_shift(delay_search_s, int(overlap.size))
    dimensions = {
        dimension: _dimension_result(
            values[dimension], arrays[dimension][:gold_frames], speech, max_shift
        )
        for dimension in LABEL_NAMES
        if dimension in arrays
    }
    invalid = int((~(np.isfinite(pred.arousal) & np.isfinite(pred.valence))).sum())
    if all(row["n_frames"] < MIN_FRAMES for row in dimensions.values()):
        raise EvaluationError(
            f"{pred.source}: nothing left to score: {invalid} of {pred.n_rows} log rows have "
            "no value (NaN: an invalid model output), and the rest leave "
            f"{max(row['n_frames'] for row in dimensions.values())} frame(s) with gold"
        )
    return {
        "prediction": pred.source,
        "invalid_rows": invalid,
        "gold_frames": gold_frames,
        "n_frames": int(overlap.size),
        "overlap_s": [round(overlap[0] * HOP_S, 2), round(overlap[-1] * HOP_S, 2)],
        "speech_frames": int(speech[overlap].sum()),
        "delay_search_s": round(max_shift * HOP_S, 6),
        "delay_step_s": HOP_S,
        "dimensions": dimensions,
    }


# ---------------------------------------------------------------------------- report


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_evaluation(result: Mapping[str, Any]) -> str:
    """A plain-text table of an :func:`evaluate` result."""
    search = result["delay_search_s"] > 0
    n = result["n_frames"]
    lines = [
        f"predictions: {result['prediction']}",
        f"compared: {n} frames ({result['overlap_s'][0]:.2f}-{result['overlap_s'][1]:.2f} s) "
        f"of {result['gold_frames']} gold frames; speech in "
        f"{result['speech_frames']} ({100.0 * result['speech_frames'] / n:.1f} %)",
    ]
    if result.get("invalid_rows"):
        lines.append(
            f"dropped: {result['invalid_rows']} log rows without a value (NaN: invalid model "
            "output); the frames count only the rest"
        )
    if search:
        lines.append(
            f"delay search: 0.00-{result['delay_search_s']:.2f} s in "
            f"{result['delay_step_s'] * 1000:.0f} ms steps (gold at t + d vs prediction at t)"
        )
    head = f"{'dimension':<10} {'hops':<7} {'frames':>7} {'CCC@0':>8}"
    lines += ["", head + (f" {'best delay':>11} {'CCC@best':>9}" if search else "")]
    for dimension, row in result["dimensions"].items():
        for hops, frames, at_zero, at_best in (
            ("all", row["n_frames"], row["ccc"], row["best_ccc"]),
            ("speech", row["speech_n_frames"], row["speech_ccc"], row["speech_best_ccc"]),
        ):
            line = f"{dimension:<10} {hops:<7} {frames:>7} {_cell(at_zero):>8}"
            if search:
                line += f" {row['best_delay_s']:>9.2f} s {_cell(at_best):>9}"
            lines.append(line)
    return "\n".join(lines)
