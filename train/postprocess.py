"""Dev-chosen post-processing of predictions (AVEC practice; off by default).

A centred moving average per dimension, its length chosen on dev from a small grid and then
applied unchanged to test. It looks ahead by half the window, so it is for offline scoring of
a model, not for the live stream; runs record the chosen windows next to the raw scores.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_affect.audio import LABEL_NAMES
from edge_affect.scoring.metrics import ccc

FloatArray = npt.NDArray[np.float64]
#: Window lengths in frames (1 = none; 51 frames = 2.04 s).
SMOOTHING_GRID_FRAMES = (1, 5, 13, 25, 51)


def smooth(values: FloatArray, window: int) -> FloatArray:
    """Centred moving average of a 1-d sequence, edges padded with the end values."""
    if window <= 1:
        return np.asarray(values, dtype=np.float64)
    half = window // 2
    padded = np.pad(np.asarray(values, dtype=np.float64), (half, window - 1 - half), mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def apply_smoothing(predictions: list[np.ndarray], windows: dict[str, int]) -> list[np.ndarray]:
    """Smooth every session's ``(frames, 2)`` predictions with the per-dimension windows."""
    return [
        np.column_stack([smooth(p[:, d], windows[name]) for d, name in enumerate(LABEL_NAMES)])
        for p in predictions
    ]


def choose_smoothing(predictions: list[np.ndarray], golds: list[np.ndarray]) -> dict[str, int]:
    """The window per dimension that maximises CCC over the concatenated (dev) sessions."""
    chosen = {}
    gold = np.concatenate(golds)
    for d, name in enumerate(LABEL_NAMES):
        scores = {
            w: ccc(np.concatenate([smooth(p[:, d], w) for p in predictions]), gold[:, d])
            for w in SMOOTHING_GRID_FRAMES
        }
        chosen[name] = max(scores, key=lambda w: scores[w])
    return chosen
