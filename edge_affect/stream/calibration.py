"""Per-session calibration: a speaker's baseline from the first seconds of speech, and every
later reading relative to it (``listen --calibrate S``, ``run --calibrate S``).

:class:`Calibration` is fed every :class:`~edge_affect.stream.reading.Reading` of a stream, in
order. The hops whose reading came from the model (``output == "model"``: the VAD gate called
them speech, or every hop with the gate off) and whose values are finite are averaged until
they make up the requested seconds; that mean is the :class:`Baseline`, frozen from then on.
From the reading that completes it, every reading (held and decaying ones too) carries
``arousal_rel = arousal - baseline.arousal`` and likewise for valence; before it, and in rows
without values, the relative values are NaN. The model and its readings are not changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from edge_affect.audio import HOP_S, LABEL_RATE_HZ
from edge_affect.stream.reading import Reading

#: The longest calibration: 10 minutes of speech.
MAX_CALIBRATION_S = 600.0


def calibration_hops(seconds: float) -> int:
    """The hops of speech that ``seconds`` asks for (on the 40 ms grid, at least one);
    :class:`ValueError` unless 0 < ``seconds`` <= :data:`MAX_CALIBRATION_S`."""
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_CALIBRATION_S):
        raise ValueError(
            f"calibration must be a positive number of seconds up to {MAX_CALIBRATION_S:g}, "
            f"got {seconds}"
        )
    return max(1, round(seconds * LABEL_RATE_HZ))


@dataclass(frozen=True)
class Baseline:
    """The mean model reading over the calibration's speech hops."""

    arousal: float
    valence: float
    hops: int  # model readings averaged
    index: int  # the hop whose reading completed the baseline (its time: index x 40 ms)

    @property
    def speech_s(self) -> float:
        return self.hops * HOP_S

    @property
    def time_s(self) -> float:
        return self.index * HOP_S


class Calibration:
    """Averages the first ``seconds`` of model readings into a :class:`Baseline`; see the
    module docstring."""

    def __init__(self, seconds: float) -> None:
        self.hops = calibration_hops(seconds)
        self.seconds = seconds
        self.reset()

    def reset(self) -> None:
        self._arousal_sum = 0.0
        self._valence_sum = 0.0
        self.counted = 0
        self.baseline: Baseline | None = None

    @property
    def complete(self) -> bool:
        return self.baseline is not None

    def apply(self, reading: Reading) -> Reading:
        """``reading`` counted towards the baseline if it may, with its relative values set
        once the baseline is complete (the completing reading included)."""
        if self.baseline is None and reading.output == "model" and reading.valid:
            self._arousal_sum += reading.arousal
            self._valence_sum += reading.valence
            self.counted += 1
            if self.counted == self.hops:
                self.baseline = Baseline(
                    self._arousal_sum / self.hops,
                    self._valence_sum / self.hops,
                    self.hops,
                    reading.index,
                )
        if self.baseline is None or not reading.valid:
            return reading
        return replace(
            reading,
            arousal_rel=reading.arousal - self.baseline.arousal,
            valence_rel=reading.valence - self.baseline.valence,
        )

    def to_dict(self) -> dict[str, Any]:
        """What a log's summary records: the request, and the baseline once complete."""
        described: dict[str, Any] = {
            "seconds": self.seconds,
            "hops": self.hops,
            "complete": self.complete,
            "counted_hops": self.counted,
        }
        if self.baseline is not None:
            described.update(
                arousal=self.baseline.arousal,
                valence=self.baseline.valence,
                completed_index=self.baseline.index,
                completed_time=round(self.baseline.time_s, 2),
            )
        return described
