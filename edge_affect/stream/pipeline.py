"""The one streaming pipeline: int16 hops -> VAD gate -> model -> :class:`Reading` -> sinks.

:class:`Pipeline` holds one stream's state (VAD hysteresis, the model stream, the last output)
and turns a hop into a reading; it never prints or writes. :func:`run_stream` drives a source
through it into the sinks and the view, and ends with a :class:`Summary` whatever stops it:
the source ending, ``max_hops``, Ctrl-C (a clean stop), or an error (re-raised after the sinks
have been closed, so every row written so far stays on disk).

Gated silence (``gate=True``): the model is not run; a stream-mode model's state stays as it
was (the silence is cut out of its history), a window-mode model still receives the hop in
its window. The output holds the last model reading, or decays towards 0 (the neutral point
of the AVEC scale) with time constant ``decay_tau_s``; the reading's ``output`` says which.

Calibration (``calibrate_s``): the readings also pass through a
:class:`~edge_affect.stream.calibration.Calibration`, which sets their values relative to the
mean of the first ``calibrate_s`` seconds of model readings (``pipeline.calibration``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from edge_affect.arrays import Int16Array
from edge_affect.audio import HOP_S
from edge_affect.errors import EdgeAffectError
from edge_affect.signals import signal_name
from edge_affect.stream.calibration import Calibration, calibration_hops
from edge_affect.stream.feed import Source, SourceStats
from edge_affect.stream.model import AffectModel
from edge_affect.stream.reading import Output, Reading
from edge_affect.stream.vad import VadGate, VadSettings

Silence = Literal["hold", "decay"]
LATENCY_WINDOW = 10_000  # hops kept for the latency percentiles (400 s)


@dataclass(frozen=True)
class PipelineSettings:
    gate: bool = True
    silence: Silence = "hold"
    decay_tau_s: float = 2.0
    vad: VadSettings = field(default_factory=VadSettings)
    calibrate_s: float | None = None  # seconds of speech for the baseline; None: no calibration

    def __post_init__(self) -> None:
        if self.silence not in ("hold", "decay"):
            raise ValueError(f"silence policy must be hold or decay, got {self.silence!r}")
        if self.decay_tau_s <= 0:
            raise ValueError("decay_tau_s must be positive")
        if self.calibrate_s is not None:
            calibration_hops(self.calibrate_s)  # ValueError when out of range


class Pipeline:
    """One stream: feed int16 hops with :meth:`process`, get one :class:`Reading` each."""

    def __init__(self, model: AffectModel, settings: PipelineSettings | None = None) -> None:
        self.model = model
        self.settings = settings or PipelineSettings()
        self.gate = VadGate(self.settings.vad)
        self.stream = model.stream()
        self._decay = math.exp(-HOP_S / self.settings.decay_tau_s)
        seconds = self.settings.calibrate_s
        self.calibration = Calibration(seconds) if seconds is not None else None
        self.reset()

    def reset(self) -> None:
        self.gate.reset()
        self.stream.reset()
        if self.calibration is not None:
            self.calibration.reset()
        self.index = 0
        self.arousal = 0.0
        self.valence = 0.0

    def process(
        self,
        hop: Int16Array,
        overflows: int = 0,
        drops: int = 0,
        capture_time: float | None = None,
    ) -> Reading:
        started = time.perf_counter()
        speech = self.gate.process(hop)
        value = self._run_model(hop) if speech or not self.settings.gate else None
        return self._reading(
            hop, speech, value, time.perf_counter() - started, overflows, drops, capture_time
        )

    def process_chunk(
        self,
        hops: Sequence[Int16Array],
        overflows: int = 0,
        drops: int = 0,
        capture_times: Sequence[float | None] | None = None,
    ) -> list[Reading]:
        """The readings of ``process`` on each hop in turn, with the model's hops of the chunk
        advanced in one call of a chunked model. Each reading's latency is the chunk's
        processing time divided by its hops (a single-hop model is called hop by hop)."""
        times = list(capture_times) if capture_times is not None else [None] * len(hops)
        if not self.stream.chunked:
            return [
                self.process(hop, overflows, drops, t) for hop, t in zip(hops, times, strict=True)
            ]
        started = time.perf_counter()
        speech = [self.gate.process(hop) for hop in hops]
        ran = [s or not self.settings.gate for s in speech]
        values = iter(self._run_chunk([h for h, r in zip(hops, ran, strict=True) if r]))
        chosen = [next(values) if r else None for r in ran]
        latency_s = (time.perf_counter() - started) / max(1, len(hops))
        return [
            self._reading(hop, s, v, latency_s, overflows, drops, t)
            for hop, s, v, t in zip(hops, speech, chosen, times, strict=True)
        ]

    def _run_model(self, hop: Int16Array) -> tuple[float, float]:
        arousal, valence = self.stream.step(hop).tolist()
        if not (math.isfinite(arousal) and math.isfinite(valence)):
            self.stream.reset()  # a non-finite state would poison every later hop
            return math.nan, math.nan
        return arousal, valence

    def _run_chunk(self, hops: list[Int16Array]) -> list[tuple[float, float]]:
        if not hops:
            return []
        before = self.stream.state()
        values = self.stream.step_chunk(np.stack(hops))
        if np.isfinite(values).all():
            return [(float(a), float(v)) for a, v in values.tolist()]
        # a non-finite reading: redo the chunk hop by hop, resetting where a single hop would
        self.stream.restore(before)
        return [self._run_model(hop) for hop in hops]

    def _reading(
        self,
        hop: Int16Array,
        speech: bool,
        value: tuple[float, float] | None,
        latency_s: float,
        overflows: int,
        drops: int,
        capture_time: float | None,
    ) -> Reading:
        output: Output = "model"
        if value is not None:
            arousal, valence = value
            if math.isfinite(arousal):  # an invalid row keeps the last valid value held
                self.arousal, self.valence = arousal, valence
        else:
            self.stream.push(hop)
            output = "decay" if self.settings.silence == "decay" else "hold"
            if output == "decay":
                self.arousal *= self._decay
                self.valence *= self._decay
            arousal, valence = self.arousal, self.valence
        reading = Reading(
            index=self.index,
            arousal=arousal,
            valence=valence,
            speech=speech,
            output=output,
            latency_s=latency_s,
            wall_time=time.time(),
            overflows=overflows,
            drops=drops,
            capture_time=capture_time,
        )
        self.index += 1
        return reading if self.calibration is None else self.calibration.apply(reading)


class Consumer(Protocol):
    def write(self, reading: Reading) -> None: ...


@dataclass
class Summary:
    hops: int = 0
    speech_hops: int = 0
    model_hops: int = 0
    overflows: int = 0
    drops: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    stop_signal: str | None = None  # SIGINT, SIGTERM or SIGHUP when a signal stopped the run
    invalid_hops: int = 0  # rows without a value: the model's output was not finite
    error: str | None = None
    failure: EdgeAffectError | None = field(default=None, repr=False)
    latencies_s: list[float] = field(default_factory=list, repr=False)
    latency_max_s: float = 0.0

    @property
    def audio_s(self) -> float:
        return self.hops * HOP_S

    @property
    def speech_share(self) -> float:
        return self.speech_hops / self.hops if self.hops else 0.0

    @property
    def rtf(self) -> float:
        """Wall time over audio time (< 1: faster than real time)."""
        return self.wall_s / self.audio_s if self.hops else 0.0

    def latency_percentile_us(self, q: float) -> float:
        if not self.latencies_s:
            return 0.0
        return float(np.percentile(np.asarray(self.latencies_s), q) * 1e6)

    def add(self, reading: Reading) -> None:
        self.hops += 1
        self.speech_hops += reading.speech
        self.model_hops += reading.output == "model"
        if not reading.valid:
            self.invalid_hops += 1
        if len(self.latencies_s) >= LATENCY_WINDOW:
            del self.latencies_s[: LATENCY_WINDOW // 2]  # keep the recent half
        self.latencies_s.append(reading.latency_s)
        self.latency_max_s = max(self.latency_max_s, reading.latency_s)
        self.overflows, self.drops = reading.overflows, reading.drops

    def to_dict(self) -> dict[str, float | int | bool | str | None]:
        return {
            "hops": self.hops,
            "audio_s": round(self.audio_s, 2),
            "speech_share": round(self.speech_share, 4),
            "model_hops": self.model_hops,
            "overflows": self.overflows,
            "drops": self.drops,
            "wall_s": round(self.wall_s, 3),
            "rtf": round(self.rtf, 6),
            "latency_p50_us": round(self.latency_percentile_us(50), 1),
            "latency_p99_us": round(self.latency_percentile_us(99), 1),
            "latency_max_us": round(self.latency_max_s * 1e6, 1),
            "interrupted": self.interrupted,
            "stop_signal": self.stop_signal,
            "invalid_hops": self.invalid_hops,
            "error": self.error,
        }


class StreamClock:
    """Capture times of the hops: the source's own where it knows them (a microphone's ADC
    time); otherwise the pipeline's: the first hop ends when it is processed, hop ``k``
    ``k`` x 40 ms after the stream's start (a file run faster than real time runs ahead)."""

    def __init__(self) -> None:
        self._start: float | None = None

    def capture_time(self, stats: SourceStats, index: int) -> float:
        if stats.hop_end_time is not None:
            return stats.hop_end_time
        if self._start is None:
            self._start = time.monotonic() - index * HOP_S
        return self._start + index * HOP_S


def run_stream(
    source: Source,
    pipeline: Pipeline,
    consumers: list[Consumer],
    *,
    max_hops: int | None = None,
    on_hop: Callable[[Int16Array], None] | None = None,
    chunk_hops: int = 1,
) -> Summary:
    """Drive ``source`` through ``pipeline`` into ``consumers`` until it ends or stops.

    ``chunk_hops`` > 1 gathers that many hops and processes them together
    (:meth:`Pipeline.process_chunk`): the same readings, delivered a chunk at a time. Ctrl-C
    ends the run cleanly (``summary.interrupted``); a user-facing error (a lost device, a
    failing sink, unreadable audio) ends it with ``summary.failure`` set, so the caller still
    has the counts; anything else is a bug and propagates. Hops read before a stop or a source
    error are still processed and delivered (unless the stop came while a chunk was being
    delivered). The source is always closed; closing the consumers is the caller's job.
    """
    if chunk_hops < 1:
        raise ValueError(f"chunk_hops must be at least 1, got {chunk_hops}")
    summary = Summary()
    started = time.perf_counter()
    stats, clock = source.stats, StreamClock()
    chunk = _Chunk(pipeline, stats, consumers, summary)
    try:
        for hop in source.hops():
            if on_hop is not None:
                on_hop(hop)
            chunk.add(hop, clock.capture_time(stats, pipeline.index + len(chunk.hops)))
            last = max_hops is not None and summary.hops + len(chunk.hops) >= max_hops
            if len(chunk.hops) >= chunk_hops or last:
                chunk.deliver()
            if last:
                break
        chunk.deliver()
    except KeyboardInterrupt as interrupt:
        summary.interrupted = True
        summary.stop_signal = signal_name(interrupt)
        chunk.deliver_after_stop()
    except EdgeAffectError as error:
        summary.failure = error
        summary.error = str(error)
        chunk.deliver_after_stop()
    finally:
        summary.wall_s = time.perf_counter() - started
        try:
            source.close()
        except KeyboardInterrupt as interrupt:  # a stop signal while the source closes
            summary.interrupted = True
            summary.stop_signal = signal_name(interrupt)
    return summary


class _Chunk:
    """The hops read and not yet processed, and their delivery to the consumers."""

    def __init__(
        self, pipeline: Pipeline, stats: SourceStats, consumers: list[Consumer], summary: Summary
    ) -> None:
        self.pipeline = pipeline
        self.stats = stats
        self.consumers = consumers
        self.summary = summary
        self.hops: list[Int16Array] = []
        self.times: list[float] = []
        self.delivering = False

    def add(self, hop: Int16Array, capture_time: float) -> None:
        self.hops.append(hop)
        self.times.append(capture_time)

    def deliver(self) -> None:
        hops, times = self.hops, self.times
        if not hops:
            return
        self.hops, self.times = [], []
        self.delivering = True
        overflows, drops = self.stats.overflows, self.stats.drops
        if len(hops) == 1:
            readings = [self.pipeline.process(hops[0], overflows, drops, times[0])]
        else:
            readings = self.pipeline.process_chunk(hops, overflows, drops, times)
        for reading in readings:
            for consumer in self.consumers:
                consumer.write(reading)
            self.summary.add(reading)
        self.delivering = False

    def deliver_after_stop(self) -> None:
        """The hops read before a stop or a source error; not when delivery itself stopped
        (part of that chunk is written), and a second stop or error keeps the first."""
        if self.delivering:
            return
        with contextlib.suppress(KeyboardInterrupt, EdgeAffectError):
            self.deliver()
