"""The student's audio frontend: 16 kHz mono PCM -> log-mel, defined once.

The same :class:`LogMel` module runs in training, inside the exported ONNX graph (whole
signal for ``window`` mode, :meth:`LogMel.step` for ``stream`` mode) and is checked
against the plain numpy reference :func:`logmel_reference` in the tests.

**Input scale.** PCM is float32 in [-1, 1], i.e. int16 samples divided by 32768. The
log floor is an absolute power, so a different scale shifts every feature.

**Framing contract.** The signal is conceptually left-padded with ``tail_samples`` zeros
(window - hop = 240 samples). Frame ``k`` covers padded samples
``[k*hop, k*hop + window)``, i.e. original samples ``[k*hop - tail, (k+1)*hop)``: it
*ends* at original sample ``(k+1)*hop``. A signal of ``N`` samples (``N`` a multiple of
the frame hop) gives exactly ``N // hop`` frames, so every 640-sample model hop yields
exactly ``frames_per_hop`` = 4 frames and frame ``4j+3`` ends where model hop ``j`` ends.
Streaming carries the last ``tail_samples`` samples from one model hop to the next.

**Features.** Periodic Hann window of ``window_samples``; the DFT of the windowed frame
at the ``n_fft`` bin frequencies (the same as ``rfft`` of the frame zero-padded to
``n_fft``); power ``|X|^2``; triangular filters on the HTK mel scale
(``2595 * log10(1 + f / 700)``), linear in Hz between mel-spaced edges, peak 1, no area
normalisation; natural ``log(max(mel_power, log_floor))``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn
from torch.nn import functional

from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE, exact_div

FloatArray = npt.NDArray[np.float64]

#: HTK mel scale: ``mel = MEL_SCALE * log10(1 + f / MEL_BREAK_HZ)``.
MEL_SCALE = 2595.0
MEL_BREAK_HZ = 700.0
MS_PER_S = 1000


def _exact(numerator: int, denominator: int, what: str) -> int:
    """:func:`exact_div` with a message that says which setting is inconsistent."""
    try:
        return exact_div(numerator, denominator)
    except ValueError as error:
        raise ValueError(f"inconsistent frontend config: {what} ({error})") from error


def _ms_to_samples(duration_ms: float, sample_rate: int, name: str) -> int:
    """Whole samples in ``duration_ms`` at ``sample_rate``; refuses fractions."""
    scaled = duration_ms * sample_rate
    if scaled != round(scaled):
        raise ValueError(f"inconsistent frontend config: {name}={duration_ms} is not whole samples")
    return _exact(round(scaled), MS_PER_S, f"{name}={duration_ms} at {sample_rate} Hz")


@dataclass(frozen=True)
class FrontendConfig:
    """Log-mel settings; derived sizes are checked at construction and fail loudly."""

    sample_rate: int = SAMPLE_RATE
    window_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    n_mels: int = 64
    f_min_hz: float = 20.0
    f_max_hz: float = 8000.0
    log_floor: float = 1e-6
    #: Time constant of the running per-band log-mel mean subtracted from every frame (level
    #: and channel normalisation, :class:`LevelNorm`); 0 turns it off (the students before it).
    level_tau_s: float = 0.0

    def __post_init__(self) -> None:
        if self.sample_rate != SAMPLE_RATE:
            raise ValueError(
                f"inconsistent frontend config: sample_rate={self.sample_rate}, but the model "
                f"boundary is {SAMPLE_RATE} Hz"
            )
        if self.window_samples < self.hop_samples:
            raise ValueError("inconsistent frontend config: window_ms must be >= hop_ms")
        if self.n_fft < self.window_samples or self.n_fft % 2:
            raise ValueError(f"n_fft={self.n_fft} must be even and >= {self.window_samples}")
        if not 0.0 <= self.f_min_hz < self.f_max_hz <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min_hz < f_max_hz <= {self.sample_rate / 2}, "
                f"got {self.f_min_hz}, {self.f_max_hz}"
            )
        if self.n_mels < 1 or self.log_floor <= 0.0:
            raise ValueError("n_mels must be >= 1 and log_floor > 0")
        if self.level_tau_s < 0.0:
            raise ValueError(f"level_tau_s must be >= 0 (0: off), got {self.level_tau_s}")
        _ = self.frames_per_hop  # checks that the frame hop divides the model hop

    @property
    def window_samples(self) -> int:
        return _ms_to_samples(self.window_ms, self.sample_rate, "window_ms")

    @property
    def hop_samples(self) -> int:
        return _ms_to_samples(self.hop_ms, self.sample_rate, "hop_ms")

    @property
    def frames_per_hop(self) -> int:
        """Frames per model hop (:data:`edge_affect.audio.HOP_SAMPLES`)."""
        return _exact(
            HOP_SAMPLES,
            self.hop_samples,
            f"hop_ms={self.hop_ms} must divide the {HOP_SAMPLES}-sample model hop",
        )

    @property
    def tail_samples(self) -> int:
        """PCM carried between model hops: the left padding of the framing contract."""
        return self.window_samples - self.hop_samples

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def level_rate(self) -> float:
        """Per-frame rate of the running level mean once warmed up (0 when off)."""
        if self.level_tau_s == 0.0:
            return 0.0
        return float(1.0 - np.exp(-self.hop_ms / MS_PER_S / self.level_tau_s))

    def to_dict(self) -> dict[str, int | float]:
        """Plain primitives, safe for ``torch.load(weights_only=True)``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrontendConfig:
        """Inverse of :meth:`to_dict`; refuses missing or unknown keys."""
        names = {f.name for f in fields(cls)}
        unknown, missing = set(data) - names, names - set(data) - OPTIONAL_KEYS
        data = {**{key: getattr(DEFAULT_FRONTEND, key) for key in OPTIONAL_KEYS}, **data}
        if unknown or missing:
            raise ValueError(
                f"frontend config: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
            )
        return cls(**data)


DEFAULT_FRONTEND = FrontendConfig()
#: Keys a stored config may lack: added later, their default is what older students did.
OPTIONAL_KEYS = frozenset({"level_tau_s"})


# --- numpy: window, mel filterbank, reference -------------------------------------------


def hann_window(config: FrontendConfig = DEFAULT_FRONTEND) -> FloatArray:
    """Periodic Hann window of ``window_samples``: ``0.5 - 0.5 cos(2 pi n / W)``."""
    n = np.arange(config.window_samples, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / config.window_samples)


def hz_to_mel(freq_hz: npt.ArrayLike) -> FloatArray:
    """HTK mel scale."""
    return MEL_SCALE * np.log10(1.0 + np.asarray(freq_hz, dtype=np.float64) / MEL_BREAK_HZ)


def mel_to_hz(mel: npt.ArrayLike) -> FloatArray:
    """Inverse of :func:`hz_to_mel`."""
    return MEL_BREAK_HZ * (10.0 ** (np.asarray(mel, dtype=np.float64) / MEL_SCALE) - 1.0)


def mel_band_edges_hz(config: FrontendConfig = DEFAULT_FRONTEND) -> FloatArray:
    """``n_mels + 2`` frequencies equally spaced in mel from ``f_min_hz`` to ``f_max_hz``.

    Filter ``m`` rises from edge ``m`` to its centre, edge ``m + 1``, and falls to edge
    ``m + 2``.
    """
    mels = np.linspace(hz_to_mel(config.f_min_hz), hz_to_mel(config.f_max_hz), config.n_mels + 2)
    edges = mel_to_hz(mels)
    edges[0], edges[-1] = config.f_min_hz, config.f_max_hz  # exact, not round-tripped
    return edges


def mel_centres_hz(config: FrontendConfig = DEFAULT_FRONTEND) -> FloatArray:
    """Centre (peak) frequency of each mel filter."""
    return mel_band_edges_hz(config)[1:-1]


def bin_frequencies_hz(config: FrontendConfig = DEFAULT_FRONTEND) -> FloatArray:
    """Frequency of each of the ``n_bins`` DFT bins."""
    return np.arange(config.n_bins, dtype=np.float64) * config.sample_rate / config.n_fft


def mel_weights(freq_hz: npt.ArrayLike, config: FrontendConfig = DEFAULT_FRONTEND) -> FloatArray:
    """Triangle weights ``(n_mels, len(freq_hz))`` at arbitrary frequencies.

    Each triangle is linear in Hz, 0 at its outer edges and exactly 1 at its centre.
    """
    f = np.asarray(freq_hz, dtype=np.float64)[np.newaxis, :]
    edges = mel_band_edges_hz(config)
    lower, centre, upper = (edges[i : i + config.n_mels, np.newaxis] for i in range(3))
    rising = (f - lower) / (centre - lower)
    falling = (upper - f) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def mel_filterbank(config: FrontendConfig = DEFAULT_FRONTEND) -> FloatArray:
    """Mel matrix ``(n_mels, n_bins)``: :func:`mel_weights` at the DFT bin frequencies.

    Filters narrower than a bin (the lowest ones at the defaults) peak below 1 on the bin
    grid, but none is empty.
    """
    return mel_weights(bin_frequencies_hz(config), config)


def _check_length(n_samples: int, config: FrontendConfig) -> int:
    """Frames for ``n_samples``; refuses a length that is not whole frame hops."""
    if n_samples % config.hop_samples:
        raise ValueError(
            f"signal length {n_samples} is not a multiple of the {config.hop_samples}-sample hop"
        )
    return n_samples // config.hop_samples


def logmel_reference(pcm: npt.ArrayLike, config: FrontendConfig = DEFAULT_FRONTEND) -> FloatArray:
    """Log-mel ``(N // hop, n_mels)`` of 1-D float PCM, in float64, with ``np.fft.rfft``.

    The slow, obviously correct statement of the contract in the module docstring.
    """
    x = np.asarray(pcm, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected 1-D PCM, got shape {x.shape}")
    n_frames = _check_length(x.shape[0], config)
    padded = np.concatenate([np.zeros(config.tail_samples), x])
    hop, window = config.hop_samples, config.window_samples
    starts = hop * np.arange(n_frames)[:, np.newaxis]
    frames = padded[starts + np.arange(window)[np.newaxis, :]]  # [n_frames, window]
    spectrum = np.fft.rfft(frames * hann_window(config), n=config.n_fft, axis=-1)
    power: FloatArray = np.abs(spectrum) ** 2
    mel: FloatArray = power @ mel_filterbank(config).T
    features: FloatArray = np.log(np.maximum(mel, config.log_floor))
    return features


# --- torch: the module that goes into the graph -----------------------------------------


def windowed_dft_basis(config: FrontendConfig = DEFAULT_FRONTEND) -> tuple[FloatArray, FloatArray]:
    """Real and imaginary DFT rows ``(n_bins, window_samples)`` times the Hann window.

    ``frame @ real.T + 1j * frame @ imag.T`` equals ``rfft(frame * hann, n=n_fft)``.
    """
    k = np.arange(config.n_bins, dtype=np.int64)[:, np.newaxis]
    n = np.arange(config.window_samples, dtype=np.int64)[np.newaxis, :]
    angle = 2.0 * np.pi * ((k * n) % config.n_fft) / config.n_fft  # exact phase, no drift
    window = hann_window(config)[np.newaxis, :]
    return window * np.cos(angle), -window * np.sin(angle)


class LogMel(nn.Module):
    """PCM ``[B, N]`` float32 in [-1, 1] -> log-mel ``[B, N // hop, n_mels]``.

    Buffers ``dft_basis`` ``(window_samples, 2 * n_bins)`` (the windowed DFT's real columns,
    then its imaginary columns) and ``mel_weights`` ``(n_bins, n_mels)`` are float32
    constants, not parameters; export must keep them out of quantization (select the
    initializers by these names). They are a pure function of the config, which checkpoints
    store, so they are not part of ``state_dict``. Both are right operands (frames times
    constant), which onnxruntime computes four times faster than constant times frames for
    the four frames of a hop (measured: 16.6 vs 66.5 us; a hop went from 155 to 95 us).
    Measured and rejected: a constant-index gather for the frames and a stacked mel matrix
    that sums real and imaginary power in one product (fewer nodes, but 109 us per hop).
    """

    dft_basis: Tensor
    mel_weights: Tensor

    def __init__(
        self, config: FrontendConfig = DEFAULT_FRONTEND, *, dtype: torch.dtype = torch.float32
    ) -> None:
        """``dtype=torch.float64`` builds the constants in double precision (for parity
        checks); models and export use the float32 default."""
        super().__init__()
        self.config = config
        real, imag = windowed_dft_basis(config)
        basis = np.concatenate([real.T, imag.T], axis=1)
        self.register_buffer("dft_basis", _tensor(basis, dtype), persistent=False)
        self.register_buffer(
            "mel_weights", _tensor(mel_filterbank(config).T, dtype), persistent=False
        )
        self.level = LevelNorm(config) if config.level_tau_s > 0.0 else None

    def forward(self, pcm: Tensor) -> Tensor:
        """Whole-signal log-mel; ``N`` must be a multiple of ``hop_samples``."""
        if pcm.dim() != 2:
            raise ValueError(f"expected PCM of shape [batch, samples], got {tuple(pcm.shape)}")
        _check_length(pcm.shape[1], self.config)
        padded = functional.pad(pcm, (self.config.tail_samples, 0))
        frames = padded.unfold(1, self.config.window_samples, self.config.hop_samples)
        mel = self._frames_to_logmel(frames)
        if self.level is None:
            return mel
        return mel - level_means(mel, self.config)

    @property
    def state_size(self) -> int:
        """Values of streaming state per stream: the PCM tail, then (with level
        normalisation) the running mean of each band and the count of each band."""
        level = 2 * self.config.n_mels if self.level is not None else 0
        return self.config.tail_samples + level

    def initial_tail(self, batch: int) -> Tensor:
        """The streaming state before the first hop: zeros, ``[B, state_size]``."""
        reference = self.dft_basis
        return torch.zeros(batch, self.state_size, dtype=reference.dtype, device=reference.device)

    def step(self, pcm_hop: Tensor, tail: Tensor) -> tuple[Tensor, Tensor]:
        """One model hop: ``([B, HOP_SAMPLES], [B, state])`` -> ``([B, 4, n_mels], new state)``.

        Concatenating the frames of successive steps equals :meth:`forward` on the whole
        signal. Only cat, static slices, stack, matmul and elementwise ops, so it exports to
        plain ONNX. The state is one tensor (the PCM tail, then the level normalisation's
        means and counts when it is on), so the exported graph carries one frontend state.
        """
        cfg = self.config
        if pcm_hop.dim() != 2 or pcm_hop.shape[1] != HOP_SAMPLES:
            raise ValueError(f"expected pcm_hop [batch, {HOP_SAMPLES}], got {tuple(pcm_hop.shape)}")
        if tail.dim() != 2 or tail.shape[1] != self.state_size:
            raise ValueError(f"expected tail [batch, {self.state_size}], got {tuple(tail.shape)}")
        pcm_tail = tail[:, : cfg.tail_samples]
        padded = torch.cat([pcm_tail, pcm_hop], dim=1)
        starts = [k * cfg.hop_samples for k in range(cfg.frames_per_hop)]
        frames = torch.stack([padded[:, s : s + cfg.window_samples] for s in starts], dim=1)
        mel = self._frames_to_logmel(frames)
        new_tail = padded[:, HOP_SAMPLES:]
        if self.level is None:
            return mel, new_tail
        bands = cfg.tail_samples + cfg.n_mels
        level_state = (tail[:, cfg.tail_samples : bands], tail[:, bands:])
        mel, (mean, seen) = self.level(mel, level_state)
        return mel, torch.cat([new_tail, mean, seen], dim=1)

    def _frames_to_logmel(self, frames: Tensor) -> Tensor:
        """``[B, F, window]`` -> ``[B, F, n_mels]``: windowed DFT, power, mel, log."""
        n_bins = self.config.n_bins
        spectrum = torch.matmul(frames, self.dft_basis)  # [B, F, 2 * n_bins]: real, imag
        real, imag = spectrum[..., :n_bins], spectrum[..., n_bins:]
        mel = torch.matmul(real * real + imag * imag, self.mel_weights)  # [B, F, n_mels]
        return torch.log(torch.clamp(mel, min=self.config.log_floor))


def _tensor(array: FloatArray, dtype: torch.dtype) -> Tensor:
    """A float64 numpy constant as a contiguous tensor, rounded once to ``dtype``."""
    return torch.from_numpy(np.ascontiguousarray(array)).to(dtype)


# --- level normalisation: a running per-band mean, subtracted ---------------------------

#: A band value counts towards its running mean only above the log floor plus this margin:
#: values at the floor (digital silence, or below the floor after a gain) would otherwise
#: pull the mean by an amount that does not scale with the input gain.
LEVEL_FLOOR_MARGIN = 0.01
#: The frame count stops here (far past any warm-up): it stays exact in float32.
LEVEL_COUNT_CAP = 1e6
#: The log floor of level-normalised students (:func:`level_normalised`): below the power
#: that int16 quantization noise alone gives in every band (about 1e-8 per DFT bin), so no
#: int16 signal but digital silence reaches it, whatever its gain.
LEVEL_LOG_FLOOR = 1e-9


def level_normalised(tau_s: float) -> FrontendConfig:
    """The frontend of a level-normalised student: the default one, with the running mean
    of time constant ``tau_s`` and the lower :data:`LEVEL_LOG_FLOOR`."""
    return FrontendConfig(level_tau_s=tau_s, log_floor=LEVEL_LOG_FLOOR)


def level_norm_reference(
    logmel: npt.ArrayLike,
    config: FrontendConfig,
    seen_before: npt.ArrayLike | None = None,
    mean_before: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Level-normalised log-mel and the running means, in float64, one model hop at a time.

    Each band ``b`` keeps a running mean ``m`` and a count ``n`` of the values that took part.
    Per model hop (its ``frames_per_hop`` frames ``x_k``), the values above the floor
    (``log(log_floor)`` + :data:`LEVEL_FLOOR_MARGIN`), ``a_k = 1``, take part:
    ``n += sum(a_k); m += max(1 / n, level_rate) * sum(a_k * (x_k - m))``; values at the floor
    leave both alone. So ``m`` is the plain mean of every value heard until ``1 / level_rate``
    of them (the warm-up), then an exponential mean with time constant ``level_tau_s`` (the
    hop's frames enter together: ``(1 - rate)^4`` is taken as ``1 - 4 rate``, a difference of
    order ``6 rate^2``, 1.7e-7 at 60 s). Every frame of the hop is returned minus the mean after
    the hop. A constant input gain adds the same constant to every log-mel value above the
    floor and so to the mean: the output does not change, from the first hop, as long as the
    gain moves no value across the floor. Stationary colouring (a fixed microphone response)
    is a per-band constant and goes the same way; changes within the time constant (vocal
    effort, pitch) stay. Updating once per hop, not per frame, keeps the exported hop graph
    small (the stream graph runs it every 40 ms).
    """
    x = np.asarray(logmel, dtype=np.float64)
    per_hop, bands = config.frames_per_hop, x.shape[1]
    if x.shape[0] % per_hop:
        raise ValueError(f"{x.shape[0]} frames is not a whole number of {per_hop}-frame hops")
    mean = np.zeros(bands) if mean_before is None else np.array(mean_before, np.float64)
    seen = np.zeros(bands) if seen_before is None else np.array(seen_before, np.float64)
    means = _running_means(x.reshape(-1, per_hop, bands), config, seen, mean)
    return x - means, means


def _running_means(
    hops: FloatArray, config: FrontendConfig, seen: FloatArray, mean: FloatArray
) -> FloatArray:
    """``[hops, frames, bands]`` -> ``[hops * frames, bands]``: the mean after each frame's hop
    (:func:`level_norm_reference`); ``seen`` and ``mean`` are updated in place."""
    rate, threshold = config.level_rate, np.log(config.log_floor) + LEVEL_FLOOR_MARGIN
    means = np.empty((hops.shape[0], hops.shape[2]))
    for h, frames in enumerate(hops):
        active = frames > threshold
        seen += active.sum(axis=0)
        np.minimum(seen, LEVEL_COUNT_CAP, out=seen)
        step = np.maximum(1.0 / np.maximum(seen, 1.0), rate)
        mean += step * np.sum(active * (frames - mean), axis=0)
        means[h] = mean
    return np.repeat(means, hops.shape[1], axis=0)


class LevelNorm(nn.Module):
    """The streaming form of :func:`level_norm_reference` (no parameters).

    State per stream: the running mean and the count of each band, ``[B, n_mels]`` each, both
    zeros before the first frame. :meth:`forward` takes one model hop's frames
    ``[B, frames_per_hop, n_mels]`` and the state, and returns the normalised frames and the
    new state: about a dozen graph nodes per hop.
    """

    def __init__(self, config: FrontendConfig) -> None:
        super().__init__()
        if config.level_tau_s == 0.0:
            raise ValueError("LevelNorm needs level_tau_s > 0")
        self.config = config
        self.threshold = float(np.log(config.log_floor) + LEVEL_FLOOR_MARGIN)

    def initial_state(self, batch: int, like: Tensor) -> tuple[Tensor, Tensor]:
        zeros = like.new_zeros(batch, self.config.n_mels)
        return zeros, zeros.clone()

    def forward(
        self, mel: Tensor, state: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if mel.shape[1] != self.config.frames_per_hop:
            raise ValueError(f"expected one hop of {self.config.frames_per_hop} frames")
        mean, seen = state
        active = (mel > self.threshold).to(mel.dtype)
        seen = torch.clamp(seen + active.sum(dim=1), max=LEVEL_COUNT_CAP)
        step = torch.clamp(torch.reciprocal(torch.clamp(seen, min=1.0)), min=self.config.level_rate)
        mean = mean + step * torch.sum(active * (mel - mean.unsqueeze(1)), dim=1)
        return mel - mean.unsqueeze(1), (mean, seen)


def level_means(mel: Tensor, config: FrontendConfig) -> Tensor:
    """The running means of :func:`level_norm_reference` for whole signals ``[B, F, M]``.

    No gradient flows (the frontend has no parameters): training computes a session's
    means once, with the whole session's log-mel, and cuts them with the audio, so a
    training chunk sees the state a stream reaches at that point of the session, not a
    fresh warm-up. Float64, hop by hop (vectorised over bands): well under a second for a
    300 s session.
    """
    x = mel.detach().to("cpu", torch.float64).numpy()
    per_hop, bands = config.frames_per_hop, x.shape[2]
    if x.shape[1] % per_hop:
        raise ValueError(f"{x.shape[1]} frames is not a whole number of {per_hop}-frame hops")
    means = [
        _running_means(one.reshape(-1, per_hop, bands), config, np.zeros(bands), np.zeros(bands))
        for one in x
    ]
    return torch.from_numpy(np.stack(means)).to(device=mel.device, dtype=mel.dtype)
