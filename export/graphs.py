"""The torch modules that are traced into the device graphs.

Both wrap a trained :class:`~edge_affect_train.models.AudioStudent` without changing its weights:

* :class:`StreamGraph` — one 640-sample int16 hop plus the explicit state (PCM tail of the
  frontend, recurrent state) in, ``[1, 2]`` arousal/valence plus the new state out. The GRU
  is rewritten as an explicit cell of two ``Linear`` layers with the *same* weights, because
  onnxruntime has no int8 kernel for the ONNX ``GRU`` op (a quantized file would keep the
  recurrence in float); the cell reproduces ``nn.GRU`` to float rounding (checked by the
  tests).
* :class:`WindowGraph` — int16 PCM of any whole number of hops in (the runtime passes the last
  W seconds), one prediction per hop out; the runtime reads the newest. The encoder runs with
  its native ops (``GRU`` / attention), so bidirectional and Transformer students work.

The graphs take int16 samples and scale them by 1/32768 inside, so the device passes what a
sound card gives and the float conversion matches training (:mod:`edge_affect_train.audio_io`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edge_affect.audio import HOP_SAMPLES
from edge_affect.errors import EdgeAffectError
from edge_affect.pcm import INT16_SCALE
from edge_affect_train.frontend import FrontendConfig
from edge_affect_train.models import AudioStudent

#: int16 -> float inside the graph: training audio is ``int16 / 32768`` (edge_affect.pcm).
PCM_SCALE = 1.0 / INT16_SCALE


class GRUCell(nn.Module):
    """One direction of one ``nn.GRU`` layer as two Linear layers (PyTorch's gate order r, z, n)."""

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
        gi = self.ih(x)
        gh = self.hh(h)
        h_size = self.hidden
        reset = torch.sigmoid(gi[:, :h_size] + gh[:, :h_size])
        update = torch.sigmoid(gi[:, h_size : 2 * h_size] + gh[:, h_size : 2 * h_size])
        candidate = torch.tanh(gi[:, 2 * h_size :] + reset * gh[:, 2 * h_size :])
        return (1.0 - update) * candidate + update * h


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


class StreamGraph(nn.Module):
    """``(pcm int16 [1, 640], tail [1, T], h [L, 1, H])`` -> ``(affect [1, 2], tail', h')``."""

    def __init__(self, student: AudioStudent) -> None:
        super().__init__()
        encoder = student.encoder
        if not encoder.config.causal or encoder.gru is None:
            raise ValueError(
                f"a {encoder.config.kind} student is not causal; export it in window mode"
            )
        self.student = student
        self.stack = fold_norm(student)
        self.cells = nn.ModuleList(
            GRUCell(encoder.gru, layer) for layer in range(encoder.config.layers)
        )

    def forward(self, pcm: Tensor, tail: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s = self.student
        mel, new_tail = s.frontend.step(pcm.to(torch.float32) * PCM_SCALE, tail)
        x = torch.relu(self.stack(mel.reshape(1, -1)))  # [1, hidden]: one hop
        x = torch.relu(s.encoder.proj(x))
        states = []
        for layer, cell in enumerate(self.cells):
            x = cell(x, h[layer])
            states.append(x)
        prediction = s.head(s.translator(x))
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
