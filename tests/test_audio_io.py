"""Audio files are read at their header's rate, mixed to mono and resampled to 16 kHz."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect_train.audio_io import audio_info, read_audio, resample
from tests.helpers import require

ALSA_PROMPT = Path("/usr/share/sounds/alsa/Front_Center.wav")  # Debian alsa-utils, 48 kHz


def _tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_real_48k_speech_is_resampled_to_16k() -> None:
    require(ALSA_PROMPT.is_file(), f"{ALSA_PROMPT} is missing (apt-get install alsa-utils)")
    rate, channels, duration = audio_info(ALSA_PROMPT)
    clip = read_audio(ALSA_PROMPT)
    assert rate == 48_000 and clip.source_rate == 48_000
    assert clip.sample_rate == 16_000 and clip.source_channels == channels
    assert clip.duration_s == pytest.approx(duration, abs=1e-3)
    assert clip.samples.dtype == np.float32
    assert np.sqrt(np.mean(clip.samples**2)) > 0.01  # real speech, not silence


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_a_tone_keeps_its_frequency_after_resampling(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "tone.wav"
    soundfile.write(path, _tone(rate, 1.0), rate, subtype="PCM_16")
    clip = read_audio(path)
    spectrum = np.abs(np.fft.rfft(clip.samples))
    peak_hz = np.argmax(spectrum) * clip.sample_rate / clip.samples.size
    assert clip.samples.size == 16_000
    assert peak_hz == pytest.approx(440.0, abs=2.0)


def test_stereo_is_mixed_down_and_flac_is_read(tmp_path: Path) -> None:
    left, right = _tone(16_000, 0.5), np.zeros(8_000, dtype=np.float32)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, np.column_stack([left, right]), 16_000)
    clip = read_audio(path)
    assert clip.source_channels == 2
    np.testing.assert_allclose(clip.samples, left / 2, atol=1e-4)


def test_resample_is_identity_at_the_same_rate() -> None:
    x = _tone(16_000, 0.1)
    assert resample(x, 16_000, 16_000) is x


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b"", DataFormatError, "not a readable audio file"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt garbage", DataFormatError, "not a readable audio file"),
        (b"just text, not audio\n" * 10, DataFormatError, "not a readable audio file"),
    ],
)
def test_corrupt_files_give_clear_errors(
    tmp_path: Path, content: bytes, error: type[Exception], message: str
) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        read_audio(path)


def test_empty_and_missing_audio(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.float32), 16_000, subtype="PCM_16")
    with pytest.raises(DataFormatError, match="no audio samples"):
        read_audio(empty)
    with pytest.raises(MissingDataError, match="no such file"):
        read_audio(tmp_path / "missing.wav")
    with pytest.raises(MissingDataError, match="is a folder"):
        read_audio(tmp_path)
