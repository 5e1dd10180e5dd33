"""Checkpoints that rebuild their model from themselves alone.

A checkpoint is a plain dict of primitives and tensors (``torch.load(weights_only=True)``):
``format``, ``kind`` (``teacher``/``student``), ``model_config`` (the frozen dataclasses as
dicts, frontend included), ``state_dict``, ``train_args``, ``corpus`` (what it was trained
on), ``metrics`` and, for students, ``transfer`` (method, alignment, weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect_train.models import AudioStudent, StudentConfig, Teacher, TeacherConfig

FORMAT = "edge-affect-checkpoint/1"
CHECKPOINT = "checkpoint.pt"
SUMMARY = "summary.json"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    tmp.replace(path)


def save_run(run_dir: Path, checkpoint: dict[str, Any], metrics: dict[str, Any]) -> Path:
    """A run folder's ``checkpoint.pt`` (``checkpoint`` plus ``metrics``) and ``summary.json``
    (the checkpoint's ``kind`` and ``metrics``); returns the checkpoint's path."""
    path = run_dir / CHECKPOINT
    save_checkpoint(path, {**checkpoint, "metrics": metrics})
    summary = {"kind": checkpoint["kind"], **metrics}
    (run_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return path


def load_checkpoint(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise MissingDataError(f"{p}: no such checkpoint")
    try:
        checkpoint = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a bad file
        raise DataFormatError(f"{p}: not a readable checkpoint ({type(error).__name__})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise DataFormatError(f"{p}: not an edge-affect checkpoint")
    if kind is not None and checkpoint.get("kind") != kind:
        raise DataFormatError(f"{p}: a {checkpoint.get('kind')} checkpoint, expected a {kind}")
    return checkpoint


def build_teacher(checkpoint: dict[str, Any]) -> Teacher:
    teacher = Teacher(TeacherConfig.from_dict(checkpoint["model_config"]))
    teacher.load_state_dict(checkpoint["state_dict"])
    return teacher.eval()


def build_student(checkpoint: dict[str, Any]) -> AudioStudent:
    student = AudioStudent(StudentConfig.from_dict(checkpoint["model_config"]))
    student.load_state_dict(checkpoint["state_dict"])
    return student.eval()
