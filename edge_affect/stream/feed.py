"""What the pipeline needs from an audio source, whatever it reads from.

A :class:`Source` yields 640-sample int16 hops and keeps :class:`SourceStats` up to date; the
microphone, file and pipe sources (:mod:`edge_affect.stream.sources`) and test fakes all
follow it, so the pipeline never depends on how audio is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from edge_affect.arrays import Int16Array


@dataclass
class SourceStats:
    overflows: int = 0  # device-reported input overflows
    drops: int = 0  # blocks dropped because the queue was full
    #: ``time.monotonic()`` when the last sample of the hop just yielded was captured, for a
    #: source that knows it (a microphone); ``None`` otherwise.
    hop_end_time: float | None = None


class Source(Protocol):
    description: str
    stats: SourceStats

    def hops(self) -> Iterable[Int16Array]: ...

    def close(self) -> None: ...
