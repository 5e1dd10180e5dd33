"""Plain functions behind ``edge-affect train teacher|student``: build, fit, score, save.

A run folder holds ``checkpoint.pt``, ``metrics.jsonl`` (one line per epoch) and
``summary.json`` (dev/test CCC, best epoch, wall time, throughput).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_affect.errors import EdgeAffectError
from edge_affect.scoring.metrics import ccc_per_dimension
from edge_affect_train.checkpoint import build_teacher, load_checkpoint, save_run
from edge_affect_train.data.avec import AvecCorpus
from edge_affect_train.data.mosi import is_mosi_source
from edge_affect_train.data.tensors import SessionData, load_splits
from edge_affect_train.frontend import FrontendConfig
from edge_affect_train.models import (
    AudioStudent,
    EncoderConfig,
    StudentConfig,
    Teacher,
    TeacherConfig,
)
from edge_affect_train.postprocess import apply_smoothing, choose_smoothing
from edge_affect_train.trainer import FitResult, TrainConfig, fit, predict_sessions, resolve_device
from edge_affect_train.transfer import (
    StudentTask,
    TeacherTask,
    TransferConfig,
    corpus_description,
    set_student_normalisation,
    set_teacher_normalisation,
)


@dataclass
class RunResult:
    checkpoint: Path | None
    fit: FitResult
    scores: dict[str, Any]  # split -> dimension -> CCC (+ "postprocessed" when asked for)
    task: torch.nn.Module | None = None  # the trained task (a study scores its snapshots)
    splits: dict[str, list[SessionData]] | None = None  # what it trained and was scored on


_Loaded = tuple[AvecCorpus, dict[str, list[SessionData]]]


@dataclass
class _KeptData:
    """What :func:`keep_loaded_data` keeps: (corpus folder, modalities, frontend, label
    delay) -> the corpus and its loaded splits."""

    on: bool = False
    entries: dict[tuple[str, tuple[str, ...], FrontendConfig, float], _Loaded] = field(
        default_factory=dict
    )


_KEPT = _KeptData()


def keep_loaded_data(on: bool = True) -> None:
    """From now on this process keeps every corpus it loads in memory and gives each later
    :func:`load_data` call for the same corpus and settings a deep copy.

    For a process that trains many runs on one corpus (a worker of ``train study``): loading
    decodes every session's audio, runs the frontend and parses every ARFF file, a large part
    of a short run's time. The copy is deep, so no run sees another run's changes, and its
    tensors equal a fresh load's. The corpus is assumed not to change on disk meanwhile.
    ``on=False`` forgets what was kept and loads afresh again.
    """
    _KEPT.on = on
    if not on:
        _KEPT.entries.clear()


def load_data(
    data: Path, modalities: tuple[str, ...], frontend: FrontendConfig, label_delay_s: float = 0.0
) -> tuple[AvecCorpus, dict[str, list[SessionData]]]:
    if not _KEPT.on:
        return _load_data(data, modalities, frontend, label_delay_s)
    key = (str(Path(data).resolve()), tuple(modalities), frontend, float(label_delay_s))
    if key not in _KEPT.entries:
        _KEPT.entries[key] = _load_data(data, modalities, frontend, label_delay_s)
    corpus, splits = _KEPT.entries[key]
    return corpus, copy.deepcopy(splits)


def _load_data(
    data: Path, modalities: tuple[str, ...], frontend: FrontendConfig, label_delay_s: float
) -> tuple[AvecCorpus, dict[str, list[SessionData]]]:
    if is_mosi_source(data):
        raise EdgeAffectError(
            f"{data}: a CMU-MOSI source; `train teacher` and `train student` read AVEC corpora "
            "(the audio student streams PCM). Use `train experiment --data` for MOSI"
        )
    corpus = AvecCorpus(data, label_delay_s=label_delay_s)
    for modality in modalities:
        name = modality.removeprefix("features_")
        if name not in corpus.modalities:
            raise EdgeAffectError(
                f"{data}: no modality {name!r} (has: {', '.join(corpus.modalities) or 'none'})"
            )
    return corpus, load_splits(corpus, frontend, modalities)


def score(
    task: torch.nn.Module,
    splits: dict[str, list[SessionData]],
    device: torch.device,
    postprocess: bool = False,
) -> dict[str, Any]:
    """Dev and test CCC; with ``postprocess``, also the dev-chosen smoothing and its scores."""
    raw = {split: predict_sessions(task, splits[split], device) for split in ("dev", "test")}

    def ccc_of(predictions: list[np.ndarray], golds: list[np.ndarray]) -> dict[str, float]:
        scores = ccc_per_dimension(np.concatenate(predictions), np.concatenate(golds))
        return {k: round(v, 6) for k, v in scores.items()}

    out: dict[str, Any] = {split: ccc_of(*raw[split]) for split in raw}
    if postprocess:
        windows = choose_smoothing(*raw["dev"])
        out["postprocessed"] = {
            "smoothing_frames": windows,
            **{split: ccc_of(apply_smoothing(p, windows), g) for split, (p, g) in raw.items()},
        }
    return out


def _finish(
    run_dir: Path | None,
    task: torch.nn.Module,
    result: FitResult,
    splits: dict[str, list[SessionData]],
    config: TrainConfig,
    payload: dict[str, Any],
) -> RunResult:
    scores = score(task, splits, resolve_device(config.device), config.postprocess)
    if run_dir is None or not _is_main():
        return RunResult(None, result, scores, task, splits)
    metrics = {
        "best_epoch": result.best_epoch,
        "ccc": scores,
        "wall_s": round(result.wall_s, 2),
        "audio_hours_per_minute": round(result.audio_hours_per_minute, 4),
    }
    path = save_run(run_dir, {**payload, "train_args": config.to_dict()}, metrics)
    return RunResult(path, result, scores, task, splits)


def _is_main() -> bool:
    return not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0


def train_teacher(
    data: Path,
    modalities: tuple[str, ...],
    run_dir: Path | None,
    encoder: EncoderConfig,
    config: TrainConfig,
    splits: dict[str, list[SessionData]] | None = None,
) -> RunResult:
    """Stage 1 on ``modalities`` (concatenated) of an AVEC-layout corpus."""
    if splits is None:
        _, splits = load_data(data, modalities, FrontendConfig(), config.label_delay_s)
    input_dim = splits["train"][0].features.shape[1]
    torch.manual_seed(config.seed)
    teacher = Teacher(TeacherConfig(modalities=modalities, input_dim=input_dim, encoder=encoder))
    set_teacher_normalisation(teacher, splits["train"])
    task = TeacherTask(teacher)
    result = fit(task, splits["train"], splits["dev"], config, run_dir)
    payload = {
        "kind": "teacher",
        "model_config": teacher.config.to_dict(),
        "state_dict": teacher.state_dict(),
        "corpus": corpus_description(data, modalities, splits),
    }
    return _finish(run_dir, task, result, splits, config, payload)


def load_teacher(path: Path) -> Teacher:
    return build_teacher(load_checkpoint(path, kind="teacher"))


def train_student(
    data: Path,
    teacher: Teacher | None,
    run_dir: Path | None,
    student_config: StudentConfig,
    transfer: TransferConfig,
    config: TrainConfig,
    splits: dict[str, list[SessionData]] | None = None,
    audio_teacher: AudioStudent | None = None,
) -> RunResult:
    """Stage 2: the audio student with the chosen method (``baseline`` needs no teacher);
    ``audio_teacher``: the frozen audio model whose predictions distillation trains towards
    (``transfer.distill_from == "audio"``)."""
    modalities = teacher.config.modalities if teacher is not None else ()
    if splits is None:
        _, splits = load_data(data, modalities, student_config.frontend, config.label_delay_s)
    torch.manual_seed(config.seed)
    student = AudioStudent(student_config)
    set_student_normalisation(student, splits["train"])
    task = StudentTask(student, teacher, transfer, audio_teacher)
    result = fit(task, splits["train"], splits["dev"], config, run_dir)
    payload = {
        "kind": "student",
        "model_config": student_config.to_dict(),
        "state_dict": student.state_dict(),
        "transfer": transfer.to_dict(),
        "corpus": corpus_description(data, modalities, splits),
        "teacher_config": teacher.config.to_dict() if teacher is not None else None,
    }
    if audio_teacher is not None:
        payload["audio_teacher_config"] = audio_teacher.config.to_dict()
    return _finish(run_dir, task, result, splits, config, payload)
