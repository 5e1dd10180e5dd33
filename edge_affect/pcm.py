"""Float <-> int16 PCM: the one place the code converts between the two.

libsndfile's conventions, which soundfile follows:

* int16 -> float divides by 32768 (:func:`int16_to_float`): a float sample lies in [-1, 1).
* float -> int16 when a file is written (:func:`float_to_int16_sndfile`, what
  ``soundfile.write`` stores for float data in a ``PCM_16`` file): clip to [-1, 1], scale by
  32767, round half to even.
* float -> int16 at the model boundary (:func:`float_to_int16`, libsndfile's clipping
  conversion): scale by 32768, round half to even, clip to [-32768, 32767]. It is the exact
  inverse of :func:`int16_to_float` on every int16 value, so a 16-bit file reaches the model
  bit for bit; every device reading has been computed with it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_affect.arrays import Float32Array, Int16Array

#: int16 full scale for reading: an int16 sample ``s`` is the float ``s / INT16_SCALE``.
INT16_SCALE = 32768.0
#: int16 full scale when a float signal is written to a 16-bit file.
INT16_WRITE_SCALE = 32767.0


def int16_to_float(pcm: Int16Array) -> Float32Array:
    """int16 PCM -> float32 in [-1, 1)."""
    samples: Float32Array = pcm.astype(np.float32) / np.float32(INT16_SCALE)
    return samples


def float_to_int16(samples: Float32Array) -> Int16Array:
    """Float PCM in [-1, 1] -> int16 (rounded, clipped): what the model boundary takes."""
    scaled = np.rint(samples * np.float32(INT16_SCALE))
    pcm: Int16Array = np.clip(scaled, -32768, 32767).astype(np.int16)
    return pcm


def float_to_int16_sndfile(samples: npt.NDArray[np.floating]) -> Int16Array:
    """Float PCM -> int16 as a 16-bit file stores it: clipped to [-1, 1], times 32767,
    rounded (computed in the input's precision)."""
    pcm: Int16Array = np.round(np.clip(samples, -1.0, 1.0) * INT16_WRITE_SCALE).astype(np.int16)
    return pcm
