"""The torch modules that are traced into the device graphs.

Both wrap a trained :class:`~edge_affect_train.models.AudioStudent` without changing its weights:

* :class:`StreamGraph` — one 640-sample int16 hop plus the explicit state (PCM tail of the
  frontend, recurrent state) in, ``[1, 2]`` arousal/valence plus the new state out. The GRU
  is rewritten as an explicit cell of two ``Linear`` layers with the *same* weights, because
  onnxruntime has no int8 kernel for the ONNX ``GRU`` op (a quantized file would keep the
  recurrence in float); the cell reproduces ``nn.GRU`` to float rounding (checked by the
  tests). The graph runs every 40 ms, so it is written for a short hop: the frontend is
  :class:`HopFrontend` (the same function as ``LogMel.step`` in cheaper nodes), and linear
  layers that no non-linearity separates are folded (:func:`fold_norm`, :func:`fold_output`).
  Measured per hop in ``docs/benchmarks.md``.
* :class:`WindowGraph` — int16 PCM of any whole number of hops in (the runtime passes the last
  W seconds), one prediction per hop out; the runtime reads the newest. The encoder runs with
  its native ops (``GRU`` / attention), so bidirectional and Transformer students work.

The graphs take int16 samples, so the device passes what a sound card gives; the window graph
scales them by 1/32768 as training does (:mod:`edge_affect_train.audio_io`), the stream graph
folds that power of two into its DFT matrices (exact).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from edge_affect.audio import HOP_SAMPLES
from edge_affect.errors import EdgeAffectError
from edge_affect.pcm import INT16_SCALE
from edge_affect_train.frontend import (
    LEVEL_COUNT_CAP,
    FloatArray,
    FrontendConfig,
    LevelNorm,
    hann_window,
    mel_filterbank,
)
from edge_affect_train.models import AudioStudent

#: int16 -> float inside the graph: training audio is ``int16 / 32768`` (edge_affect.pcm).
PCM_SCALE = 1.0 / INT16_SCALE


class GRUCell(nn.Module):
    """One direction of one ``nn.GRU`` layer as two Linear layers (PyTorch's gate order r, z, n).

    Written for few graph nodes: the reset and update gates are one ``Sigmoid`` over their
    summed pre-activations, cut by one ``Split``; ``h' = n + z (h - n)`` is ``(1 - z) n + z h``
    in three nodes instead of four (the same function to float rounding)."""

    def __init__(self, gru: nn.GRU, layer: int) -> None:
        super().__init__()
        hidden = gru.hidden_size
        self.hidden = hidden
        self.ih = nn.Linear(gru.input_size if layer == 0 else hidden, 3 * hidden)
        self.hh = nn.Linear(hidden, 3 * hidden)
        with torch.no_grad():
            self.ih.weight.copy_(getattr(gru, f"weight_ih_l{layer}"))
            self.ih.bias.copy_(getattr(gru, f"bias_ih_l{layer}"))
            self.hh.weight.copy_(getattr(gru, f"weight_hh_l{layer}"))
            self.hh.bias.copy_(getattr(gru, f"bias_hh_l{layer}"))

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        h_size = self.hidden
        gi_rz, gi_n = self.ih(x).split([2 * h_size, h_size], dim=-1)
        gh_rz, gh_n = self.hh(h).split([2 * h_size, h_size], dim=-1)
        reset, update = torch.split(torch.sigmoid(gi_rz + gh_rz), h_size, dim=-1)
        candidate = torch.tanh(gi_n + reset * gh_n)
        new_h: Tensor = candidate + update * (h - candidate)
        return new_h


def fold_norm(student: AudioStudent) -> nn.Linear:
    """The student's feature standardisation folded into its hop-stacking layer:
    ``stack((x - mean) / std) = (W / std) x + (b - W (mean / std))``, two graph nodes fewer
    per hop (the same function to float rounding; the parity tests bound it)."""
    per_hop = student.config.frontend.frames_per_hop
    mean = student.norm.mean.repeat(per_hop)  # feature j of a hop is mel band j % n_mels
    std = student.norm.std.repeat(per_hop)
    stack = student.stack
    folded = nn.Linear(stack.in_features, stack.out_features)
    with torch.no_grad():
        folded.weight.copy_(stack.weight / std)
        folded.bias.copy_(stack.bias - stack.weight @ (mean / std))
    return folded


def fold_output(student: AudioStudent) -> nn.Linear:
    """The translator's last Linear and the head, which no non-linearity separates, as one
    Linear: ``head(W z + b) = (H W) z + (H b + c)``; one product per hop fewer."""
    last, head = student.translator[-1], student.head
    if not isinstance(last, nn.Linear):
        raise TypeError(f"expected the translator to end in a Linear, got {type(last).__name__}")
    folded = nn.Linear(last.in_features, head.out_features)
    with torch.no_grad():
        folded.weight.copy_(head.weight @ last.weight)
        folded.bias.copy_(head.weight @ last.bias + head.bias)
    return folded


def mel_bins(config: FrontendConfig) -> tuple[int, int]:
    """``[first, end)``: the DFT bins that some mel filter weighs (at the defaults the 0 Hz and
    Nyquist bins weigh nothing); the stream graph computes only these."""
    used = np.flatnonzero(mel_filterbank(config).any(axis=0))
    return int(used[0]), int(used[-1]) + 1


def folded_dft(config: FrontendConfig) -> tuple[FloatArray, FloatArray]:
    """``(cos, sin)`` matrices ``[window / 2, bins]`` of the symmetric windowed DFT.

    Shifting a frame's time origin to its centre ``c = window / 2`` multiplies bin ``k`` by
    ``exp(-2 pi i c k / n_fft)``, which the power ``|X_k|^2`` does not see. The periodic Hann
    window is symmetric about ``c`` and zero at sample 0, so with ``s_j = x[c + j] + x[c - j]``
    and ``d_j = x[c + j] - x[c - j]`` (``j < c``; ``s_0 = 2 x[c]``)::

        Re X_k = sum_j s_j w[c + j] cos(2 pi j k / n_fft)  (row 0 halved)
        Im X_k = -sum_j d_j w[c + j] sin(2 pi j k / n_fft)

    half the products of the full ``[window, 2 n_bins]`` basis. Both matrices also carry the
    int16 -> float scale :data:`PCM_SCALE` (a power of two: exact), so the graph frames the
    int16 samples as they come. Float64; ``mel_bins`` picks the columns.
    """
    half = config.window_samples // 2
    if config.window_samples % 2:
        raise ValueError("the folded DFT needs an even window")
    window = hann_window(config)[half:, np.newaxis] * PCM_SCALE
    first, end = mel_bins(config)
    j = np.arange(half, dtype=np.int64)[:, np.newaxis]
    k = np.arange(first, end, dtype=np.int64)[np.newaxis, :]
    angle = 2.0 * np.pi * ((j * k) % config.n_fft) / config.n_fft
    cos = window * np.cos(angle)
    cos[0] *= 0.5  # s_0 holds the centre sample twice
    return cos, -window * np.sin(angle)


class HopFrontend(nn.Module):
    """:meth:`LogMel.step` (and its :class:`LevelNorm`) for the exported stream graph, in
    fewer and cheaper nodes; the same function to float rounding (the parity tests bound it).

    * int16 samples are framed as floats without scaling: the scale is in the DFT matrices,
      and the PCM tail in the state is carried in int16 units (the state a graph exported
      from here starts from zeros and reads only its own output);
    * the hop's frames are ``[frames_per_hop, window]`` (no batch axis: a stream is one);
    * the DFT is :func:`folded_dft` (half the products of the full basis) over the bins
      that the mel filters use;
    * the level normalisation's step ``max(1 / max(n, 1), rate)`` is computed as
      ``clip(1 / n, rate, 1)``: equal for every count (``n = 0`` gives ``1 / 0 = inf -> 1``,
      and nothing is added then).
    """

    dft_cos: Tensor
    dft_sin: Tensor
    mel_weights: Tensor

    def __init__(self, config: FrontendConfig) -> None:
        super().__init__()
        self.config = config
        cos, sin = folded_dft(config)
        first, end = mel_bins(config)
        mel = np.ascontiguousarray(mel_filterbank(config).T[first:end])
        for name, array in (("dft_cos", cos), ("dft_sin", sin), ("mel_weights", mel)):
            self.register_buffer(name, torch.from_numpy(array).to(torch.float32), persistent=False)
        self.level = LevelNorm(config) if config.level_tau_s > 0.0 else None

    def forward(self, pcm: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """``(int16 [1, HOP_SAMPLES], state [1, S])`` -> ``(log-mel [frames, n_mels], state')``."""
        cfg = self.config
        tail, window, half = cfg.tail_samples, cfg.window_samples, cfg.window_samples // 2
        padded = torch.cat([state[:, :tail], pcm.to(torch.float32)], dim=1)
        starts = [k * cfg.hop_samples for k in range(cfg.frames_per_hop)]
        frames = torch.cat([padded[:, s : s + window] for s in starts], dim=0)
        later = frames[:, half:]
        earlier = torch.flip(frames[:, 1 : half + 1], dims=[1])
        real = torch.matmul(later + earlier, self.dft_cos)
        imag = torch.matmul(later - earlier, self.dft_sin)
        mel = torch.matmul(real * real + imag * imag, self.mel_weights)
        mel = torch.log(torch.clamp(mel, min=cfg.log_floor))
        new_tail = padded[:, HOP_SAMPLES:]
        if self.level is None:
            return mel, new_tail
        bands = tail + cfg.n_mels
        mel, mean, seen = self._level(mel, state[:, tail:bands], state[:, bands:])
        return mel, torch.cat([new_tail, mean, seen], dim=1)

    def _level(self, mel: Tensor, mean: Tensor, seen: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`LevelNorm.forward` on ``[frames, bands]`` with ``[1, bands]`` state."""
        assert self.level is not None
        active = (mel > self.level.threshold).to(mel.dtype)
        seen = torch.clamp(seen + active.sum(dim=0, keepdim=True), max=LEVEL_COUNT_CAP)
        step = torch.clamp(torch.reciprocal(seen), min=self.config.level_rate, max=1.0)
        mean = mean + step * torch.sum(active * (mel - mean), dim=0, keepdim=True)
        return mel - mean, mean, seen


class StreamGraph(nn.Module):
    """``(pcm int16 [1, 640], tail [1, T], h [L, 1, H])`` -> ``(affect [1, 2], tail', h')``.

    The student's modules with its weights, written for a short hop graph: :class:`HopFrontend`,
    the feature standardisation folded into the stacking layer (:func:`fold_norm`), the GRU as
    explicit cells (:class:`GRUCell`), the translator's last layer folded into the head
    (:func:`fold_output`)."""

    def __init__(self, student: AudioStudent) -> None:
        super().__init__()
        encoder = student.encoder
        if not encoder.config.causal or encoder.gru is None:
            raise ValueError(
                f"a {encoder.config.kind} student is not causal; export it in window mode"
            )
        self.student = student
        self.frontend = HopFrontend(student.config.frontend)
        self.stack = fold_norm(student)
        self.cells = nn.ModuleList(
            GRUCell(encoder.gru, layer) for layer in range(encoder.config.layers)
        )
        self.output = fold_output(student)

    def forward(self, pcm: Tensor, tail: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s = self.student
        mel, new_tail = self.frontend(pcm, tail)
        x = torch.relu(self.stack(mel.reshape(1, -1)))  # [1, hidden]: one hop
        x = torch.relu(s.encoder.proj(x))
        states = []
        for layer, cell in enumerate(self.cells):
            x = cell(x, h[layer])
            states.append(x)
        prediction = self.output(s.translator[:-1](x))
        return prediction, new_tail, torch.stack(states, dim=0)

    def initial_state(self) -> tuple[Tensor, Tensor]:
        tail, h = self.student.initial_state(1)
        return tail, h


def block_frames(pcm: Tensor, config: FrontendConfig) -> Tensor:
    """``[1, N]`` -> ``[1, N / hop, window]``: the frames of :meth:`LogMel.forward`.

    Built from hop-sized blocks with slices and a concat instead of ``unfold``, which the
    TorchScript exporter cannot write for a dynamic length. Same values, same order.
    """
    hop, window, tail = config.hop_samples, config.window_samples, config.tail_samples
    full, rest = divmod(window, hop)
    extra = full if rest else full - 1  # blocks beyond one per frame
    end_pad = extra * hop - tail
    padded = torch.cat(
        [pcm.new_zeros(1, tail), pcm] + ([pcm.new_zeros(1, end_pad)] if end_pad else []), dim=1
    )
    blocks = padded.reshape(-1, hop)
    parts = [blocks[j : j - extra if j < extra else None] for j in range(full)]
    if rest:
        parts.append(blocks[full:, :rest])
    return torch.cat(parts, dim=1).unsqueeze(0)


class WindowGraph(nn.Module):
    """``pcm int16 [1, 640 * n]`` -> ``affect [1, n, 2]``: the student over a whole window.

    The encoder runs with its native ops (ONNX ``GRU``, attention); :mod:`.exporter` traces
    recurrent students with the TorchScript exporter, because the dynamo exporter of
    torch 2.13 unrolls or fails on ``nn.GRU`` with a dynamic length.
    """

    def __init__(self, student: AudioStudent) -> None:
        super().__init__()
        if student.frontend.level is not None:
            raise EdgeAffectError(
                "level normalisation (frontend level_tau_s > 0) is exported for causal "
                "students in stream mode only"
            )
        self.student = student

    def forward(self, pcm: Tensor) -> Tensor:
        s = self.student
        frames = block_frames(pcm.to(torch.float32) * PCM_SCALE, s.config.frontend)
        prediction: Tensor = s.represent_mel(s.frontend._frames_to_logmel(frames))[0]
        return prediction


def example_window(n_hops: int) -> Tensor:
    return torch.zeros(1, n_hops * HOP_SAMPLES, dtype=torch.int16)
