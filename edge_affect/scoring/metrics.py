"""Concordance correlation coefficient (CCC), the AVEC 2016 metric.

CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2), with population
(ddof = 0) moments as in the AVEC challenge baseline scripts (Lin, 1989). It is computed
over the concatenation of all sessions of a partition, not averaged per session.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edge_affect.audio import LABEL_NAMES


def ccc(prediction: npt.ArrayLike, gold: npt.ArrayLike) -> float:
    """CCC of two 1-d sequences of equal length; 0.0 when both are constant and equal-mean.

    NaN entries (in either sequence) are ignored pairwise.
    """
    x = np.asarray(prediction, dtype=np.float64).ravel()
    y = np.asarray(gold, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"length mismatch: prediction {x.size}, gold {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size == 0:
        raise ValueError("no finite pairs to score")
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    cov = float(np.mean((x - mx) * (y - my)))
    denominator = float(vx + vy + (mx - my) ** 2)
    if denominator == 0.0:
        return 0.0
    return 2.0 * cov / denominator


def ccc_per_dimension(
    prediction: npt.ArrayLike,
    gold: npt.ArrayLike,
    names: Sequence[str] = LABEL_NAMES,
) -> dict[str, float]:
    """CCC for each column of ``(frames, dims)`` arrays, keyed by dimension name."""
    p = np.asarray(prediction, dtype=np.float64)
    g = np.asarray(gold, dtype=np.float64)
    if p.ndim != 2 or p.shape != g.shape or p.shape[1] != len(names):
        raise ValueError(f"expected two (frames, {len(names)}) arrays, got {p.shape} and {g.shape}")
    return {name: ccc(p[:, i], g[:, i]) for i, name in enumerate(names)}
