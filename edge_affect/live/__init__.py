"""Live outputs: sinks that hand each :class:`~edge_affect.stream.reading.Reading` to other programs
while the stream runs, next to the log file.

``--lsl [NAME]``
    a Lab Streaming Layer outlet (:mod:`edge_affect.live.lsl`, extra ``[lsl]``);
``--osc HOST:PORT``
    one OSC message per reading over UDP (:mod:`edge_affect.live.osc`, extra ``[osc]``);
``--serve [HOST:]PORT``
    a read-only dashboard page with a Server-Sent Events stream (:mod:`edge_affect.live.serve`,
    standard library only).

Every output gets the same readings as the log, from the pipeline's thread; none of them may
block it (LSL and UDP sends do not wait for a receiver; the dashboard queues per browser and
drops the oldest). Each module is self-contained and imports its third-party package only
when its output is asked for, so the runtime install does not need them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from edge_affect.live.endpoint import Endpoint, parse_endpoint
from edge_affect.stream.reading import Reading

__all__ = [
    "Endpoint",
    "LiveOptions",
    "LiveOutput",
    "RunInfo",
    "close_outputs",
    "open_outputs",
    "parse_endpoint",
]

DEFAULT_OSC_PREFIX = "/edge-affect"
DEFAULT_LSL_NAME = "edge-affect"


@dataclass(frozen=True)
class LiveOptions:
    """Which live outputs a run feeds (all off by default)."""

    lsl: str | None = None  # stream name
    lsl_wait_s: float = 0.0  # wait this long for an LSL consumer before the stream starts
    osc: Endpoint | None = None
    osc_prefix: str = DEFAULT_OSC_PREFIX
    serve: Endpoint | None = None


@dataclass(frozen=True)
class RunInfo:
    """What a live output may tell its receivers about the run (JSON-able values)."""

    model: Mapping[str, Any]  # {"file": ..., "contract": {...}}, as in the log header
    source: str  # the device or file description
    started: str  # UTC ISO-8601
    settings: Mapping[str, Any]
    version: str


class LiveOutput(Protocol):
    """A sink the pipeline writes to; ``close`` gets the run summary (``None`` if unknown)."""

    def write(self, reading: Reading) -> None: ...

    def close(self, summary: Mapping[str, Any] | None = None) -> None: ...

    def status(self) -> str: ...


def open_outputs(
    options: LiveOptions, info: RunInfo, announce: Callable[[str], None]
) -> list[LiveOutput]:
    """Start the outputs ``options`` asks for; close the started ones if a later one fails."""
    outputs: list[LiveOutput] = []
    try:
        if options.serve is not None:
            from edge_affect.live.serve import Dashboard  # noqa: PLC0415

            outputs.append(Dashboard(options.serve, info, announce))
        if options.osc is not None:
            from edge_affect.live.osc import OscSender  # noqa: PLC0415

            outputs.append(OscSender(options.osc, options.osc_prefix, announce))
        if options.lsl is not None:
            from edge_affect.live.lsl import LslOutlet  # noqa: PLC0415

            outputs.append(LslOutlet(options.lsl, info, announce, options.lsl_wait_s))
    except BaseException:
        close_outputs(outputs, None, lambda _: None)
        raise
    return outputs


def close_outputs(
    outputs: list[LiveOutput],
    summary: Mapping[str, Any] | None,
    announce: Callable[[str], None],
) -> None:
    """Close every output (each gets the summary), then report what each did."""
    for output in outputs:
        output.close(summary)
        announce(output.status())
