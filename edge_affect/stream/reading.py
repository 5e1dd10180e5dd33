"""The event the streaming pipeline emits once per 40 ms hop; sinks and views consume it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from edge_affect.audio import HOP_S

#: How a reading's arousal/valence were produced: the model ran on this hop, or (gated
#: silence) the last model output was held, or it is decaying towards 0 (neutral).
Output = Literal["model", "hold", "decay"]


@dataclass(frozen=True, slots=True)
class Reading:
    index: int  # hop number from the start of the stream; time = index * 40 ms
    arousal: float
    valence: float
    speech: bool  # the VAD gate's decision for this hop
    output: Output
    latency_s: float  # wall time spent on this hop (VAD + model), not counting sinks
    wall_time: float  # time.time() when the reading was made
    overflows: int = 0  # input overflows reported by the device so far
    drops: int = 0  # audio blocks dropped because the bounded queue was full, so far
    #: ``time.monotonic()`` when the hop's last sample was captured: from the input's ADC time
    #: for a microphone; for a file, the stream's start plus the hop's end (the pipeline's time).
    capture_time: float | None = None
    #: The reading minus the session's baseline (``--calibrate``,
    #: :mod:`edge_affect.stream.calibration`); NaN before the baseline is complete, in a row
    #: without values, and in a stream without calibration.
    arousal_rel: float = math.nan
    valence_rel: float = math.nan

    @property
    def valid(self) -> bool:
        """False when the model's output was not finite (NaN/Inf): the row has no value."""
        return math.isfinite(self.arousal) and math.isfinite(self.valence)

    @property
    def time_s(self) -> float:
        """Start of the hop on the RECOLA / AVEC 2016 grid: 0.00, 0.04, ..."""
        return self.index * HOP_S
