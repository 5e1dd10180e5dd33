"""Simulated annotators: delayed, sluggish, biased, noisy traces of the latent."""

from __future__ import annotations

import numpy as np

from edge_affect.audio import LABEL_RATE_HZ
from edge_affect_train.synth.config import RaterParams
from edge_affect_train.synth.signals import FloatArray, delay, ornstein_uhlenbeck, smooth

RATE = float(LABEL_RATE_HZ)


def rate_dimension(rng: np.random.Generator, latent: FloatArray, params: RaterParams) -> FloatArray:
    """``(frames, raters)`` ratings of one latent dimension, clipped to [-1, 1]."""
    n = latent.shape[0]
    traces = []
    for _ in params.names:
        lagged = smooth(
            delay(latent, rng.uniform(*params.delay_s), RATE), rng.uniform(*params.lag_tau_s), RATE
        )
        gain = rng.uniform(*params.gain)
        bias = rng.normal(0.0, params.bias_sd)
        noise = ornstein_uhlenbeck(rng, n, rng.uniform(*params.noise_sd), params.noise_tau_s, RATE)
        traces.append(np.clip(gain * lagged + bias + noise, -1.0, 1.0))
    return np.column_stack(traces)
