"""Models of the two-stage transfer on CMU-MOSI: feature sequences in, one sentiment out.

* :class:`SegmentTeacher` — stage 1 on the stronger modality (text by default):
  standardisation -> :class:`~edge_affect_train.models.SequenceEncoder` -> masked mean over time ->
  linear -> sentiment. Its encoder sequence is the latent the student aligns to.
* :class:`FeatureStudent` — stage 2 on audio or vision *features* (not PCM; it is not
  exported to the device): standardisation -> encoder -> translation module (the
  multi-modal intermediate representation ``z`` per step) -> masked mean -> linear.

Both take ``(B, T, D)`` with a ``(B, T)`` mask of valid steps; teacher and student inputs
share the time grid (the teacher modality's steps; see :mod:`edge_affect_train.mosi_training`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from edge_affect_train.models import EncoderConfig, FeatureNorm, SequenceEncoder


@dataclass(frozen=True)
class SegmentModelConfig:
    modalities: tuple[str, ...]  # sequence names, concatenated
    input_dim: int
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(kind="bigru"))
    z_dim: int = 0  # student: the intermediate size (= the teacher latent); 0 for a teacher

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentModelConfig:
        return cls(
            modalities=tuple(d["modalities"]),
            input_dim=int(d["input_dim"]),
            encoder=EncoderConfig(**d["encoder"]),
            z_dim=int(d["z_dim"]),
        )


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """``(B, T, H)`` averaged over the valid steps of ``mask`` ``(B, T)`` -> ``(B, H)``."""
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class SegmentTeacher(nn.Module):
    def __init__(self, config: SegmentModelConfig) -> None:
        super().__init__()
        self.config = config
        self.norm = FeatureNorm(config.input_dim)
        self.encoder = SequenceEncoder(config.input_dim, config.encoder)
        self.head = nn.Linear(config.encoder.hidden, 1)

    @property
    def latent_dim(self) -> int:
        return self.config.encoder.hidden

    def represent(self, features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(sentiment (B,), latent (B, T, H))``."""
        latent, _ = self.encoder(self.norm(features), mask=mask)
        return self.head(masked_mean(latent, mask)).squeeze(-1), latent

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        return self.represent(features, mask)[0]


class FeatureStudent(nn.Module):
    def __init__(self, config: SegmentModelConfig) -> None:
        super().__init__()
        if config.z_dim <= 0:
            raise ValueError("a student needs z_dim > 0")
        self.config = config
        self.norm = FeatureNorm(config.input_dim)
        self.encoder = SequenceEncoder(config.input_dim, config.encoder)
        self.translator = nn.Sequential(
            nn.Linear(config.encoder.hidden, config.z_dim),
            nn.GELU(),
            nn.Linear(config.z_dim, config.z_dim),
        )
        self.head = nn.Linear(config.z_dim, 1)

    def represent(self, features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(sentiment (B,), z (B, T, z_dim))``."""
        h, _ = self.encoder(self.norm(features), mask=mask)
        z = self.translator(h)
        return self.head(masked_mean(z, mask)).squeeze(-1), z

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        return self.represent(features, mask)[0]


def set_normalisation(norm: FeatureNorm, sequences: list[Tensor]) -> None:
    """Per-dimension mean and std over every step of the training ``sequences``."""
    frames = torch.cat(sequences)
    norm.set_statistics(frames.mean(0), frames.std(0))
