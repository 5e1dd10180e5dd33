"""Audio sources for the one pipeline: a microphone, a file, anything that yields blocks.

Every source gives float32 mono blocks at its own rate; :class:`Hopper` resamples them to
16 kHz with a streaming soxr resampler (the same output as resampling the whole signal at
once), converts to int16 and cuts 640-sample hops. The file source *is* the live path run as
fast as the disk allows (or paced in real time), never a second implementation.

The microphone callback only copies each block into a bounded queue (never inference in the
callback); a full queue drops the block and counts it, a device overflow is counted from the
callback's status flags.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from edge_affect.audio import HOP_S, HOP_SAMPLES, SAMPLE_RATE
from edge_affect.errors import DataFormatError, EdgeAffectError, MissingDataError

FloatArray32 = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]

FILE_BLOCK_S = 1.0  # file read size: large enough to be cheap, small enough for a Pi
MIC_BLOCK_S = 0.02  # device callback period
MIC_QUEUE_S = 10.0  # audio the queue holds before it drops blocks
STALL_TIMEOUT_S = 5.0  # no callback for this long -> the device is lost (idle sinks lag ~2 s)
MAX_ADC_AGE_S = 2.0  # an ADC time older than this at the callback is not trusted


class DeviceError(EdgeAffectError):
    """The input device is missing, cannot be opened, or was lost mid-stream."""

    exit_code = 4


def to_int16(samples: FloatArray32) -> Int16Array:
    """Float PCM in [-1, 1] -> int16 (rounded, clipped): what the model boundary takes."""
    scaled = np.rint(samples * np.float32(32768.0))
    pcm: Int16Array = np.clip(scaled, -32768, 32767).astype(np.int16)
    return pcm


class Hopper:
    """Float32 blocks at ``rate_hz`` in, 640-sample int16 hops at 16 kHz out."""

    def __init__(self, rate_hz: int) -> None:
        self.rate_hz = rate_hz
        self._resampler = (
            soxr.ResampleStream(rate_hz, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            if rate_hz != SAMPLE_RATE
            else None
        )
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, block: FloatArray32, *, last: bool = False) -> Iterator[Int16Array]:
        """Feed a block; yield every complete hop. ``last`` flushes the resampler and pads
        the final partial hop with zeros (so every input sample is covered by a reading)."""
        x = block
        if self._resampler is not None:
            x = self._resampler.resample_chunk(block, last=last)
        pcm = np.concatenate([self._pending, to_int16(x)]) if self._pending.size else to_int16(x)
        n_hops = pcm.shape[0] // HOP_SAMPLES
        for k in range(n_hops):
            yield pcm[k * HOP_SAMPLES : (k + 1) * HOP_SAMPLES]
        self._pending = pcm[n_hops * HOP_SAMPLES :]
        if last and self._pending.size:
            hop = np.zeros(HOP_SAMPLES, dtype=np.int16)
            hop[: self._pending.size] = self._pending
            self._pending = self._pending[:0]
            yield hop


@dataclass
class SourceStats:
    overflows: int = 0  # device-reported input overflows
    drops: int = 0  # blocks dropped because the queue was full
    #: ``time.monotonic()`` when the last sample of the hop just yielded was captured, for a
    #: source that knows it (a microphone); ``None`` otherwise.
    hop_end_time: float | None = None


class CaptureClock:
    """Maps a position in the received audio (native samples) to its capture time.

    Every block brings an anchor: its offset in the received samples and the monotonic time
    of its first sample. A position is timed from the newest anchor at or before it, so
    device clock drift and lost blocks (a full queue) are absorbed at every block.
    """

    def __init__(self, rate_hz: int, keep: int = 256) -> None:
        self.rate_hz = rate_hz
        self.received = 0  # native samples received so far
        self._anchors: deque[tuple[int, float]] = deque(maxlen=keep)

    def add_block(self, n_samples: int, first_sample_time: float) -> None:
        self._anchors.append((self.received, first_sample_time))
        self.received += n_samples

    def time_at(self, position: float) -> float | None:
        """Capture time of native sample ``position`` (fractional allowed)."""
        for offset, started in reversed(self._anchors):
            if offset <= position:
                return started + (position - offset) / self.rate_hz
        if self._anchors:
            offset, started = self._anchors[0]
            return started + (position - offset) / self.rate_hz
        return None


def block_start_time(time_info: Any, frames: int, rate_hz: int) -> float:
    """``time.monotonic()`` of a callback block's first sample: PortAudio's input ADC time,
    carried over to the monotonic clock by its age at the callback (``currentTime`` minus
    ``inputBufferAdcTime``); where the host API gives no usable ADC time, the block is taken
    to have just ended."""
    now = time.monotonic()
    block_s = frames / rate_hz
    adc = getattr(time_info, "inputBufferAdcTime", 0.0) if time_info is not None else 0.0
    current = getattr(time_info, "currentTime", 0.0) if time_info is not None else 0.0
    age = current - adc
    if adc > 0 and current > 0 and block_s <= age <= MAX_ADC_AGE_S:
        return now - age
    return now - block_s


class FileSource:
    """Any file libsndfile reads (WAV, FLAC, OGG...), any rate, mixed down to mono."""

    def __init__(self, path: str | Path, *, realtime: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise MissingDataError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise MissingDataError(f"{self.path}: is a folder, expected an audio file")
        try:
            self._file = soundfile.SoundFile(str(self.path))
        except (RuntimeError, soundfile.LibsndfileError) as error:
            raise DataFormatError(f"{self.path}: not a readable audio file ({error})") from None
        self.rate_hz = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        if self._file.frames == 0:
            self._file.close()
            raise DataFormatError(f"{self.path}: the file holds no audio samples")
        self.realtime = realtime
        self.stats = SourceStats()
        self.description = (
            f"{self.path.name} ({self.rate_hz} Hz, {self.channels} ch, "
            f"{self._file.frames / self.rate_hz:.1f} s)"
        )

    def hops(self) -> Iterator[Int16Array]:
        hopper = Hopper(self.rate_hz)
        block = max(1, int(FILE_BLOCK_S * self.rate_hz))
        started, emitted = time.perf_counter(), 0
        try:
            for data in self._file.blocks(blocksize=block, dtype="float32", always_2d=True):
                mono = data.mean(axis=1, dtype=np.float32) if self.channels > 1 else data[:, 0]
                for hop in hopper.push(np.ascontiguousarray(mono)):
                    emitted += 1
                    self._pace(started, emitted)
                    yield hop
        except (RuntimeError, soundfile.LibsndfileError) as error:
            raise DataFormatError(f"{self.path}: unreadable audio data ({error})") from None
        for hop in hopper.push(np.zeros(0, dtype=np.float32), last=True):
            yield hop

    def _pace(self, started: float, emitted: int) -> None:
        if self.realtime:
            delay = started + (emitted - 1) * HOP_S - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def close(self) -> None:
        self._file.close()


def _sounddevice() -> Any:
    """Import sounddevice lazily: PortAudio reads the ALSA configuration at import."""
    try:
        import sounddevice  # noqa: PLC0415
    except OSError as error:  # the Linux wheel does not bundle PortAudio
        raise DeviceError(
            f"PortAudio is not available ({error}); Debian/Raspberry Pi OS: "
            "apt-get install libportaudio2"
        ) from None
    return sounddevice


def list_input_devices() -> list[dict[str, Any]]:
    """Input devices: index, name, host API, channels, default rate, default mark."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_input = sd.default.device[0]
        apis = sd.query_hostapis()
    except sd.PortAudioError as error:
        raise DeviceError(f"cannot list audio devices ({error})") from None
    return [
        {
            "index": i,
            "name": d["name"],
            "hostapi": apis[d["hostapi"]]["name"],
            "channels": d["max_input_channels"],
            "default_rate_hz": d["default_samplerate"],
            "default": i == default_input,
        }
        for i, d in enumerate(devices)
        if d["max_input_channels"] > 0
    ]


class MicSource:
    """A sounddevice input stream at the device's native rate (or ``rate_hz``)."""

    def __init__(self, device: str | int | None = None, *, rate_hz: int | None = None) -> None:
        self._sd = _sounddevice()
        self.stats = SourceStats()
        try:
            info = self._sd.query_devices(device, "input")
        except (ValueError, self._sd.PortAudioError) as error:
            raise DeviceError(f"input device {device!r}: {error}") from None
        self.device_name = str(info["name"])
        self.rate_hz = int(rate_hz or info["default_samplerate"])
        self.device = device
        self.description = f"{self.device_name} ({self.rate_hz} Hz)"
        capacity = max(4, int(MIC_QUEUE_S / MIC_BLOCK_S))
        self._queue: queue.Queue[tuple[FloatArray32, float]] = queue.Queue(maxsize=capacity)
        self._stream: Any = None
        self._finished = threading.Event()

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self.stats.overflows += 1
        started = block_start_time(time_info, frames, self.rate_hz)
        try:
            self._queue.put_nowait((indata[:, 0].copy(), started))
        except queue.Full:
            self.stats.drops += 1

    def open(self) -> None:
        sd = self._sd
        try:
            self._stream = sd.InputStream(
                device=self.device,
                channels=1,
                samplerate=self.rate_hz,
                dtype="float32",
                blocksize=max(1, int(MIC_BLOCK_S * self.rate_hz)),
                callback=self._callback,
                finished_callback=self._finished.set,
            )
            self._stream.start()
        except (ValueError, sd.PortAudioError) as error:
            raise DeviceError(f"cannot open input device {self.description}: {error}") from None

    def hops(self) -> Iterator[Int16Array]:
        if self._stream is None:
            self.open()
        hopper, clock, emitted = Hopper(self.rate_hz), CaptureClock(self.rate_hz), 0
        native_per_hop = HOP_SAMPLES * self.rate_hz / SAMPLE_RATE
        while True:
            try:
                block, started = self._queue.get(timeout=STALL_TIMEOUT_S)
            except queue.Empty:
                raise DeviceError(
                    f"input device {self.description} delivered no audio for "
                    f"{STALL_TIMEOUT_S:g} s (disconnected?)"
                ) from None
            clock.add_block(block.shape[0], started)
            for hop in hopper.push(block):
                emitted += 1
                self.stats.hop_end_time = clock.time_at(emitted * native_per_hop)
                yield hop
            if self._finished.is_set() and self._queue.empty():
                raise DeviceError(f"input device {self.description} stopped (disconnected?)")

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            # abort, not stop: stop() waits for pending buffers and can hang on a lost device
            try:
                stream.abort()
                stream.close()
            except self._sd.PortAudioError:
                pass
