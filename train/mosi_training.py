"""The two-stage transfer on CMU-MOSI segments: examples, objectives, training loop, scores.

Examples put the teacher's and the student's features of a segment on one time grid: the
steps of the first teacher sequence (words, for text), the other sequences averaged over
each step (:func:`edge_affect_train.data.mosi.on_grid`); an aligned pickle already shares one grid.
Batches are right-padded with a ``(B, T)`` mask.

The task loss is L1 on the [-3, 3] sentiment (the MOSI norm, MulT/MMSA); translation is the
masked MSE between the decoded ``z`` and the teacher's standardised features; alignment is
:func:`edge_affect_train.losses.alignment_loss` over the valid steps. Early stopping on valid MAE.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from edge_affect.errors import DataFormatError, EdgeAffectError
from edge_affect_train import checkpoint
from edge_affect_train.checkpoint import load_checkpoint
from edge_affect_train.data.mosi import SPLITS, MosiSource, Segment, on_grid, resolve
from edge_affect_train.loop import (
    MetricsFile,
    adamw,
    autocast,
    early_stopping,
    to_device,
    train_epoch,
)
from edge_affect_train.losses import alignment_loss
from edge_affect_train.mosi_metrics import sentiment_metrics
from edge_affect_train.mosi_models import FeatureStudent, SegmentModelConfig, SegmentTeacher
from edge_affect_train.trainer import TrainConfig, resolve_device
from edge_affect_train.transfer import TransferConfig, translation_decoder

M = TypeVar("M", SegmentTeacher, FeatureStudent)

TEACHER_KIND = "mosi-teacher"
STUDENT_KIND = "mosi-student"
_EVAL_BATCH = 64


@dataclass(frozen=True)
class Example:
    segment: Segment
    teacher: Tensor  # (T, D_teacher) float32
    student: Tensor  # (T, D_student) float32, same T


@dataclass(frozen=True)
class MosiData:
    name: str
    kind: str
    teacher_modalities: tuple[str, ...]
    student_modality: str
    splits: dict[str, list[Example]]
    dropped: dict[str, int]
    nonfinite: dict[str, int]

    @property
    def teacher_dim(self) -> int:
        return int(self.splits["train"][0].teacher.shape[1])

    @property
    def student_dim(self) -> int:
        return int(self.splits["train"][0].student.shape[1])

    def describe(self) -> dict[str, Any]:
        """What a model was trained on (source name only, no machine path)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "teacher_modalities": list(self.teacher_modalities),
            "student_modality": self.student_modality,
            "segments": {s: len(v) for s, v in self.splits.items()},
            "dropped_segments": self.dropped,
            "nonfinite_replaced": self.nonfinite,
        }


def load_examples(
    source: MosiSource, teacher_specs: tuple[str, ...], student_spec: str
) -> MosiData:
    """Teacher and student sequences of every segment on the first teacher sequence's grid."""
    if not teacher_specs:
        raise EdgeAffectError("give at least one teacher modality (e.g. text)")
    teacher = tuple(dict.fromkeys(resolve(source, s).name for s in teacher_specs))
    student = resolve(source, student_spec).name
    if student in teacher:
        raise EdgeAffectError(f"the student modality {student} is also a teacher modality")
    names = (*teacher, student)
    loaded = source.load(names)
    splits: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for item in loaded.items:
        arrays = on_grid(item, names, teacher[0])
        features = torch.from_numpy(np.concatenate(arrays[:-1], axis=1))
        splits[item.segment.split].append(
            Example(item.segment, features, torch.from_numpy(arrays[-1]))
        )
    for split, examples in splits.items():
        if not examples:
            raise DataFormatError(f"{source.root}: no usable {split} segments")
    return MosiData(
        source.root.name, source.kind, teacher, student, splits, loaded.dropped, loaded.nonfinite
    )


class _Examples(Dataset[Example]):
    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]


def collate(examples: list[Example]) -> dict[str, Tensor]:
    """Right-padded ``teacher``/``student`` ``(B, T, D)``, ``mask`` ``(B, T)``, ``labels``."""
    steps = max(e.teacher.shape[0] for e in examples)
    batch = len(examples)
    teacher = torch.zeros(batch, steps, examples[0].teacher.shape[1])
    student = torch.zeros(batch, steps, examples[0].student.shape[1])
    mask = torch.zeros(batch, steps, dtype=torch.bool)
    for i, e in enumerate(examples):
        n = e.teacher.shape[0]
        teacher[i, :n], student[i, :n], mask[i, :n] = e.teacher, e.student, True
    labels = torch.tensor([e.segment.label for e in examples], dtype=torch.float32)
    return {"teacher": teacher, "student": student, "mask": mask, "labels": labels}


# ---------------------------------------------------------------------- objectives


class SegmentTeacherTask(nn.Module):
    """Stage 1: L1 on the teacher's sentiment."""

    def __init__(self, teacher: SegmentTeacher) -> None:
        super().__init__()
        self.teacher = teacher

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        loss = (self.predict(batch).float() - batch["labels"]).abs().mean()
        return {"loss": loss, "task": loss}

    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        prediction: Tensor = self.teacher(batch["teacher"], batch["mask"])
        return prediction


class SegmentStudentTask(nn.Module):
    """Stage 2: L1 + translation + alignment to the frozen teacher (as the method says)."""

    def __init__(
        self, student: FeatureStudent, teacher: SegmentTeacher | None, config: TransferConfig
    ) -> None:
        super().__init__()
        self.student, self.teacher, self.config = student, teacher, config
        self.decoder = translation_decoder(config, teacher, student.config.z_dim, "a teacher")

    def train(self, mode: bool = True) -> SegmentStudentTask:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        mask = batch["mask"]
        prediction, z = self.student.represent(batch["student"], mask)
        task = (prediction.float() - batch["labels"]).abs().mean()
        out = {"task": task}
        loss = task
        if self.teacher is not None and (self.decoder is not None or self.config.uses_alignment):
            with torch.no_grad():
                _, latent = self.teacher.represent(batch["teacher"], mask)
                target = self.teacher.norm(batch["teacher"])
            if self.decoder is not None:
                error = ((self.decoder(z).float() - target) ** 2).mean(dim=-1)
                out["translation"] = error[mask].mean()
                loss = loss + self.config.translation_weight * out["translation"]
            if self.config.uses_alignment:
                out["alignment"] = alignment_loss(z, latent, self.config.align, mask=mask)
                loss = loss + self.config.alignment_weight * out["alignment"]
        out["loss"] = loss
        return out

    def predict(self, batch: dict[str, Tensor]) -> Tensor:
        prediction: Tensor = self.student(batch["student"], batch["mask"])
        return prediction


# ---------------------------------------------------------------------- loop


@dataclass
class SegmentFit:
    best_epoch: int
    valid: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


@torch.no_grad()
def predict(task: nn.Module, examples: list[Example], device: torch.device) -> np.ndarray:
    """Sentiment per example, in order."""
    was_training = task.training
    task.eval()
    out = []
    with autocast(device):
        for start in range(0, len(examples), _EVAL_BATCH):
            batch = to_device(collate(examples[start : start + _EVAL_BATCH]), device)
            out.append(task.predict(batch).float().cpu().numpy())  # type: ignore[operator]
    task.train(was_training)
    return np.concatenate(out)


def evaluate(task: nn.Module, examples: list[Example], device: torch.device) -> dict[str, float]:
    gold = np.array([e.segment.label for e in examples])
    scores = sentiment_metrics(predict(task, examples, device), gold)
    return {k: round(v, 6) for k, v in scores.items()}


def _segment_losses(model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    losses: dict[str, Tensor] = model(batch)
    return losses


def _log(metrics: MetricsFile, record: dict[str, Any], quiet: bool) -> None:
    metrics.write(record)
    if not quiet:
        print(
            f"epoch {record['epoch']:3d}  loss {record['train_loss']:.4f}  valid MAE "
            f"{record['valid_mae']:.3f}  Acc-2 {100 * record['valid_acc2_non0']:.1f}",
            flush=True,
        )


def fit_segments(
    task: nn.Module,
    train: list[Example],
    valid: list[Example],
    config: TrainConfig,
    run_dir: Path | None = None,
) -> SegmentFit:
    """Train ``task`` in place; on return it holds the weights of the lowest valid MAE."""
    device = resolve_device(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    task.to(device)
    loader = DataLoader(
        _Examples(train),
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
        collate_fn=collate,
    )
    optimizer = adamw(task, config.lr, config.weight_decay)
    metrics = MetricsFile(run_dir)

    def run_epoch(epoch: int) -> tuple[dict[str, Any], dict[str, float], float]:
        t0 = time.perf_counter()
        train_loss = train_epoch(task, loader, optimizer, config.grad_clip, device, _segment_losses)
        scores = evaluate(task, valid, device)
        record = {
            "epoch": epoch,
            "train_loss": round(train_loss, 6),
            **{f"valid_{k}": v for k, v in scores.items()},
            "epoch_s": round(time.perf_counter() - t0, 3),
        }
        return record, scores, -scores["mae"]

    started = time.perf_counter()
    stopped = early_stopping(
        task,
        config.epochs,
        config.patience,
        run_epoch,
        lambda record: _log(metrics, record, config.quiet),
        "training diverged: the valid MAE was never a finite number",
    )
    wall_s = time.perf_counter() - started
    return SegmentFit(stopped.best_epoch, stopped.best_scores, stopped.history, wall_s)


# ---------------------------------------------------------------------- runs


def score(task: nn.Module, data: MosiData, device: torch.device) -> dict[str, dict[str, float]]:
    return {split: evaluate(task, data.splits[split], device) for split in ("valid", "test")}


def save_run(
    run_dir: Path,
    kind: str,
    model: nn.Module,
    config: SegmentModelConfig,
    fit: SegmentFit,
    scores: dict[str, Any],
    extra: dict[str, Any],
) -> Path:
    """``checkpoint.pt`` (rebuilds the model alone) and ``summary.json`` in ``run_dir``."""
    metrics = {"best_epoch": fit.best_epoch, "scores": scores, "wall_s": round(fit.wall_s, 2)}
    payload = {"kind": kind, "model_config": config.to_dict(), "state_dict": model.state_dict()}
    return checkpoint.save_run(run_dir, {**payload, **extra}, metrics)


def _rebuild(path: Path, kind: str, model_type: type[M]) -> M:
    saved = load_checkpoint(path, kind=kind)
    model = model_type(SegmentModelConfig.from_dict(saved["model_config"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def build_teacher(path: Path) -> SegmentTeacher:
    return _rebuild(path, TEACHER_KIND, SegmentTeacher)


def build_student(path: Path) -> FeatureStudent:
    return _rebuild(path, STUDENT_KIND, FeatureStudent)
