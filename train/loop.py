"""The optimisation loop both training stacks run: one epoch of steps, and early stopping.

The AVEC trainer (:func:`edge_affect_train.trainer.fit`: audio chunks, CCC, DDP) and the
CMU-MOSI trainer (:func:`edge_affect_train.mosi_training.fit_segments`: padded segments,
MAE) differ in their data, their scores and what they log; each passes those in as
functions. On return the task holds the weights of its best epoch.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from edge_affect.errors import EdgeAffectError

Batch = dict[str, Tensor]
Losses = Callable[[nn.Module, Batch], dict[str, Tensor]]
"""The model's losses on a batch (already on the device): a dict with a ``"loss"`` entry."""
Epoch = Callable[[int], tuple[dict[str, Any], dict[str, float], float]]
"""Trains and evaluates one epoch: its log record, its scores, and the score to maximise."""


class MetricsFile:
    """``RUN/metrics.jsonl``, one JSON line per epoch, started empty; nothing without a run
    folder (or on a DDP rank other than 0)."""

    def __init__(self, run_dir: Path | None) -> None:
        self.path = run_dir / "metrics.jsonl" if run_dir is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("")

    def write(self, record: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")


def autocast(device: torch.device) -> Any:
    """bf16 autocast on CUDA; nothing on CPU (full float32 there)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def adamw(task: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the parameters that train (a frozen teacher's are left out)."""
    trainable = [p for p in task.parameters() if p.requires_grad]
    return torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)


def train_epoch(
    model: nn.Module,
    batches: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    grad_clip: float,
    device: torch.device,
    losses_of: Losses,
    advance: Callable[[float], None] | None = None,
) -> float:
    """One pass of optimiser steps (gradient norm clipped to ``grad_clip`` when > 0)."""
    model.train()
    losses = []
    for batch in batches:
        on_device = to_device(batch, device)
        with autocast(device):
            out = losses_of(model, on_device)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        losses.append(float(out["loss"].detach()))
        if advance is not None:
            advance(losses[-1])
    return float(np.mean(losses))


@dataclass
class Stopped:
    """Where early stopping left a run: the best epoch, its scores, every epoch's record."""

    best_epoch: int
    best_scores: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)


def early_stopping(
    task: nn.Module,
    epochs: int,
    patience: int,
    run_epoch: Epoch,
    log: Callable[[dict[str, Any]], None],
    diverged: str,
) -> Stopped:
    """Run up to ``epochs`` epochs; stop after ``patience`` without a better score.

    ``task`` gets the weights of the best epoch back; if no epoch's score beat minus
    infinity (it was never a finite number), a clear error with the message ``diverged``.
    """
    stopped = Stopped(best_epoch=-1, best_scores={})
    best_value = float("-inf")
    best_state: dict[str, Tensor] = {}
    for epoch in range(1, epochs + 1):
        record, scores, value = run_epoch(epoch)
        stopped.history.append(record)
        log(record)
        if value > best_value:
            stopped.best_epoch, stopped.best_scores, best_value = epoch, scores, value
            best_state = copy.deepcopy(task.state_dict())
        elif epoch - stopped.best_epoch >= patience:
            break
    if not best_state:
        raise EdgeAffectError(diverged)
    task.load_state_dict(best_state)
    return stopped


def average_states(states: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """The element-wise mean of ``states`` (floating tensors; others from the last state)."""
    last = states[-1]
    out: dict[str, Tensor] = {}
    for key, value in last.items():
        if value.is_floating_point():
            out[key] = torch.stack([s[key].float() for s in states]).mean(0).to(value.dtype)
        else:
            out[key] = value.clone()
    return out


def fixed_schedule(
    task: nn.Module,
    epochs: int,
    average_last: int,
    run_epoch: Epoch,
    log: Callable[[dict[str, Any]], None],
    snapshots: tuple[int, ...] = (),
) -> tuple[Stopped, dict[int, dict[str, Tensor]]]:
    """Run exactly ``epochs`` epochs (no early stopping); ``task`` ends with the average of
    the last ``average_last`` epochs' weights (checkpoint averaging).

    For each epoch in ``snapshots`` the same average as it stood after that epoch is returned
    too, so a study can choose its epoch count on dev from one run: the optimiser has no
    schedule, so a run of E epochs is the prefix of a longer run.
    """
    stopped = Stopped(best_epoch=epochs, best_scores={})
    recent: list[dict[str, Tensor]] = []
    averaged: dict[int, dict[str, Tensor]] = {}
    for epoch in range(1, epochs + 1):
        record, scores, _ = run_epoch(epoch)
        stopped.history.append(record)
        log(record)
        recent = [*recent, copy.deepcopy(task.state_dict())][-average_last:]
        if epoch in snapshots or epoch == epochs:
            averaged[epoch] = average_states(recent)
        stopped.best_scores = scores
    task.load_state_dict(averaged[epochs])
    return stopped, averaged
