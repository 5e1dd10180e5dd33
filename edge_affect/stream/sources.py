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

import atexit
import os
import queue
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from edge_affect.arrays import Float32Array, Int16Array
from edge_affect.audio import HOP_S, HOP_SAMPLES, SAMPLE_RATE
from edge_affect.errors import DataFormatError, EdgeAffectError, MissingDataError
from edge_affect.stream.feed import SourceStats
from edge_affect.stream.hopper import Hopper

FILE_BLOCK_S = 1.0  # file read size: large enough to be cheap, small enough for a Pi
MIC_BLOCK_S = 0.02  # device callback period
MIC_QUEUE_S = 10.0  # audio the queue holds before it drops blocks
STALL_TIMEOUT_S = 5.0  # no callback for this long -> the device is lost (idle sinks lag ~2 s)
MAX_ADC_AGE_S = 2.0  # an ADC time older than this at the callback is not trusted
MIN_RATE_HZ = 8000  # below this an audio rate is refused unless asked (speech needs 8 kHz)
MAX_RATE_HZ = 768_000  # the highest rate accepted for --rate / --raw-rate
CLOSE_TIMEOUT_S = 2.0  # closing a stream longer than this: abandon it (a frozen server)


class DeviceError(EdgeAffectError):
    """The input device is missing, cannot be opened, or was lost mid-stream."""

    exit_code = 4


def low_rate_message(origin: str, rate_hz: int, min_rate_hz: int) -> str:
    return (
        f"{origin}: {rate_hz} Hz is below {min_rate_hz} Hz, too low for speech (a wrong "
        "header?); pass --allow-low-rate to process it anyway"
    )


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

    def __init__(
        self, path: str | Path, *, realtime: bool = False, min_rate_hz: int = MIN_RATE_HZ
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise MissingDataError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise MissingDataError(f"{self.path}: is a folder, expected an audio file")
        try:
            self._file = soundfile.SoundFile(os.fsencode(self.path))  # any bytes in the name
        except (RuntimeError, soundfile.LibsndfileError) as error:
            raise DataFormatError(f"{self.path}: not a readable audio file ({error})") from None
        self.rate_hz = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        if self._file.frames == 0:
            self._file.close()
            raise DataFormatError(f"{self.path}: the file holds no audio samples")
        if self.rate_hz < min_rate_hz:
            self._file.close()
            raise DataFormatError(low_rate_message(str(self.path), self.rate_hz, min_rate_hz))
        self.realtime = realtime
        self.stats = SourceStats()
        self.description = (
            f"{self.path.name} ({self.rate_hz} Hz, {self.channels} ch, "
            f"{self._file.frames / self.rate_hz:.1f} s)"
        )

    def hops(self) -> Iterator[Int16Array]:
        hopper = Hopper(self.rate_hz, str(self.path))
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


PIPE_READ_BYTES = 65536  # at most this much per read; a read returns what the pipe holds
#: WAV data sizes that mean "unknown": 0 and 0xFFFFFFFF (ffmpeg), about 2**31 (arecord)
_UNKNOWN_DATA_SIZE_MIN = 0x7FFF0000
_WAVE_FORMAT_PCM, _WAVE_FORMAT_FLOAT, _WAVE_FORMAT_EXTENSIBLE = 1, 3, 0xFFFE
_PCM_SCALES = {1: 128.0, 2: 32768.0, 3: 8388608.0, 4: 2147483648.0}


@dataclass(frozen=True)
class PcmLayout:
    """How the bytes of a pipe become samples: rate, channels, bytes per sample, float or int."""

    rate_hz: int
    channels: int = 1
    sample_bytes: int = 2
    is_float: bool = False
    data_bytes: int | None = None  # the WAV data chunk's size, when the writer knew it

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.sample_bytes

    def decode(self, raw: bytes) -> Float32Array:
        """Whole frames of little-endian PCM -> float32 mono in [-1, 1]."""
        width = self.sample_bytes
        if self.is_float:
            x = np.frombuffer(raw, dtype=f"<f{width}").astype(np.float32)
        elif width == 1:
            x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
        elif width == 3:
            b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
            v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            x = (np.where(v >= 1 << 23, v - (1 << 24), v) / _PCM_SCALES[3]).astype(np.float32)
        else:
            x = (np.frombuffer(raw, dtype=f"<i{width}") / _PCM_SCALES[width]).astype(np.float32)
        if self.channels > 1:
            mono: Float32Array = x.reshape(-1, self.channels).mean(axis=1, dtype=np.float32)
            return mono
        return x


def _read_exact(fd: int, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _wav_format(fmt: bytes, origin: str) -> tuple[int, int, int, int]:
    """``fmt `` chunk -> (format tag, channels, rate, bits)."""
    if len(fmt) < 16:
        raise DataFormatError(f"{origin}: a WAV fmt chunk of {len(fmt)} bytes")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    return tag, channels, rate, bits


def read_wav_header(fd: int, origin: str) -> PcmLayout:
    """Read a WAV header from a pipe up to the start of its samples (no seeking)."""
    riff = _read_exact(fd, 12)
    if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise DataFormatError(
            f"{origin}: not a WAV stream; for raw PCM give its rate with --raw-rate HZ (s16le mono)"
        )
    layout: tuple[int, int, int, int] | None = None
    while True:
        head = _read_exact(fd, 8)
        if len(head) < 8:
            raise DataFormatError(f"{origin}: the WAV stream ends before its audio data")
        name, size = head[:4], struct.unpack("<I", head[4:])[0]
        if name == b"data":
            break
        body = _read_exact(fd, size + (size & 1))
        if name == b"fmt ":
            layout = _wav_format(body, origin)
    if layout is None:
        raise DataFormatError(f"{origin}: the WAV stream has no fmt chunk before its data")
    tag, channels, rate, bits = layout
    supported = (tag == _WAVE_FORMAT_PCM and bits in (8, 16, 24, 32)) or (
        tag == _WAVE_FORMAT_FLOAT and bits in (32, 64)
    )
    if not supported or channels < 1 or rate < 1:
        raise DataFormatError(
            f"{origin}: WAV format {tag} with {bits} bits, {channels} channels, {rate} Hz is "
            "not supported on a pipe (integer PCM 8-32 bit or float 32/64 bit)"
        )
    data_bytes = None if size == 0 or size >= _UNKNOWN_DATA_SIZE_MIN else size
    return PcmLayout(rate, channels, bits // 8, tag == _WAVE_FORMAT_FLOAT, data_bytes)


class PipeSource:
    """Audio from a pipe (``run -``: standard input, or a FIFO): a WAV stream, or raw
    little-endian s16 mono PCM at ``raw_rate_hz``. Read as it arrives, so the pipe paces the
    run (``arecord ... | edge-affect run -`` streams live); the same :class:`Hopper` and
    pipeline as every other source."""

    def __init__(
        self,
        fd: int,
        name: str,
        *,
        raw_rate_hz: int | None = None,
        min_rate_hz: int = MIN_RATE_HZ,
        owns_fd: bool = False,
    ) -> None:
        self._fd, self._owns_fd, self.name = fd, owns_fd, name
        self.stats = SourceStats()
        if raw_rate_hz is not None:
            self.layout = PcmLayout(raw_rate_hz)
            kind = "raw s16le"
        else:
            self.layout = read_wav_header(fd, name)
            kind = "WAV"
        self.rate_hz = self.layout.rate_hz
        if self.rate_hz < min_rate_hz:
            raise DataFormatError(low_rate_message(name, self.rate_hz, min_rate_hz))
        self.description = f"{name} ({kind}, {self.rate_hz} Hz, {self.layout.channels} ch)"

    def hops(self) -> Iterator[Int16Array]:
        layout = self.layout
        hopper = Hopper(self.rate_hz, self.name)
        left = layout.data_bytes
        pending = b""
        while left is None or left > 0:
            data = os.read(
                self._fd, PIPE_READ_BYTES if left is None else min(left, PIPE_READ_BYTES)
            )
            if not data:
                break
            if left is not None:
                left -= len(data)
            pending += data
            whole = len(pending) // layout.frame_bytes * layout.frame_bytes
            if whole:
                yield from hopper.push(layout.decode(pending[:whole]))
                pending = pending[whole:]
        yield from hopper.push(np.zeros(0, dtype=np.float32), last=True)

    def close(self) -> None:
        if self._owns_fd:
            self._owns_fd = False
            os.close(self._fd)


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
            if device is None:
                raise DeviceError(
                    "no audio input found: no audio server (PulseAudio, PipeWire) is running "
                    "and no input device is present; `edge-affect devices` lists the devices, "
                    "--device picks one"
                ) from None
            raise DeviceError(
                f"input device {device!r}: {error}; `edge-affect devices` lists the devices"
            ) from None
        self.device_name = str(info["name"])
        self.rate_hz = int(rate_hz or info["default_samplerate"])
        self.device = device
        self.description = f"{self.device_name} ({self.rate_hz} Hz)"
        capacity = max(4, int(MIC_QUEUE_S / MIC_BLOCK_S))
        self._queue: queue.Queue[tuple[Float32Array, float]] = queue.Queue(maxsize=capacity)
        self._stream: Any = None
        self._finished = threading.Event()
        self.close_timed_out = False

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
        """Stop the stream without ever blocking the caller for long.

        PortAudio's ``abort()`` waits for the audio server; a frozen or hung server would hold
        it (and the exit) forever. The stream is closed in a daemon thread that gets
        ``CLOSE_TIMEOUT_S``; past that it is abandoned, and so is sounddevice's exit handler
        (which would wait on the same server), so the process can still exit.
        """
        stream, self._stream = self._stream, None
        if stream is None:
            return
        done = threading.Event()

        def shut() -> None:
            # abort, not stop: stop() waits for pending buffers and can hang on a lost device
            try:
                stream.abort()
                stream.close()
            except self._sd.PortAudioError:
                pass
            finally:
                done.set()

        threading.Thread(target=shut, name="edge-affect-close-audio", daemon=True).start()
        try:
            done.wait(CLOSE_TIMEOUT_S)
        finally:  # also when a stop signal cuts the wait short
            if not done.is_set():
                self.close_timed_out = True
                atexit.unregister(self._sd._exit_handler)
