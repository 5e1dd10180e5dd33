"""Reading audio files at any rate and bringing them to the model's 16 kHz mono.

The sample rate always comes from the file header; resampling uses soxr (the same
resampler the live runtime uses for devices that refuse 16 kHz).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from edge_affect.audio import SAMPLE_RATE
from edge_affect.errors import DataFormatError, MissingDataError

FloatArray32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AudioClip:
    """Mono float32 samples in [-1, 1] at ``sample_rate``, and where they came from."""

    samples: FloatArray32
    sample_rate: int
    source_rate: int
    source_channels: int

    @property
    def duration_s(self) -> float:
        return float(self.samples.shape[0]) / self.sample_rate


def resample(samples: npt.ArrayLike, source_rate: int, target_rate: int) -> FloatArray32:
    """Resample a mono signal with soxr (high quality); a no-op when the rates agree."""
    x = np.asarray(samples, dtype=np.float32)
    if source_rate == target_rate:
        return x
    if source_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {source_rate} -> {target_rate}")
    return np.asarray(soxr.resample(x, source_rate, target_rate, quality="HQ"), dtype=np.float32)


def audio_info(path: str | Path) -> tuple[int, int, float]:
    """``(sample_rate, channels, duration_s)`` from the header, without reading samples."""
    p = Path(path)
    _check_exists(p)
    try:
        info = soundfile.info(str(p))
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise DataFormatError(f"{p}: not a readable audio file ({error})") from None
    return int(info.samplerate), int(info.channels), float(info.duration)


def read_audio(path: str | Path, *, sample_rate: int | None = SAMPLE_RATE) -> AudioClip:
    """Read a WAV/FLAC/... file, mix it down to mono and resample it.

    ``sample_rate=None`` keeps the file's own rate.
    """
    p = Path(path)
    _check_exists(p)
    try:
        data, rate = soundfile.read(str(p), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise DataFormatError(f"{p}: not a readable audio file ({error})") from None
    if data.shape[0] == 0:
        raise DataFormatError(f"{p}: the file holds no audio samples")
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    target = int(rate) if sample_rate is None else sample_rate
    return AudioClip(
        samples=resample(mono, int(rate), target),
        sample_rate=target,
        source_rate=int(rate),
        source_channels=int(data.shape[1]),
    )


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MissingDataError(f"{path}: no such file")
    if path.is_dir():
        raise MissingDataError(f"{path}: is a folder, expected an audio file")
