"""The stronger modalities: video-like appearance features and physiology-like features."""

from __future__ import annotations

import numpy as np

from edge_affect.audio import LABEL_RATE_HZ
from edge_affect_train.synth.config import PhysioParams, VideoParams
from edge_affect_train.synth.signals import (
    FloatArray,
    ar1_matrix,
    delay,
    ornstein_uhlenbeck,
    smooth,
)

RATE = float(LABEL_RATE_HZ)
VIDEO_DRIVERS = (
    "valence",
    "smile",
    "frown",
    "arousal",
    "eye_openness",
    "head_motion",
    "mouth_motion",
    "blink",
)
PHYSIO_NAMES = ("SCL", "SCR_rate", "HR", "HRV_RMSSD", "resp_rate", "skin_temp")


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def video_mixing(rng: np.random.Generator, params: VideoParams) -> FloatArray:
    """The corpus-wide mixing from facial drivers to appearance features."""
    return rng.normal(
        0.0, 1.0 / np.sqrt(len(VIDEO_DRIVERS)), (len(VIDEO_DRIVERS), params.dimension)
    )


def video_drivers(
    rng: np.random.Generator,
    latent: FloatArray,
    speech: FloatArray,
    lag_s: float,
    arousal_scale: float = 1.0,
) -> FloatArray:
    """``(frames, 8)`` facial drivers; valence-dominated, present in silence too.
    ``arousal_scale`` scales how much arousal moves the face."""
    n = latent.shape[0]
    a = delay(latent[:, 0], lag_s, RATE)
    if arousal_scale != 1.0:  # bit-identical drivers for the corpora before the parameter
        a = arousal_scale * a
    v = delay(latent[:, 1], lag_s, RATE)
    eyes = 0.6 * a + ornstein_uhlenbeck(rng, n, 0.2, 1.0, RATE)
    head = np.log1p(np.exp(1.5 * a)) * np.abs(ornstein_uhlenbeck(rng, n, 1.0, 0.5, RATE))
    mouth = smooth(speech, 0.1, RATE) * (
        0.5 + 0.5 * np.abs(ornstein_uhlenbeck(rng, n, 1.0, 0.3, RATE))
    )
    blinks = smooth((rng.random(n) < 0.012 * (1.0 + 0.5 * a)).astype(np.float64), 0.08, RATE)
    smile = _sigmoid(4.0 * (v - 0.1))
    frown = _sigmoid(-4.0 * (v + 0.1))
    return np.column_stack([v, smile, frown, a, eyes, head, mouth, blinks])


def video_features(
    rng: np.random.Generator,
    latent: FloatArray,
    speech: FloatArray,
    mixing: FloatArray,
    params: VideoParams,
) -> FloatArray:
    """Appearance-like features: drivers x mixing + identity + AR(1) noise + drift."""
    n = latent.shape[0]
    clean = video_drivers(rng, latent, speech, params.lag_s, params.arousal_scale) @ mixing
    identity = rng.normal(0.0, params.identity_sd, params.dimension)
    noise = ar1_matrix(rng, n, params.dimension, params.noise_sd, params.noise_ar)
    drift = np.outer(
        ornstein_uhlenbeck(rng, n, params.drift_sd, 20.0, RATE),
        rng.normal(1.0, 0.3, params.dimension),
    )
    return clean + identity + noise + drift


def physio_features(
    rng: np.random.Generator, latent: FloatArray, params: PhysioParams
) -> FloatArray:
    """Physiology-like features following arousal slowly and late; valence is absent."""
    n = latent.shape[0]
    a = latent[:, 0]
    t = np.arange(n) / RATE

    def slow(tau_s: float, lag_s: float) -> FloatArray:
        return delay(smooth(a, tau_s, RATE), lag_s, RATE)

    scl = slow(params.scl_tau_s, params.scl_lag_s) + ornstein_uhlenbeck(rng, n, 0.3, 30.0, RATE)
    scr = (
        smooth(
            (rng.random(n) < 0.004 * (1.0 + 2.0 * np.clip(a, -0.5, 1.0))).astype(np.float64),
            2.0,
            RATE,
        )
        * 10.0
    )
    hr = slow(params.hr_tau_s, params.hr_lag_s) + 0.2 * np.sin(2 * np.pi * 0.25 * t)
    hrv = -0.7 * slow(6.0, 2.0)
    resp = 0.5 * slow(5.0, 2.0)
    temp = ornstein_uhlenbeck(rng, n, 0.5, 60.0, RATE)
    clean = np.column_stack([scl, scr, hr, hrv, resp, temp])
    return clean + ar1_matrix(rng, n, params.dimension, params.noise_sd, 0.8)
