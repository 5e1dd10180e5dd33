"""Small deterministic signal generators used by the synthetic corpus."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def smooth(x: FloatArray, tau_s: float, rate_hz: float, *, zero_phase: bool = False) -> FloatArray:
    """First-order low-pass (exponential smoothing) with time constant ``tau_s``.

    ``zero_phase`` runs it forwards and backwards (no delay, used for latent transitions);
    otherwise it is causal (a rater's or a body's sluggish response).
    """
    if tau_s <= 0:
        return x.astype(np.float64, copy=True)
    alpha = 1.0 - np.exp(-1.0 / (tau_s * rate_hz))
    y = _ema(np.asarray(x, dtype=np.float64), alpha)
    if zero_phase:
        y = _ema(y[::-1], alpha)[::-1]
    return y


def _ema(x: FloatArray, alpha: float) -> FloatArray:
    y = np.empty_like(x)
    acc = x[0]
    for i, value in enumerate(x):
        acc += alpha * (value - acc)
        y[i] = acc
    return y


def ornstein_uhlenbeck(
    rng: np.random.Generator, n: int, sd: float, tau_s: float, rate_hz: float
) -> FloatArray:
    """A stationary OU (AR(1)) process with standard deviation ``sd``."""
    phi = float(np.exp(-1.0 / (tau_s * rate_hz)))
    innovations = rng.normal(0.0, sd * np.sqrt(1.0 - phi**2), n)
    out = np.empty(n)
    acc = rng.normal(0.0, sd)
    for i in range(n):
        acc = phi * acc + innovations[i]
        out[i] = acc
    return out


def ar1_matrix(rng: np.random.Generator, n: int, dims: int, sd: float, phi: float) -> FloatArray:
    """``dims`` independent AR(1) columns of length ``n`` with marginal sd ``sd``."""
    innovations = rng.normal(0.0, sd * np.sqrt(1.0 - phi**2), (n, dims))
    out = np.empty((n, dims))
    acc = rng.normal(0.0, sd, dims)
    for i in range(n):
        acc = phi * acc + innovations[i]
        out[i] = acc
    return out


def delay(x: FloatArray, delay_s: float, rate_hz: float) -> FloatArray:
    """Delay a sequence by ``delay_s`` (fractional, linear interpolation), holding the start."""
    t = np.arange(x.shape[0]) - delay_s * rate_hz
    return np.asarray(np.interp(t, np.arange(x.shape[0]), x), dtype=np.float64)


def pink_noise(rng: np.random.Generator, n: int) -> FloatArray:
    """Unit-variance 1/f noise by spectral shaping of white noise."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.arange(spectrum.shape[0], dtype=np.float64)
    freqs[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    pink -= pink.mean()
    return np.asarray(pink / (pink.std() + 1e-12), dtype=np.float64)


def db_to_amplitude(db: float | FloatArray) -> FloatArray:
    return np.asarray(10.0 ** (np.asarray(db) / 20.0), dtype=np.float64)
