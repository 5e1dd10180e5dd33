"""The array types the runtime passes around, named once."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: 16 kHz PCM at the model boundary: hops of ``HOP_SAMPLES`` int16 samples.
Int16Array: TypeAlias = npt.NDArray[np.int16]
#: Float PCM in [-1, 1] (sources, resampler) and model outputs.
Float32Array: TypeAlias = npt.NDArray[np.float32]
#: Label tracks, time grids and scores.
FloatArray: TypeAlias = npt.NDArray[np.float64]
#: Per-frame flags (speech, valid rows).
BoolArray: TypeAlias = npt.NDArray[np.bool_]
