"""CMU-MOSI sentiment metrics, as the MOSI literature (MulT, MMSA) reports them.

* ``acc2_has0`` / ``f1_has0``: negative (< 0) vs non-negative (>= 0), every segment;
* ``acc2_non0`` / ``f1_non0``: negative (< 0) vs positive (> 0), segments labelled exactly 0
  left out (a prediction of exactly 0 counts as negative there, as in those scripts);
* ``acc7``: both clipped to [-3, 3] and rounded to the nearest integer (numpy rounding,
  halves to even), then compared;
* ``mae`` and ``corr`` (Pearson r) on the raw predictions. ``corr`` is 0 when either side
  is constant (no linear association can be measured), so it is always a number.

F1 is the support-weighted mean of the two classes' F1 (scikit-learn's ``weighted``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

METRICS = ("acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc7", "mae", "corr")
#: Metrics where lower is better (the rest: higher).
LOWER_IS_BETTER = frozenset({"mae"})
SENTIMENT_MAX = 3.0


def weighted_f1(prediction: npt.ArrayLike, gold: npt.ArrayLike) -> float:
    """Support-weighted F1 over the classes present in ``gold`` (booleans or labels)."""
    p, g = np.asarray(prediction).ravel(), np.asarray(gold).ravel()
    if p.size == 0:
        return float("nan")
    total = 0.0
    for label in np.unique(g):
        tp = float(np.sum((p == label) & (g == label)))
        fp = float(np.sum((p == label) & (g != label)))
        fn = float(np.sum((p != label) & (g == label)))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        total += f1 * float(np.sum(g == label))
    return total / g.size


def pearson(prediction: npt.ArrayLike, gold: npt.ArrayLike) -> float:
    p = np.asarray(prediction, dtype=np.float64).ravel()
    g = np.asarray(gold, dtype=np.float64).ravel()
    if p.size < 2 or np.std(p) == 0 or np.std(g) == 0:
        return 0.0
    return float(np.corrcoef(p, g)[0, 1])


def sentiment_metrics(prediction: npt.ArrayLike, gold: npt.ArrayLike) -> dict[str, float]:
    """Every metric of :data:`METRICS` for sentiment scores on the [-3, 3] scale."""
    p = np.asarray(prediction, dtype=np.float64).ravel()
    g = np.asarray(gold, dtype=np.float64).ravel()
    if p.shape != g.shape or p.size == 0:
        raise ValueError(f"need two non-empty arrays of equal length, got {p.size} and {g.size}")
    has0_p, has0_g = p >= 0, g >= 0
    non0 = g != 0
    non0_p, non0_g = p[non0] > 0, g[non0] > 0
    clip = np.clip
    seven_p = np.round(clip(p, -SENTIMENT_MAX, SENTIMENT_MAX))
    seven_g = np.round(clip(g, -SENTIMENT_MAX, SENTIMENT_MAX))
    return {
        "acc2_has0": float(np.mean(has0_p == has0_g)),
        "f1_has0": weighted_f1(has0_p, has0_g),
        "acc2_non0": float(np.mean(non0_p == non0_g)) if non0.any() else float("nan"),
        "f1_non0": weighted_f1(non0_p, non0_g),
        "acc7": float(np.mean(seven_p == seven_g)),
        "mae": float(np.mean(np.abs(p - g))),
        "corr": pearson(p, g),
    }
