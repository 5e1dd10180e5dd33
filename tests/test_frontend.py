"""The log-mel frontend: config, mel filterbank, torch module vs numpy reference, streaming."""

from __future__ import annotations

import io
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE
from edge_affect_train.audio_io import resample
from edge_affect_train.frontend import (
    FrontendConfig,
    LogMel,
    bin_frequencies_hz,
    hz_to_mel,
    logmel_reference,
    mel_band_edges_hz,
    mel_centres_hz,
    mel_filterbank,
    mel_weights,
)
from tests.helpers import require_program

SPEECH_TEXT = "Please call Stella and ask her to bring these things."
ESPEAK_RATE_HZ = 22_050
ESPEAK_TIMEOUT_S = 60
#: Background noise (about -60 dBFS) so that the speech's bands stay clear of the log floor.
NOISE_STD = 1e-3
#: float32 module vs float64 numpy reference on speech; measured 8e-5 (the quietest bands
#: of loud frames lose relative precision in a float32 DFT).
FLOAT32_LOGMEL_TOL = 1e-3
#: The same module in float64: the two implementations agree to rounding.
FLOAT64_LOGMEL_TOL = 1e-9
#: Streaming vs whole signal, both float32; measured 0 on speech.
STREAM_TOL = 1e-5

CONFIG = FrontendConfig()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """~3 s of espeak-ng speech at 16 kHz plus faint noise, float32, whole model hops."""
    require_program("espeak-ng", "apt-get install espeak-ng")
    result = subprocess.run(
        ["espeak-ng", "--stdout", SPEECH_TEXT],
        capture_output=True,
        timeout=ESPEAK_TIMEOUT_S,
        check=True,
    )
    samples, rate_hz = sf.read(io.BytesIO(result.stdout), dtype="float32")
    assert rate_hz == ESPEAK_RATE_HZ, f"espeak-ng wrote {rate_hz} Hz"
    pcm = resample(samples, rate_hz, SAMPLE_RATE)
    n_samples = pcm.size // HOP_SAMPLES * HOP_SAMPLES
    assert 2.0 < n_samples / SAMPLE_RATE < 6.0
    noise = np.random.default_rng(0).normal(scale=NOISE_STD, size=n_samples)
    return (pcm[:n_samples] + noise).astype(np.float32)


def _forward(module: LogMel, pcm: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        features: np.ndarray = module(torch.from_numpy(pcm)[None])[0].numpy()
    return features


# --- config ------------------------------------------------------------------------------


def test_config_derived_sizes() -> None:
    assert CONFIG.window_samples == 400
    assert CONFIG.hop_samples == 160
    assert CONFIG.frames_per_hop == 4
    assert CONFIG.tail_samples == 240
    assert CONFIG.n_bins == 257


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hop_ms": 15.0}, "hop_ms"),  # 240 samples do not divide the 640-sample hop
        ({"window_ms": 25.01}, "window_ms"),  # not whole samples
        ({"window_ms": 5.0}, "window_ms must be >= hop_ms"),
        ({"n_fft": 256}, "n_fft"),
        ({"f_max_hz": 9000.0}, "f_max_hz"),
        ({"sample_rate": 8000}, "sample_rate"),
        ({"log_floor": 0.0}, "log_floor"),
    ],
)
def test_inconsistent_config_raises(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FrontendConfig(**changes)  # type: ignore[arg-type]


def test_config_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    config = FrontendConfig(n_mels=40, f_min_hz=50.0)
    path = tmp_path / "ckpt.pt"
    torch.save({"frontend": config.to_dict()}, path)
    loaded = torch.load(path, weights_only=True)
    assert FrontendConfig.from_dict(loaded["frontend"]) == config
    with pytest.raises(ValueError, match="unknown keys"):
        FrontendConfig.from_dict({**config.to_dict(), "preemphasis": 0.97})


# --- mel filterbank ----------------------------------------------------------------------


def test_filterbank_shape_and_values() -> None:
    bank = mel_filterbank(CONFIG)
    assert bank.shape == (CONFIG.n_mels, CONFIG.n_bins)
    assert np.all(bank >= 0.0)
    assert np.all(bank.max(axis=1) > 0.0), "a mel filter catches no DFT bin"
    assert np.all(bank.max(axis=1) <= 1.0)


def test_each_triangle_peaks_at_one_at_its_centre() -> None:
    centres = mel_centres_hz(CONFIG)
    np.testing.assert_allclose(mel_weights(centres, CONFIG), np.eye(CONFIG.n_mels), atol=1e-12)


def test_centres_increase_evenly_in_mel() -> None:
    centres = mel_centres_hz(CONFIG)
    assert np.all(np.diff(centres) > 0.0)
    steps_mel = np.diff(hz_to_mel(centres))
    np.testing.assert_allclose(steps_mel, steps_mel[0], rtol=1e-9)


def test_filterbank_covers_f_min_to_f_max() -> None:
    edges = mel_band_edges_hz(CONFIG)
    assert edges[0] == CONFIG.f_min_hz and edges[-1] == CONFIG.f_max_hz
    freqs = bin_frequencies_hz(CONFIG)
    total = mel_filterbank(CONFIG).sum(axis=0)
    inside = (freqs > CONFIG.f_min_hz) & (freqs < CONFIG.f_max_hz)
    np.testing.assert_array_equal(total > 0.0, inside)
    centres = mel_centres_hz(CONFIG)
    between = (freqs >= centres[0]) & (freqs <= centres[-1])
    np.testing.assert_allclose(total[between], 1.0, atol=1e-12)  # adjacent triangles sum to 1


# --- torch module vs numpy reference -----------------------------------------------------


@pytest.mark.espeak
def test_module_matches_numpy_reference_on_speech(speech: np.ndarray) -> None:
    reference = logmel_reference(speech, CONFIG)
    assert reference.shape == (speech.size // CONFIG.hop_samples, CONFIG.n_mels)
    # The noise keeps (almost) every band clear of the floor, so the comparison is not
    # one of clamped values; the narrowest low bands can still dip now and then.
    near_floor = np.mean(reference < math.log(CONFIG.log_floor) + 1.0)
    assert near_floor < 1e-3, "speech fell to the log floor"
    got = _forward(LogMel(CONFIG), speech)
    assert got.dtype == np.float32
    assert np.abs(got - reference).max() < FLOAT32_LOGMEL_TOL


@pytest.mark.espeak
def test_module_in_float64_matches_reference_to_rounding(speech: np.ndarray) -> None:
    module = LogMel(CONFIG, dtype=torch.float64)
    with torch.no_grad():
        got = module(torch.from_numpy(speech.astype(np.float64))[None])[0].numpy()
    assert np.abs(got - logmel_reference(speech, CONFIG)).max() < FLOAT64_LOGMEL_TOL


@pytest.mark.espeak
def test_streaming_equals_whole_signal(speech: np.ndarray) -> None:
    batch = np.stack([speech, 0.5 * speech[::-1]])  # two different streams at once
    module = LogMel(CONFIG)
    tail = module.initial_tail(batch.shape[0])
    chunks = []
    with torch.no_grad():
        for start in range(0, batch.shape[1], HOP_SAMPLES):
            hop = torch.from_numpy(batch[:, start : start + HOP_SAMPLES])
            frames, tail = module.step(hop, tail)
            assert frames.shape == (2, CONFIG.frames_per_hop, CONFIG.n_mels)
            chunks.append(frames)
        streamed = torch.cat(chunks, dim=1)
        whole = module(torch.from_numpy(batch))
    assert streamed.shape == whole.shape
    assert (streamed - whole).abs().max().item() < STREAM_TOL
    np.testing.assert_array_equal(tail.numpy(), batch[:, -CONFIG.tail_samples :])


@pytest.mark.parametrize(
    ("impulse_at", "frames_that_see_it"),
    [
        (639, {3, 4, 5}),  # last sample of model hop 0: frame 3 ends there
        (640, {4, 5}),  # first sample of model hop 1: frame 3 must not see it
        (1000, {6, 7}),  # frame k covers [160k - 240, 160k + 160)
    ],
)
def test_framing_contract(impulse_at: int, frames_that_see_it: set[int]) -> None:
    # A tiny floor so that even the last, near-zero Hann sample lifts a frame above it;
    # the periodic Hann's first sample is exactly 0, which no case above lands on.
    config = FrontendConfig(log_floor=1e-20)
    pcm = np.zeros(2 * HOP_SAMPLES, dtype=np.float32)
    pcm[impulse_at] = 1.0
    floor = math.log(config.log_floor)
    for features in (_forward(LogMel(config), pcm), logmel_reference(pcm, config)):
        seen = {int(k) for k in np.flatnonzero(features.max(axis=1) > floor)}
        assert seen == frames_that_see_it


@pytest.mark.parametrize("tone_hz", [250.0, 1000.0, 3000.0, 6500.0])
def test_pure_tone_lands_in_its_mel_band(tone_hz: float) -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    pcm = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
    peak_band = int(np.argmax(_forward(LogMel(CONFIG), pcm).mean(axis=0)))
    nearest_band = int(np.argmin(np.abs(mel_centres_hz(CONFIG) - tone_hz)))
    assert abs(peak_band - nearest_band) <= 1


def test_silence_gives_the_log_floor() -> None:
    pcm = np.zeros((2, 5 * HOP_SAMPLES), dtype=np.float32)
    with torch.no_grad():
        got = LogMel(CONFIG)(torch.from_numpy(pcm))
    assert got.shape == (2, 5 * CONFIG.frames_per_hop, CONFIG.n_mels)
    np.testing.assert_allclose(got.numpy(), math.log(CONFIG.log_floor), rtol=1e-6)
    np.testing.assert_allclose(logmel_reference(pcm[0], CONFIG), math.log(CONFIG.log_floor))


def test_bad_lengths_and_shapes_are_refused() -> None:
    module = LogMel(CONFIG)
    with pytest.raises(ValueError, match="multiple"):
        module(torch.zeros(1, HOP_SAMPLES + 10))
    with pytest.raises(ValueError, match="multiple"):
        logmel_reference(np.zeros(HOP_SAMPLES + 10), CONFIG)
    with pytest.raises(ValueError, match=r"\[batch, samples\]"):
        module(torch.zeros(HOP_SAMPLES))
    with pytest.raises(ValueError, match="pcm_hop"):
        module.step(torch.zeros(1, HOP_SAMPLES - 1), module.initial_tail(1))
    with pytest.raises(ValueError, match="tail"):
        module.step(torch.zeros(1, HOP_SAMPLES), torch.zeros(1, 10))


def test_module_is_constant_float32_buffers() -> None:
    module = LogMel(CONFIG)
    assert sum(p.numel() for p in module.parameters()) == 0
    buffers = dict(module.named_buffers())
    assert set(buffers) == {"dft_basis", "mel_weights"}
    assert all(b.dtype == torch.float32 for b in buffers.values())
    assert buffers["dft_basis"].shape == (CONFIG.window_samples, 2 * CONFIG.n_bins)
    assert buffers["mel_weights"].shape == (CONFIG.n_bins, CONFIG.n_mels)
    assert list(module.state_dict()) == [], "buffers are rebuilt from the config"
    tail = module.initial_tail(3)
    assert tail.shape == (3, CONFIG.tail_samples) and not tail.any()
