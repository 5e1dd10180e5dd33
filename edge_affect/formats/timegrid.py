"""The RECOLA / AVEC 2016 label time grid: one frame every 40 ms from 0.00 s.

A 300 s session has 7501 frames, ``frameTime`` 0.00 ... 300.00.
"""

from __future__ import annotations

import numpy as np

from edge_affect.arrays import FloatArray
from edge_affect.audio import HOP_S
from edge_affect.errors import DataFormatError

#: How far a time stamp may sit from the grid before a file is refused (s). Files print
#: times with two decimals, so anything beyond rounding noise means a different step.
GRID_TOLERANCE_S = 1e-3


def n_frames_for_duration(duration_s: float, step_s: float = HOP_S) -> int:
    """Frames on the grid covering ``[0, duration_s]``, both ends included."""
    if duration_s < 0:
        raise ValueError(f"duration must be >= 0, got {duration_s}")
    return int(np.floor(duration_s / step_s + 1e-6)) + 1


def frame_times(n_frames: int, step_s: float = HOP_S) -> FloatArray:
    """Time stamps 0, step, 2*step, ... rounded to the microsecond."""
    return np.round(np.arange(n_frames, dtype=np.float64) * step_s, 6)


def check_grid(times: FloatArray, *, source: str, step_s: float = HOP_S) -> int:
    """Check that ``times`` lie on the grid with a constant step; return the first index.

    Raises :class:`DataFormatError` naming ``source`` when the times are not strictly
    increasing, the step differs from ``step_s`` or a time is off the grid.
    """
    if times.ndim != 1 or times.size == 0:
        raise DataFormatError(f"{source}: no frames")
    if not np.all(np.isfinite(times)):
        raise DataFormatError(f"{source}: non-finite time stamps")
    if times.size > 1:
        steps = np.diff(times)
        bad = np.flatnonzero(steps <= 0)
        if bad.size:
            i = int(bad[0])
            raise DataFormatError(
                f"{source}: time is not increasing at row {i + 2} "
                f"({times[i]:.3f} s then {times[i + 1]:.3f} s)"
            )
        wrong = np.flatnonzero(np.abs(steps - step_s) > GRID_TOLERANCE_S)
        if wrong.size:
            i = int(wrong[0])
            raise DataFormatError(
                f"{source}: frame step is {steps[i] * 1000:.1f} ms at row {i + 2}, "
                f"expected {step_s * 1000:.0f} ms"
            )
    first = float(times[0]) / step_s
    if abs(first - round(first)) * step_s > GRID_TOLERANCE_S:
        raise DataFormatError(
            f"{source}: first time {times[0]:.3f} s is not on the {step_s * 1000:.0f} ms grid"
        )
    return round(first)


def shift_frames(values: FloatArray, delay_s: float, step_s: float = HOP_S) -> FloatArray:
    """Compensate an annotation delay: the value at frame t becomes the one at t + delay.

    AVEC practice: drop the first ``delay`` frames and repeat the last value at the end,
    so the length stays the same. A negative delay shifts the other way.
    """
    shift = round(delay_s / step_s)
    if shift == 0 or values.shape[0] == 0:
        return np.array(values, dtype=np.float64, copy=True)
    n = values.shape[0]
    k = min(abs(shift), n)
    if shift > 0:
        pad = np.repeat(values[-1:], k, axis=0)
        return np.concatenate([values[k:], pad], axis=0)
    pad = np.repeat(values[:1], k, axis=0)
    return np.concatenate([pad, values[: n - k]], axis=0)
