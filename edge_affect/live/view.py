"""The live terminal view: one line on stderr, redrawn at most ten times a second.

Arousal and valence as bars around 0 on [-1, 1], the speech indicator, the hop's latency and
the overflow/drop counters. Drawing costs a few microseconds per redraw and nothing between
redraws; it is off with ``--quiet`` or when stderr is not a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from edge_affect.stream.reading import Reading

BAR_HALF_WIDTH = 10
REDRAW_S = 0.1


def bar(value: float, half: int = BAR_HALF_WIDTH) -> str:
    """``[    |###      ]``: a bar from the centre, clipped to [-1, 1]."""
    filled = round(min(1.0, abs(value)) * half)
    left = " " * half if value >= 0 else " " * (half - filled) + "#" * filled
    right = "#" * filled + " " * (half - filled) if value >= 0 else " " * half
    return f"[{left}|{right}]"


def render(reading: Reading) -> str:
    minutes, seconds = divmod(reading.time_s, 60.0)
    speech = "speech" if reading.speech else "  --  "
    return (
        f"{int(minutes):3d}:{seconds:05.2f}  arousal {bar(reading.arousal)} {reading.arousal:+.2f}"
        f"  valence {bar(reading.valence)} {reading.valence:+.2f}  {speech} {reading.output:5s}"
        f"  {reading.latency_s * 1e3:6.2f} ms  overflows {reading.overflows} drops {reading.drops}"
    )


class LiveView:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._last = 0.0
        self._drawn = False

    def write(self, reading: Reading) -> None:
        now = time.monotonic()
        if now - self._last < REDRAW_S:
            return
        self._last = now
        self.stream.write("\r" + render(reading))
        self.stream.flush()
        self._drawn = True

    def break_line(self) -> None:
        """End the drawn line, so that a message printed now gets a line of its own; the
        next redraw starts a new line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
