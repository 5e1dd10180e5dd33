"""The two-stage cross-modal transfer (Rajan, Brutti & Cavallaro, arXiv 2108.00809).

Stage 1 trains a :class:`~.models.Teacher` on a stronger modality. Stage 2 trains the
:class:`~edge_affect_train.models.AudioStudent` with, beside the task loss on its predictions,

* a **translation** loss: a decoder reconstructs the (standardised) teacher-modality
  features from the student's intermediate representation ``z`` — weak -> strong
  translation, which makes ``z`` a multi-modal representation;
* an **alignment** loss between ``z`` and the frozen teacher's latent sequence
  (``mse``, ``cosine`` or ``cca``; see :mod:`edge_affect_train.losses`).

Methods: ``baseline`` (task loss only), ``transfer`` (both), ``no-translation`` (alignment
only), ``no-alignment`` (translation only). The decoder and the teacher live here, beside
the student, so the student's ``forward`` stays audio -> predictions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import Tensor, nn

from edge_affect.errors import EdgeAffectError
from edge_affect_train.data.tensors import SessionData
from edge_affect_train.losses import ALIGN_KINDS, AlignKind, alignment_loss, task_loss
from edge_affect_train.models import AudioStudent, FeatureNorm, Teacher

Method = Literal["baseline", "transfer", "no-translation", "no-alignment"]
METHODS: tuple[Method, ...] = ("baseline", "transfer", "no-translation", "no-alignment")
#: What the translation decodes: the teacher modality's (standardised) features, as in the
#: paper, or the frozen teacher's latent sequence.
TranslateTo = Literal["features", "latent"]
TRANSLATE_TO: tuple[TranslateTo, ...] = ("features", "latent")
#: Whose predictions output distillation trains towards: the frozen teacher's (the stronger
#: modality), or a frozen audio model's (an earlier student: self-training on audio alone).
DistillFrom = Literal["teacher", "audio"]
DISTILL_FROM: tuple[DistillFrom, ...] = ("teacher", "audio")


@dataclass(frozen=True)
class TransferConfig:
    """Defaults: equal weights for task, translation and alignment, ``cca`` alignment (the
    predecessor paper aligned with a correlation-based loss); see docs/training.md."""

    method: Method = "transfer"
    align: AlignKind = "cca"
    translation_weight: float = 1.0
    alignment_weight: float = 1.0
    mse_weight: float = 0.0
    translate_to: TranslateTo = "features"
    #: > 0: on frames without labels, also 1 - CCC between the student's predictions and
    #: the frozen teacher's, times this weight (output distillation; not the paper's method)
    distill_weight: float = 0.0
    #: with ``distill_weight``: the teacher's predictions, or those of a frozen audio model
    #: given to :class:`StudentTask` (it reads the student's own log-mel input)
    distill_from: DistillFrom = "teacher"

    def __post_init__(self) -> None:
        if self.translate_to not in TRANSLATE_TO:
            raise EdgeAffectError(
                f"unknown translation target {self.translate_to!r}; choose one of "
                f"{', '.join(TRANSLATE_TO)}"
            )
        if self.method not in METHODS:
            raise EdgeAffectError(
                f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}"
            )
        if self.align not in ALIGN_KINDS:
            raise EdgeAffectError(
                f"unknown alignment {self.align!r}; choose one of {', '.join(ALIGN_KINDS)}"
            )
        if self.distill_weight < 0:
            raise EdgeAffectError("--distill-weight must not be negative")
        if self.distill_from not in DISTILL_FROM:
            raise EdgeAffectError(
                f"unknown distillation source {self.distill_from!r}; choose one of "
                f"{', '.join(DISTILL_FROM)}"
            )
        if self.distill_from == "audio" and self.distill_weight <= 0:
            raise EdgeAffectError("distilling from an audio model needs --distill-weight > 0")

    @property
    def uses_translation(self) -> bool:
        return self.method in ("transfer", "no-alignment") and self.translation_weight > 0

    @property
    def uses_alignment(self) -> bool:
        return self.method in ("transfer", "no-translation") and self.alignment_weight > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TeacherTask(nn.Module):
    """Stage 1 objective: the teacher's task loss on its modality."""

    def __init__(self, teacher: Teacher, mse_weight: float = 0.0) -> None:
        super().__init__()
        self.teacher = teacher
        self.mse_weight = mse_weight

    def forward(self, mel: Tensor, labels: Tensor, features: Tensor) -> dict[str, Tensor]:
        loss = task_loss(self.teacher(features), labels, mse_weight=self.mse_weight)
        return {"loss": loss, "task": loss}

    def predict(self, mel: Tensor, features: Tensor) -> Tensor:
        prediction: Tensor = self.teacher(features)
        return prediction


class Decoder(nn.Module):
    """Weak -> strong translation head: ``z`` -> standardised teacher-modality features."""

    def __init__(self, z_dim: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, z_dim), nn.GELU(), nn.Linear(z_dim, out_dim))

    def forward(self, z: Tensor) -> Tensor:
        out: Tensor = self.net(z)
        return out


class FrozenTeacher(Protocol):
    """What stage 2 needs of a teacher (:class:`Teacher` or a CMU-MOSI ``SegmentTeacher``)."""

    @property
    def latent_dim(self) -> int: ...
    @property
    def config(self) -> Any: ...  # its ``input_dim``: the size of the translation target
    def requires_grad_(self, requires_grad: bool = True) -> Any: ...


def translation_decoder(
    config: TransferConfig, teacher: FrozenTeacher | None, z_dim: int, missing: str
) -> Decoder | None:
    """Check that ``teacher`` fits the method and freeze it; the decoder that translation needs.

    A method that translates or aligns without a teacher is an error naming ``missing`` (what
    the user did not give); alignment needs the student's ``z_dim`` to equal the teacher's
    latent size.
    """
    if (config.uses_translation or config.uses_alignment) and teacher is None:
        raise EdgeAffectError(f"method {config.method!r} needs {missing}")
    if config.distill_weight > 0 and config.distill_from == "teacher" and teacher is None:
        raise EdgeAffectError(f"--distill-weight needs {missing}")
    if teacher is None:
        return None
    teacher.requires_grad_(False)
    if config.uses_alignment and teacher.latent_dim != z_dim:
        raise EdgeAffectError(f"student z_dim {z_dim} != teacher latent {teacher.latent_dim}")
    if not config.uses_translation:
        return None
    target = teacher.latent_dim if config.translate_to == "latent" else teacher.config.input_dim
    return Decoder(z_dim, target)


class StudentTask(nn.Module):
    """Stage 2 objective: task + translation + alignment to the frozen teacher (+ output
    distillation towards the teacher's predictions or, with ``audio_teacher``, a frozen
    audio model's, computed from the same log-mel chunks the student reads)."""

    def __init__(
        self,
        student: AudioStudent,
        teacher: Teacher | None,
        config: TransferConfig,
        audio_teacher: AudioStudent | None = None,
    ) -> None:
        super().__init__()
        self.student = student
        self.config = config
        self.teacher = teacher
        self.decoder = translation_decoder(
            config, teacher, student.config.z_dim, "a teacher checkpoint"
        )
        if (config.distill_from == "audio") != (audio_teacher is not None):
            raise EdgeAffectError(
                "distillation from an audio model needs that model (and only then is one given)"
            )
        if audio_teacher is not None:
            if audio_teacher.config.frontend != student.config.frontend:
                raise EdgeAffectError(
                    "the audio model to distil from has another frontend than the student "
                    f"({audio_teacher.config.frontend} != {student.config.frontend})"
                )
            audio_teacher.requires_grad_(False)
        self.audio_teacher = audio_teacher

    def train(self, mode: bool = True) -> StudentTask:
        super().train(mode)
        for frozen in (self.teacher, self.audio_teacher):
            if frozen is not None:
                frozen.eval()  # frozen: no dropout, fixed statistics
        return self

    def _teacher_targets(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The teacher's normalised features, latent and predictions (no gradient)."""
        assert self.teacher is not None
        norm: FeatureNorm = self.teacher.norm
        with torch.no_grad():
            predictions, latent = self.teacher.represent(features)
        return norm(features), latent, predictions

    def forward(self, mel: Tensor, labels: Tensor, features: Tensor) -> dict[str, Tensor]:
        prediction, z, _ = self.student.represent_mel(mel)
        task = self._task(prediction, labels)
        out = {"task": task}
        loss = task
        distill_teacher = self.config.distill_weight > 0 and self.audio_teacher is None
        teacher_predictions: Tensor | None = None
        if self.teacher is not None and (
            self.config.uses_translation or self.config.uses_alignment or distill_teacher
        ):
            target_features, latent, teacher_predictions = self._teacher_targets(features)
            if self.decoder is not None:
                target = latent if self.config.translate_to == "latent" else target_features
                out["translation"] = ((self.decoder(z).float() - target.float()) ** 2).mean()
                loss = loss + self.config.translation_weight * out["translation"]
            if self.config.uses_alignment:
                out["alignment"] = alignment_loss(z, latent, self.config.align)
                loss = loss + self.config.alignment_weight * out["alignment"]
        if self.config.distill_weight > 0:
            if self.audio_teacher is not None:
                with torch.no_grad():
                    teacher_predictions = self.audio_teacher.represent_mel(mel)[0]
            assert teacher_predictions is not None  # translation_decoder checked the teacher
            out["distill"] = self._distill(prediction, labels, teacher_predictions)
            loss = loss + self.config.distill_weight * out["distill"]
        out["loss"] = loss
        return out

    def _task(self, prediction: Tensor, labels: Tensor) -> Tensor:
        """The task loss over the labelled frames: sessions without labels (NaN, the
        label-scarce regime) train the translation and the alignment only."""
        labelled = ~torch.isnan(labels[..., 0])
        if bool(labelled.all()):
            return task_loss(prediction, labels, mse_weight=self.config.mse_weight)
        if not bool(labelled.any()):
            return prediction.sum() * 0.0  # no labelled chunk in this batch
        return task_loss(prediction, labels, labelled, mse_weight=self.config.mse_weight)

    def _distill(self, prediction: Tensor, labels: Tensor, teacher: Tensor) -> Tensor:
        """1 - CCC against the teacher's (or the audio model's) predictions over the frames
        without labels."""
        unlabelled = torch.isnan(labels[..., 0])
        if not bool(unlabelled.any()):
            return prediction.sum() * 0.0  # every chunk of this batch is labelled
        return task_loss(prediction, teacher.to(prediction.dtype), unlabelled)

    def predict(self, mel: Tensor, features: Tensor) -> Tensor:
        return self.student.represent_mel(mel)[0]


def set_student_normalisation(student: AudioStudent, sessions: list[SessionData]) -> None:
    mel = torch.cat([s.mel for s in sessions])
    student.norm.set_statistics(mel.mean(0), mel.std(0))


def set_teacher_normalisation(teacher: Teacher, sessions: list[SessionData]) -> None:
    features = torch.cat([s.features for s in sessions])
    teacher.norm.set_statistics(features.mean(0), features.std(0))


def corpus_description(
    root: Path, modalities: tuple[str, ...], splits: dict[str, list[SessionData]]
) -> dict[str, Any]:
    """What a model was trained on, for its checkpoint (folder name only, no machine path)."""
    manifest = root / "synth.json"
    synthetic: dict[str, Any] | None = None
    if manifest.is_file():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        synthetic = {"preset": m["preset"]["name"], "seed": m["seed"], "espeak_ng": m["espeak_ng"]}
    return {
        "name": root.name,
        "kind": "synthetic" if synthetic else "avec2016",
        "synthetic": synthetic,
        "sessions": {split: [s.name for s in sessions] for split, sessions in splits.items()},
        "teacher_modalities": list(modalities),
    }
