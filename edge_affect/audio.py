"""Audio and label-grid constants: the streaming contract in one place.

Derived sizes are computed with :func:`exact_div`, so an inconsistent edit fails at
import instead of producing off-by-one hops.
"""

from typing import Final


def exact_div(numerator: int, denominator: int) -> int:
    """Integer division that refuses a remainder."""
    if numerator % denominator != 0:
        raise ValueError(f"{numerator} is not divisible by {denominator}")
    return numerator // denominator


#: Sample rate at the model boundary (Hz).
SAMPLE_RATE: Final = 16_000
#: One reading per hop; the RECOLA / AVEC 2016 label grid (ms).
HOP_MS: Final = 40
#: Label rate on the RECOLA grid (Hz).
LABEL_RATE_HZ: Final = exact_div(1000, HOP_MS)
#: Samples per hop at :data:`SAMPLE_RATE`.
HOP_SAMPLES: Final = exact_div(SAMPLE_RATE * HOP_MS, 1000)
#: Hop as seconds, for time stamps.
HOP_S: Final = HOP_MS / 1000
#: webrtcvad accepts 10/20/30 ms frames; a hop is two 20 ms frames.
VAD_FRAME_MS: Final = 20
VAD_FRAME_SAMPLES: Final = exact_div(SAMPLE_RATE * VAD_FRAME_MS, 1000)
VAD_FRAMES_PER_HOP: Final = exact_div(HOP_MS, VAD_FRAME_MS)
#: Label dimensions, in model output order.
LABEL_NAMES: Final = ("arousal", "valence")
