"""Models of the two-stage transfer: temporal encoders, the teacher and the audio student.

* :class:`SequenceEncoder` — ``gru`` (causal, streams with a carried state), ``bigru`` and
  ``transformer`` (the paper's two encoders; non-causal, run in window mode on the device).
* :class:`Teacher` — stage 1: encoder + regressor on a stronger modality's features at the
  40 ms label rate. Its latent sequence is the alignment target.
* :class:`AudioStudent` — stage 2 at test time: PCM -> log-mel (in the model) -> 4 mel
  frames stacked per 40 ms hop -> encoder -> translation module (the multi-modal intermediate
  representation ``z``) -> head -> [arousal, valence]. ``forward`` uses audio only; the
  decoder, the teacher and the losses live in :mod:`edge_affect_train.transfer`.

Configs are frozen dataclasses of primitives so that checkpoints (loaded with
``weights_only=True``) rebuild a model from the checkpoint alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from edge_affect.audio import HOP_SAMPLES, LABEL_NAMES
from edge_affect_train.frontend import FrontendConfig, LogMel

EncoderKind = Literal["gru", "bigru", "transformer"]
ENCODER_KINDS: tuple[EncoderKind, ...] = ("gru", "bigru", "transformer")
N_OUTPUTS = len(LABEL_NAMES)


@dataclass(frozen=True)
class EncoderConfig:
    kind: EncoderKind = "gru"
    hidden: int = 64
    layers: int = 1
    heads: int = 4
    dropout: float = 0.1

    @property
    def causal(self) -> bool:
        return self.kind == "gru"


@dataclass(frozen=True)
class TeacherConfig:
    modalities: tuple[str, ...]
    input_dim: int
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(kind="bigru"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TeacherConfig:
        return cls(
            modalities=tuple(d["modalities"]),
            input_dim=int(d["input_dim"]),
            encoder=EncoderConfig(**d["encoder"]),
        )


@dataclass(frozen=True)
class StudentConfig:
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    z_dim: int = 64  # the intermediate representation; equals the teacher latent for alignment

    def to_dict(self) -> dict[str, Any]:
        return {
            "frontend": self.frontend.to_dict(),
            "encoder": asdict(self.encoder),
            "z_dim": self.z_dim,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudentConfig:
        return cls(
            frontend=FrontendConfig.from_dict(d["frontend"]),
            encoder=EncoderConfig(**d["encoder"]),
            z_dim=int(d["z_dim"]),
        )


def _sinusoidal_positions(length: int, dim: int, device: torch.device) -> Tensor:
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / dim)
    )
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return table


class SequenceEncoder(nn.Module):
    """``(B, T, input_dim)`` -> ``(B, T, hidden)`` with the configured temporal model."""

    def __init__(self, input_dim: int, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = nn.Linear(input_dim, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.gru: nn.GRU | None = None
        self.transformer: nn.TransformerEncoder | None = None
        if config.kind in ("gru", "bigru"):
            bidirectional = config.kind == "bigru"
            if bidirectional and config.hidden % 2:
                raise ValueError("bigru needs an even hidden size")
            self.gru = nn.GRU(
                config.hidden,
                config.hidden // 2 if bidirectional else config.hidden,
                num_layers=config.layers,
                batch_first=True,
                bidirectional=bidirectional,
                dropout=config.dropout if config.layers > 1 else 0.0,
            )
        elif config.kind == "transformer":
            layer = nn.TransformerEncoderLayer(
                config.hidden,
                config.heads,
                dim_feedforward=2 * config.hidden,
                dropout=config.dropout,
                batch_first=True,
                norm_first=True,
            )
            self.transformer = nn.TransformerEncoder(
                layer, config.layers, enable_nested_tensor=False
            )
        else:
            raise ValueError(
                f"unknown encoder {config.kind!r}; choose one of {', '.join(ENCODER_KINDS)}"
            )

    def forward(
        self, x: Tensor, state: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Encode a sequence; ``state`` (causal GRU only) is carried between calls.

        ``mask`` ``(B, T)`` marks the valid steps of right-padded sequences of different
        lengths (every row at least one step): the GRUs run on packed sequences, the
        Transformer ignores padded keys. Outputs at padded steps are zero (GRUs) or
        meaningless (Transformer); pool with the mask.
        """
        h = self.dropout(torch.relu(self.proj(x)))
        if self.gru is not None:
            if mask is not None:
                return self._packed_gru(h, mask), None
            out, new_state = self.gru(h, state)
            return out, new_state if self.config.causal else None
        assert self.transformer is not None
        h = h + _sinusoidal_positions(h.shape[1], h.shape[2], h.device).to(h.dtype)
        padding = None if mask is None else ~mask
        return self.transformer(h, src_key_padding_mask=padding), None

    def _packed_gru(self, h: Tensor, mask: Tensor) -> Tensor:
        assert self.gru is not None
        lengths = mask.sum(dim=1).to("cpu", torch.int64)
        packed = nn.utils.rnn.pack_padded_sequence(
            h, lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.gru(packed)
        padded, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])
        return padded

    def initial_state(self, batch: int) -> Tensor:
        if not self.config.causal:
            raise ValueError(f"a {self.config.kind} encoder has no streaming state")
        return torch.zeros(self.config.layers, batch, self.config.hidden)


class FeatureNorm(nn.Module):
    """Fixed per-dimension standardisation (statistics set from training data, saved as buffers)."""

    mean: Tensor
    std: Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set_statistics(self, mean: Tensor, std: Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-5))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class Teacher(nn.Module):
    """Stage 1: encoder + regressor on stronger-modality features at the label rate."""

    def __init__(self, config: TeacherConfig) -> None:
        super().__init__()
        self.config = config
        self.norm = FeatureNorm(config.input_dim)
        self.encoder = SequenceEncoder(config.input_dim, config.encoder)
        self.head = nn.Linear(config.encoder.hidden, N_OUTPUTS)

    @property
    def latent_dim(self) -> int:
        return self.config.encoder.hidden

    def represent(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """``(predictions (B,T,2), latent (B,T,H))``."""
        latent, _ = self.encoder(self.norm(features))
        return self.head(latent), latent

    def forward(self, features: Tensor) -> Tensor:
        return self.represent(features)[0]


class AudioStudent(nn.Module):
    """Stage 2 at test time: audio in, [arousal, valence] per 40 ms hop out."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        fc = config.frontend
        self.frontend = LogMel(fc)
        self.norm = FeatureNorm(fc.n_mels)
        self.stack = nn.Linear(fc.frames_per_hop * fc.n_mels, config.encoder.hidden)
        self.encoder = SequenceEncoder(config.encoder.hidden, config.encoder)
        self.translator = nn.Sequential(
            nn.Linear(config.encoder.hidden, config.z_dim),
            nn.GELU(),
            nn.Linear(config.z_dim, config.z_dim),
        )
        self.head = nn.Linear(config.z_dim, N_OUTPUTS)

    def _hops(self, mel: Tensor) -> Tensor:
        """``(B, 4T, n_mels)`` -> ``(B, T, 4 * n_mels)``: one vector per 40 ms hop."""
        b, frames, n_mels = mel.shape
        per_hop = self.config.frontend.frames_per_hop
        if frames % per_hop:
            raise ValueError(f"{frames} mel frames is not a whole number of {per_hop}-frame hops")
        normalised: Tensor = self.norm(mel)
        return normalised.reshape(b, frames // per_hop, per_hop * n_mels)

    def represent_mel(
        self, mel: Tensor, state: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """From log-mel frames: ``(predictions, z, new_state)``."""
        h, new_state = self.encoder(torch.relu(self.stack(self._hops(mel))), state)
        z = self.translator(h)
        return self.head(z), z, new_state

    def forward(self, pcm: Tensor) -> Tensor:
        """``(B, N)`` float PCM in [-1, 1], N a multiple of 640 -> ``(B, N // 640, 2)``."""
        if pcm.shape[-1] % HOP_SAMPLES:
            raise ValueError(f"PCM length {pcm.shape[-1]} is not a multiple of {HOP_SAMPLES}")
        return self.represent_mel(self.frontend(pcm))[0]

    def initial_state(self, batch: int = 1) -> tuple[Tensor, Tensor]:
        """Streaming state: (PCM tail, recurrent state). Causal students only."""
        return self.frontend.initial_tail(batch), self.encoder.initial_state(batch)

    def step(
        self, pcm_hop: Tensor, state: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One 640-sample hop -> ``(B, 2)`` prediction and the new state."""
        tail, recurrent = state
        mel, new_tail = self.frontend.step(pcm_hop, tail)
        prediction, _, new_recurrent = self.represent_mel(mel, recurrent)
        assert new_recurrent is not None
        return prediction[:, -1], (new_tail, new_recurrent)
