"""Float blocks at any rate in, 640-sample int16 hops at 16 kHz out.

A streaming soxr resampler gives the same output as resampling the whole signal at once; the
int16 conversion is :func:`edge_affect.pcm.float_to_int16`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import soxr

from edge_affect.arrays import Float32Array, Int16Array
from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE
from edge_affect.errors import DataFormatError
from edge_affect.pcm import float_to_int16


class Hopper:
    """Float32 blocks at ``rate_hz`` in, 640-sample int16 hops at 16 kHz out."""

    def __init__(self, rate_hz: int, origin: str = "the audio") -> None:
        self.rate_hz = rate_hz
        self.origin = origin
        self._samples_in = 0  # input samples seen, at rate_hz: locates a bad sample in time
        self._resampler = (
            soxr.ResampleStream(rate_hz, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            if rate_hz != SAMPLE_RATE
            else None
        )
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, block: Float32Array, *, last: bool = False) -> Iterator[Int16Array]:
        """Feed a block; yield every complete hop. ``last`` flushes the resampler and pads
        the final partial hop with zeros (so every input sample is covered by a reading)."""
        if not np.isfinite(block).all():
            self._non_finite(block)
        self._samples_in += block.shape[0]
        x = block
        if self._resampler is not None:
            x = self._resampler.resample_chunk(block, last=last)
        pcm = (
            np.concatenate([self._pending, float_to_int16(x)])
            if self._pending.size
            else float_to_int16(x)
        )
        n_hops = pcm.shape[0] // HOP_SAMPLES
        for k in range(n_hops):
            yield pcm[k * HOP_SAMPLES : (k + 1) * HOP_SAMPLES]
        self._pending = pcm[n_hops * HOP_SAMPLES :]
        if last and self._pending.size:
            hop = np.zeros(HOP_SAMPLES, dtype=np.int16)
            hop[: self._pending.size] = self._pending
            self._pending = self._pending[:0]
            yield hop

    def _non_finite(self, block: Float32Array) -> None:
        first = int(np.flatnonzero(~np.isfinite(block))[0])
        at_s = (self._samples_in + first) / self.rate_hz
        raise DataFormatError(
            f"{self.origin}: a non-finite sample ({block[first]}) at {at_s:.3f} s "
            f"(sample {self._samples_in + first}); audio must be finite numbers"
        )
