"""Latent arousal/valence trajectories on the 25 Hz label grid."""

from __future__ import annotations

import numpy as np

from edge_affect.audio import LABEL_RATE_HZ
from edge_affect_train.synth.config import LatentParams
from edge_affect_train.synth.signals import FloatArray, ornstein_uhlenbeck, smooth


def subject_offsets(rng: np.random.Generator, params: LatentParams) -> FloatArray:
    """A subject's mean (arousal, valence) before squashing."""
    return rng.normal(0.0, params.subject_offset_sd)


def latent_trajectory(
    rng: np.random.Generator, n_frames: int, offsets: FloatArray, params: LatentParams
) -> FloatArray:
    """``(n_frames, 2)`` latent arousal and valence in (-1, 1).

    Piecewise-constant episode targets (correlated arousal/valence), smoothed with a
    zero-phase first-order filter, plus Ornstein-Uhlenbeck fluctuation, through tanh.
    """
    sd_a, sd_v = params.episode_sd
    rho = params.episode_correlation
    cov = np.array([[sd_a**2, rho * sd_a * sd_v], [rho * sd_a * sd_v, sd_v**2]])
    targets = np.empty((n_frames, 2))
    start = 0
    while start < n_frames:
        length = int(rng.uniform(*params.episode_s) * LABEL_RATE_HZ)
        targets[start : start + length] = rng.multivariate_normal(offsets, cov)
        start += length
    out = np.empty((n_frames, 2))
    for d in range(2):
        base = smooth(targets[:, d], params.transition_tau_s, LABEL_RATE_HZ, zero_phase=True)
        wobble = ornstein_uhlenbeck(
            rng, n_frames, params.fluctuation_sd, params.fluctuation_tau_s, LABEL_RATE_HZ
        )
        out[:, d] = np.tanh(base + wobble)
    return out
