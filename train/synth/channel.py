"""The recording chain of a session: a microphone/room colouring, then a recording gain.

A user's microphone, its distance, the sound card's gain and the room change the signal more
than a change of voice does. The ``*-chain`` presets draw one chain per session, from a
random stream of its own, so the chain is independent of the affect and of every other draw:
a ``*-chain`` corpus holds the same latent, speech, noise, features and labels as the preset
without the suffix, seen through a different recording chain per session.

The chain acts on the mix (speech + background noise, as a microphone picks both up):
1. a colouring, one of :data:`COLOURINGS`: a magnitude response made of a few points in dB
   (jittered per session) turned into a zero-phase FIR, or a short generated room impulse
   response (direct sound + an exponentially decaying noise tail);
2. a gain drawn uniformly in dB; samples beyond full scale clip when written, as they would
   in a real recording (the manifest counts them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_affect_train.synth.config import ChannelParams
from edge_affect_train.synth.signals import FloatArray, db_to_amplitude

#: Magnitude responses (frequency in Hz, gain in dB), linear in log-frequency between the
#: points and flat beyond them. ``room`` is a generated impulse response instead.
SHAPES: dict[str, tuple[tuple[float, float], ...]] = {
    "flat": (),
    # a laptop's built-in microphone: little bass, a presence peak, dull top
    "laptop": ((60.0, -24.0), (150.0, -8.0), (300.0, 0.0), (3000.0, 6.0), (7000.0, -6.0)),
    # a close headset microphone: proximity bass boost, mild presence
    "headset": ((80.0, 6.0), (200.0, 5.0), (600.0, 0.0), (4000.0, 3.0), (7500.0, 0.0)),
    # a telephone-band channel (300-3400 Hz)
    "phone": ((150.0, -30.0), (300.0, 0.0), (3400.0, 0.0), (4200.0, -30.0)),
}
COLOURINGS = (*SHAPES, "room")
#: FIR length of the colourings (odd: zero phase after removing the delay).
FIR_TAPS = 1023


@dataclass(frozen=True)
class Chain:
    """One session's recording chain (written to the manifest)."""

    colouring: str
    gain_db: float
    points: tuple[tuple[float, float], ...] = ()  # the jittered magnitude points
    rt60_s: float = 0.0  # room only
    drr_db: float = 0.0  # room only: direct-to-reverberant energy ratio

    def to_dict(self) -> dict[str, object]:
        entry: dict[str, object] = {"colouring": self.colouring, "gain_db": self.gain_db}
        if self.points:
            entry["points_hz_db"] = [list(p) for p in self.points]
        if self.colouring == "room":
            entry["rt60_s"] = self.rt60_s
            entry["drr_db"] = self.drr_db
        return entry


def draw_chain(rng: np.random.Generator, params: ChannelParams) -> Chain:
    """A chain for one session: colouring, jittered shape or room, gain."""
    colouring = str(rng.choice(np.array(params.colourings)))
    gain_db = round(float(rng.uniform(*params.gain_db)), 2)
    if colouring == "room":
        rt60 = round(float(rng.uniform(*params.rt60_s)), 3)
        drr = round(float(rng.uniform(*params.drr_db)), 2)
        return Chain(colouring, gain_db, rt60_s=rt60, drr_db=drr)
    points = tuple(
        (
            round(
                hz * float(2.0 ** rng.uniform(-params.shape_jitter_oct, params.shape_jitter_oct))
            ),
            round(db + float(rng.uniform(-params.shape_jitter_db, params.shape_jitter_db)), 2),
        )
        for hz, db in SHAPES[colouring]
    )
    return Chain(colouring, gain_db, points=points)


def magnitude_fir(points: tuple[tuple[float, float], ...], sample_rate: int) -> FloatArray:
    """A zero-phase (symmetric) FIR whose magnitude follows ``points`` (Hz, dB)."""
    n_fft = 4 * FIR_TAPS
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    hz = np.array([p[0] for p in points])
    db = np.array([p[1] for p in points])
    log_f = np.log(np.maximum(freqs, 1.0))
    gains = db_to_amplitude(np.interp(log_f, np.log(hz), db))
    impulse = np.fft.irfft(gains, n_fft)
    half = FIR_TAPS // 2
    taps = np.concatenate([impulse[-half:], impulse[: half + 1]]) * np.hanning(FIR_TAPS)
    return np.asarray(taps, dtype=np.float64)


def room_response(rng: np.random.Generator, chain: Chain, sample_rate: int) -> FloatArray:
    """Direct sound at t = 0 plus a decaying noise tail (60 dB down at ``rt60_s``)."""
    n = round(chain.rt60_s * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.normal(size=n) * 10.0 ** (-3.0 * t / chain.rt60_s)
    tail[0] = 0.0
    tail *= np.sqrt(10.0 ** (-chain.drr_db / 10.0) / np.sum(tail**2))
    response = tail
    response[0] = 1.0
    return np.asarray(response, dtype=np.float64)


def _convolve(x: FloatArray, h: FloatArray, delay: int) -> FloatArray:
    """``x * h`` by one FFT, advanced by ``delay`` samples, trimmed to ``len(x)``."""
    n = x.shape[0] + h.shape[0] - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)
    return np.asarray(y[delay : delay + x.shape[0]], dtype=np.float64)


def apply_chain(
    rng: np.random.Generator, mixed: FloatArray, chain: Chain, sample_rate: int
) -> FloatArray:
    """The mix as the session's microphone and sound card record it (before clipping)."""
    if chain.colouring == "room":
        coloured = _convolve(mixed, room_response(rng, chain, sample_rate), 0)
    elif chain.points:
        coloured = _convolve(mixed, magnitude_fir(chain.points, sample_rate), FIR_TAPS // 2)
    else:
        coloured = mixed
    return np.asarray(coloured * db_to_amplitude(chain.gain_db), dtype=np.float64)
