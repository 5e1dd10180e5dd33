"""Training losses: the CCC task loss and the latent alignment losses.

* Task: ``1 - CCC`` per dimension, averaged over arousal and valence, with CCC computed over
  every frame of the batch (the partition-level statistic AVEC scores), optionally ``+ MSE``.
* Alignment between the student's intermediate representation ``z`` and the frozen teacher's
  latent ``t`` (both ``(batch, time, dim)``):

  - ``mse``: mean squared difference;
  - ``cosine``: ``1 - cos(z, t)`` per frame, averaged;
  - ``cca``: a differentiable correlation loss in the spirit of SEW / soft CCA (Chang et al.,
    "Scalable and Effective Deep CCA via Soft Decorrelation", CVPR 2018): each view is
    standardised per dimension over all frames of the batch, the distance between the
    standardised views (``= 2 (1 - mean correlation)``) is minimised, and a soft
    decorrelation penalty (mean absolute off-diagonal correlation of each view) keeps the
    dimensions from collapsing onto one direction. It is invariant to scale and offset, so
    the student need not reproduce the teacher's magnitudes, only its co-variation.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

AlignKind = Literal["mse", "cosine", "cca"]
ALIGN_KINDS: tuple[AlignKind, ...] = ("mse", "cosine", "cca")
_EPS = 1e-6


def _flatten(x: Tensor, mask: Tensor | None) -> Tensor:
    """``(B, T, D)`` -> ``(frames, D)``, keeping only frames where ``mask`` is true."""
    flat = x.reshape(-1, x.shape[-1])
    if mask is None:
        return flat
    return flat[mask.reshape(-1)]


def ccc_per_dim(prediction: Tensor, gold: Tensor, mask: Tensor | None = None) -> Tensor:
    """CCC of each last-axis dimension over all (masked) frames; shape ``(D,)``."""
    p = _flatten(prediction.float(), mask)
    g = _flatten(gold.float(), mask)
    pm, gm = p.mean(0), g.mean(0)
    pv = ((p - pm) ** 2).mean(0)
    gv = ((g - gm) ** 2).mean(0)
    cov = ((p - pm) * (g - gm)).mean(0)
    return 2 * cov / (pv + gv + (pm - gm) ** 2 + _EPS)


def task_loss(
    prediction: Tensor, gold: Tensor, mask: Tensor | None = None, mse_weight: float = 0.0
) -> Tensor:
    """``mean(1 - CCC)`` over dimensions, plus ``mse_weight * MSE``."""
    loss = (1 - ccc_per_dim(prediction, gold, mask)).mean()
    if mse_weight:
        p, g = _flatten(prediction.float(), mask), _flatten(gold.float(), mask)
        loss = loss + mse_weight * ((p - g) ** 2).mean()
    return loss


def _standardise(x: Tensor) -> Tensor:
    return (x - x.mean(0)) / (x.std(0, unbiased=False) + _EPS)


def _soft_decorrelation(x: Tensor) -> Tensor:
    """Mean absolute off-diagonal correlation of standardised ``x`` (frames, D)."""
    d = x.shape[1]
    if d < 2:
        return x.new_zeros(())
    corr = x.T @ x / x.shape[0]
    off = corr - torch.diag(torch.diagonal(corr))
    return off.abs().sum() / (d * (d - 1))


def alignment_loss(
    z: Tensor,
    t: Tensor,
    kind: AlignKind = "cca",
    mask: Tensor | None = None,
    decorrelation_weight: float = 0.1,
) -> Tensor:
    """Alignment between student representation ``z`` and teacher latent ``t``."""
    if z.shape != t.shape:
        raise ValueError(f"alignment needs equal shapes, got {tuple(z.shape)} and {tuple(t.shape)}")
    zf, tf = _flatten(z.float(), mask), _flatten(t.float(), mask)
    if kind == "mse":
        return ((zf - tf) ** 2).mean()
    if kind == "cosine":
        return (1 - torch.nn.functional.cosine_similarity(zf, tf, dim=1, eps=_EPS)).mean()
    if kind == "cca":
        zs, ts = _standardise(zf), _standardise(tf)
        distance = ((zs - ts) ** 2).mean()
        penalty = _soft_decorrelation(zs) + _soft_decorrelation(ts)
        return distance + decorrelation_weight * penalty
    raise ValueError(f"unknown alignment {kind!r}; choose one of {', '.join(ALIGN_KINDS)}")
