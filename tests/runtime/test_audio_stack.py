"""The real capture path, end to end, without a sound card.

espeak-ng speech is played with ``paplay`` into the PulseAudio null sink that
``scripts/with-pulseaudio.sh`` makes the default sink, and recorded from the default input
device (that sink's monitor) through sounddevice -> PortAudio -> ALSA ``pulse`` plugin ->
PulseAudio. The recording must match the file it came from.

Run with ``bash scripts/with-pulseaudio.sh python -m pytest tests/runtime/test_audio_stack.py``.
Without a server these tests skip; with ``CI`` set they fail instead, because CI must provide
the stack.
"""

from __future__ import annotations

import importlib
import io
import queue
import shutil
import subprocess
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr

from edge_affect.pcm import float_to_int16_sndfile, int16_to_float
from tests.helpers import unavailable

NO_SERVER_REASON = "no PulseAudio server: run the tests under scripts/with-pulseaudio.sh"
NO_ESPEAK_REASON = "espeak-ng not installed"

PACTL_TIMEOUT_S = 5.0
ESPEAK_TIMEOUT_S = 20.0
PLAY_TIMEOUT_MARGIN_S = 10.0
# Kept recording after paplay has drained, so the capture latency cannot cut off the end.
TAIL_MARGIN_S = 0.5

SPEECH_TEXT = "Edge affect listens to a calm voice in the room."  # about 2.7 s
ESPEAK_VOICE = "en"
ESPEAK_RATE_HZ = 22050
# The null sink's rate and channel count in scripts/with-pulseaudio.sh: PulseAudio neither
# resamples nor remixes, so the capture can match the file exactly.
CAPTURE_RATE_HZ = 48000
CAPTURE_CHANNELS = 1

MIN_CORRELATION = 0.99
MIN_OVERLAP_FRACTION = 0.9
MIN_RECORDING_RMS = 0.01
MIN_DEVICE_RATE_HZ = 8000.0
MAX_DEVICE_RATE_HZ = 192000.0


# --- availability -------------------------------------------------------------------------


def _pactl_info() -> dict[str, str] | None:
    """``pactl info`` as a dict, or None when no server answers."""
    try:
        result = subprocess.run(
            ["pactl", "info"], capture_output=True, text=True, timeout=PACTL_TIMEOUT_S, check=False
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    fields = (line.partition(": ") for line in result.stdout.splitlines())
    return {key: value for key, sep, value in fields if sep}


@pytest.fixture(scope="module")
def pulse_info() -> dict[str, str]:
    """The reachable PulseAudio server's ``pactl info`` fields."""
    info = _pactl_info()
    if info is None:
        unavailable(NO_SERVER_REASON)
    return info


@pytest.fixture(scope="module")
def sounddevice(pulse_info: dict[str, str]) -> ModuleType:
    """sounddevice, imported only once a server runs.

    PortAudio loads the ALSA configuration when it initialises (at import), and the hook that
    routes ALSA ``default`` to ``pulse`` only fires if a server is running at that moment.
    """
    try:
        return importlib.import_module("sounddevice")
    except OSError as error:  # PortAudio library missing
        unavailable(f"sounddevice cannot load PortAudio: {error}")


@pytest.fixture(scope="module")
def espeak_ng() -> str:
    """Path of the espeak-ng binary."""
    path = shutil.which("espeak-ng")
    if path is None:
        unavailable(NO_ESPEAK_REASON)
    return path


@pytest.fixture(scope="module")
def loopback(pulse_info: dict[str, str]) -> str:
    """The default sink, after checking that the default source is its monitor."""
    sink = pulse_info.get("Default Sink", "")
    source = pulse_info.get("Default Source", "")
    if not sink or source != f"{sink}.monitor":
        unavailable(
            f"the default source {source!r} is not the monitor of the default sink "
            f"{sink!r} (a desktop server?): run under scripts/with-pulseaudio.sh "
            f"with EDGE_AFFECT_PRIVATE_PULSE=1"
        )
    return sink


# --- signal helpers -----------------------------------------------------------------------


def _synthesize_speech(espeak: str, text: str) -> np.ndarray:
    """espeak-ng speech as mono float32 at ESPEAK_RATE_HZ."""
    result = subprocess.run(
        [espeak, "-v", ESPEAK_VOICE, "--stdout", text],
        capture_output=True,
        timeout=ESPEAK_TIMEOUT_S,
        check=True,
    )
    samples, rate_hz = sf.read(io.BytesIO(result.stdout), dtype="float32")
    assert rate_hz == ESPEAK_RATE_HZ, f"espeak-ng wrote {rate_hz} Hz, expected {ESPEAK_RATE_HZ}"
    assert samples.size > 0, "espeak-ng wrote no audio"
    return samples if samples.ndim == 1 else samples.mean(axis=1)


def _write_clip(espeak: str, path: Path) -> np.ndarray:
    """Write the speech clip as 16-bit mono CAPTURE_RATE_HZ WAV; return what paplay will play.

    The returned float32 samples are the file's int16 values over 32768, which is how
    PulseAudio converts s16 to float32.
    """
    speech = _synthesize_speech(espeak, SPEECH_TEXT)
    resampled = soxr.resample(speech, ESPEAK_RATE_HZ, CAPTURE_RATE_HZ)
    pcm = float_to_int16_sndfile(resampled)
    sf.write(path, pcm, CAPTURE_RATE_HZ, subtype="PCM_16")
    return int16_to_float(pcm)


def _best_lag(recording: np.ndarray, reference: np.ndarray) -> int:
    """Lag (in samples) at which ``recording[i + lag]`` best matches ``reference[i]``."""
    size = 1 << int(len(recording) + len(reference) - 1).bit_length()
    spectrum = np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size))
    xcorr = np.fft.irfft(spectrum, size)
    # Index k holds lag k for k >= 0 and lag k - size for the wrapped negative lags.
    valid = np.r_[0 : len(recording), size - len(reference) + 1 : size]
    best = int(valid[np.argmax(xcorr[valid])])
    return best if best < len(recording) else best - size


def _overlap(
    recording: np.ndarray, reference: np.ndarray, lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """The aligned common part of recording and reference for ``lag``."""
    rec_start, ref_start = max(0, lag), max(0, -lag)
    length = max(0, min(len(recording) - rec_start, len(reference) - ref_start))
    return (recording[rec_start : rec_start + length], reference[ref_start : ref_start + length])


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


# --- capture ------------------------------------------------------------------------------


def _record_while_playing(
    sd: ModuleType, wav_path: Path, clip_s: float
) -> tuple[np.ndarray, list[str]]:
    """Record the default input while paplay plays ``wav_path``; return samples and statuses.

    paplay returns once the sink has drained the clip; recording goes on for TAIL_MARGIN_S.
    """
    blocks: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
    statuses: list[str] = []

    def on_block(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        blocks.put(indata[:, 0].copy())
        if status:
            statuses.append(str(status))

    with sd.InputStream(
        samplerate=CAPTURE_RATE_HZ, channels=CAPTURE_CHANNELS, dtype="float32", callback=on_block
    ):
        subprocess.run(
            ["paplay", str(wav_path)],
            capture_output=True,
            check=True,
            timeout=clip_s + PLAY_TIMEOUT_MARGIN_S,
        )
        time.sleep(TAIL_MARGIN_S)
    return _drain(blocks), statuses


def _drain(blocks: queue.SimpleQueue[np.ndarray]) -> np.ndarray:
    chunks: list[np.ndarray] = []
    while not blocks.empty():
        chunks.append(blocks.get_nowait())
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


# --- tests --------------------------------------------------------------------------------


@pytest.mark.audio_stack
def test_default_input_device_is_usable(sounddevice: ModuleType) -> None:
    names = {device["name"] for device in sounddevice.query_devices()}
    assert names & {"pulse", "default"}, f"ALSA exposes no pulse/default device: {names}"

    device = sounddevice.query_devices(kind="input")
    assert device["max_input_channels"] >= 1
    assert MIN_DEVICE_RATE_HZ <= device["default_samplerate"] <= MAX_DEVICE_RATE_HZ


@pytest.mark.audio_stack
@pytest.mark.espeak
def test_capture_through_pulseaudio_matches_played_speech(
    sounddevice: ModuleType, espeak_ng: str, loopback: str, tmp_path: Path
) -> None:
    wav_path = tmp_path / "speech.wav"
    reference = _write_clip(espeak_ng, wav_path)
    clip_s = len(reference) / CAPTURE_RATE_HZ

    recording, statuses = _record_while_playing(sounddevice, wav_path, clip_s)

    assert recording.size > 0, f"no capture callbacks while paplay played (statuses {statuses})"
    rms = _rms(recording)
    assert rms > MIN_RECORDING_RMS, f"recording is silent (RMS {rms:.2e}, statuses {statuses})"
    lag = _best_lag(recording, reference)
    rec_part, ref_part = _overlap(recording, reference, lag)
    overlap_fraction = len(ref_part) / len(reference)
    summary = (
        f"lag {lag} samples ({lag / CAPTURE_RATE_HZ * 1e3:+.1f} ms), overlap "
        f"{overlap_fraction:.1%} of {clip_s:.2f} s, recorded "
        f"{len(recording) / CAPTURE_RATE_HZ:.2f} s, statuses {statuses}"
    )
    assert overlap_fraction > MIN_OVERLAP_FRACTION, summary
    correlation = float(np.corrcoef(rec_part, ref_part)[0, 1])
    max_error = float(np.max(np.abs(rec_part - ref_part)))
    print(
        f"capture via {loopback}.monitor: Pearson r {correlation:.6f}, "
        f"max |error| {max_error:.2e}, RMS {rms:.3f}, {summary}"
    )
    assert correlation > MIN_CORRELATION, summary
