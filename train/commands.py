"""Primitive-argument entry points for ``edge-affect train ...`` (the CLI stays thin)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from edge_affect.audio import LABEL_RATE_HZ
from edge_affect.errors import EdgeAffectError
from edge_affect_train.checkpoint import build_student, load_checkpoint
from edge_affect_train.data import AvecCorpus
from edge_affect_train.data.tensors import SessionData
from edge_affect_train.frontend import FrontendConfig, level_normalised
from edge_affect_train.losses import ALIGN_KINDS, AlignKind
from edge_affect_train.models import ENCODER_KINDS, EncoderConfig, EncoderKind, StudentConfig
from edge_affect_train.runs import RunResult, load_data, load_teacher, train_student, train_teacher
from edge_affect_train.trainer import TrainConfig
from edge_affect_train.transfer import (
    METHODS,
    TRANSLATE_TO,
    Method,
    TransferConfig,
    TranslateTo,
)


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise EdgeAffectError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def _summary(run: RunResult) -> str:
    s = run.scores
    post = s.get("postprocessed")
    extra = ""
    if post:
        extra = (
            f"; post-processed (smoothing {post['smoothing_frames']} frames, chosen on dev): "
            f"test arousal {post['test']['arousal']:+.3f} valence {post['test']['valence']:+.3f}"
        )
    return (
        f"best epoch {run.fit.best_epoch}; CCC dev arousal {s['dev']['arousal']:+.3f} valence "
        f"{s['dev']['valence']:+.3f}; test arousal {s['test']['arousal']:+.3f} valence "
        f"{s['test']['valence']:+.3f}; {run.fit.wall_s:.0f} s, "
        f"{run.fit.audio_hours_per_minute:.2f} h of audio per minute of training"
        + extra
        + (f"; checkpoint {run.checkpoint}" if run.checkpoint else "")
    )


def labelled_subset(sessions: Sequence[object], n: int, seed: int) -> list[int]:
    """Indices of the ``n`` training sessions that keep their labels in a label-scarce run: a
    choice fixed by ``seed`` (its own random stream), so the teacher, the baseline and the
    transfer student of one seed share it."""
    if not 0 < n <= len(sessions):
        raise EdgeAffectError(
            f"--labelled {n}: the training split has {len(sessions)} sessions (give 1-"
            f"{len(sessions)}, or 0 for all)"
        )
    order = np.random.default_rng([seed, _LABELLED_STREAM]).permutation(len(sessions))
    return sorted(int(i) for i in order[:n])


#: The random stream of the labelled subset (apart from the training seed's own streams).
_LABELLED_STREAM = 0x1ABE1


def _unlabelled(session: SessionData) -> SessionData:
    return replace(session, labels=torch.full_like(session.labels, float("nan")))


def scarce_split(
    sessions: list[SessionData], config: TrainConfig, keeps_unlabelled: bool
) -> tuple[list[SessionData], TrainConfig]:
    """The training split of a label-scarce run (``config.labelled`` > 0, or the labelled
    sessions named in ``config.labelled_sessions``).

    A run that can learn without labels (translation or alignment to a teacher) keeps every
    session, the unlabelled ones with NaN labels (no task loss on them). A run that cannot
    (a baseline, a teacher) trains on the labelled sessions alone, with as many chunks per
    epoch as the whole split gives, so both take the same number of optimiser steps.
    """
    if config.labelled_sessions:
        names = [s.name for s in sessions]
        missing = sorted(set(config.labelled_sessions) - set(names))
        if missing:
            raise EdgeAffectError(
                f"labelled sessions not in the training split: {', '.join(missing)}"
            )
        keep = {i for i, name in enumerate(names) if name in config.labelled_sessions}
    elif config.labelled:
        keep = set(labelled_subset(sessions, config.labelled, config.seed))
    else:
        return sessions, config
    if keeps_unlabelled:
        return [s if i in keep else _unlabelled(s) for i, s in enumerate(sessions)], config
    chunks = _epoch_chunks(sum(s.n_frames for s in sessions), config)
    subset = [s for i, s in enumerate(sessions) if i in keep]
    return subset, replace(config, chunks_per_epoch=config.chunks_per_epoch or chunks)


def training_sessions(data: Path) -> tuple[str, ...]:
    """The names of ``data``'s training sessions (a larger corpus built on it keeps them)."""
    return tuple(s.name for s in AvecCorpus(data).split("train"))


def natural_chunks(data: Path, config: TrainConfig | None = None) -> int:
    """The chunks of one epoch over ``data``'s whole training split (what a run takes when
    ``chunks_per_epoch`` is 0; ``config``: the defaults when None): a run on a larger corpus
    given this count takes as many optimiser steps as a run on ``data``."""
    config = config or TrainConfig()
    corpus = AvecCorpus(data, label_delay_s=config.label_delay_s)
    return _epoch_chunks(sum(corpus.n_frames(s) for s in corpus.split("train")), config)


def _epoch_chunks(frames: int, config: TrainConfig) -> int:
    """Chunks of ``config.chunk_s`` that cover ``frames`` label frames once."""
    return max(1, frames // round(config.chunk_s * LABEL_RATE_HZ))


def teacher(
    data: Path,
    modalities: tuple[str, ...],
    out: Path,
    encoder: str,
    hidden: int,
    train: dict[str, Any],
) -> str:
    _check_choice(encoder, ENCODER_KINDS, "encoder")
    if not modalities:
        raise EdgeAffectError("give at least one --modality (e.g. video_appearance)")
    config = TrainConfig(**train)
    _, splits = load_data(data, modalities, FrontendConfig(), config.label_delay_s)
    splits["train"], config = scarce_split(splits["train"], config, keeps_unlabelled=False)
    run = train_teacher(
        data,
        modalities,
        out,
        EncoderConfig(kind=cast(EncoderKind, encoder), hidden=hidden),
        config,
        splits,
    )
    return "teacher: " + _summary(run)


#: The longest level normalisation time constant (an hour: beyond it, a plain running mean).
MAX_LEVEL_TAU_S = 3600.0
#: What the training split's labels are: the gold standard (the raters' mean, as a RECOLA
#: user has), or a synthetic corpus's latent truth (no rater delay or noise: the ceiling of
#: what the audio holds). Dev (model selection) and test are always scored on the gold standard.
TRAIN_LABELS = ("gold", "latent")


def latent_labels(data: Path, sessions: list[SessionData]) -> list[SessionData]:
    """``sessions`` with the synthetic corpus's latent arousal/valence as their labels."""
    out = []
    for session in sessions:
        path = data / "latent" / f"{session.name}.csv"
        if not path.is_file():
            raise EdgeAffectError(
                f"{path} is missing: --train-labels latent needs a synthetic corpus "
                "(edge-affect synth), which writes the latent truth"
            )
        latent = np.loadtxt(path, delimiter=";", skiprows=1, usecols=(1, 2), ndmin=2)
        frames = session.labels.shape[0]
        if latent.shape[0] < frames:
            raise EdgeAffectError(f"{path}: {latent.shape[0]} rows for {frames} label frames")
        labels = torch.from_numpy(latent[:frames].astype(np.float32))
        out.append(replace(session, labels=labels))
    return out


def student_run(
    data: Path,
    teacher_path: Path | None,
    method: str,
    out: Path | None,
    align: str,
    encoder: str,
    hidden: int,
    z_dim: int,
    weights: tuple[float, float],
    train: dict[str, Any],
    level_tau_s: float = 0.0,
    train_labels: str = "gold",
    translate_to: str = "features",
    distill_weight: float = 0.0,
    distill_from: Path | None = None,
) -> RunResult:
    """Check the options, load the data, train and score one student (``out``: its run folder).

    ``distill_from``: a student checkpoint whose (frozen) predictions distillation trains
    towards instead of the teacher's; it must read the same frontend as this student.
    """
    _check_choice(method, METHODS, "method")
    _check_choice(train_labels, TRAIN_LABELS, "training labels")
    _check_choice(translate_to, TRANSLATE_TO, "translation target")
    _check_choice(align, ALIGN_KINDS, "alignment")
    _check_choice(encoder, ENCODER_KINDS, "encoder")
    if not 0.0 <= level_tau_s <= MAX_LEVEL_TAU_S:
        raise EdgeAffectError(
            f"--level-tau {level_tau_s} is outside 0-{MAX_LEVEL_TAU_S:g} s (0: no level "
            "normalisation)"
        )
    if teacher_path is None and method != "baseline":
        raise EdgeAffectError(f"--method {method} needs --teacher TEACHER_CKPT")
    teacher_model = load_teacher(teacher_path) if teacher_path is not None else None
    if distill_from is not None and distill_weight <= 0:
        raise EdgeAffectError("--distill-from needs --distill-weight > 0")
    audio_teacher = (
        build_student(load_checkpoint(distill_from, kind="student"))
        if distill_from is not None
        else None
    )
    if teacher_model is not None:
        z_dim = teacher_model.latent_dim
    modalities = teacher_model.config.modalities if teacher_model is not None else ()
    config = TrainConfig(**train, train_labels=train_labels)
    transfer = TransferConfig(
        method=cast(Method, method),
        align=cast(AlignKind, align),
        translation_weight=weights[0],
        alignment_weight=weights[1],
        translate_to=cast(TranslateTo, translate_to),
        distill_weight=distill_weight,
        distill_from="audio" if audio_teacher is not None else "teacher",
    )
    frontend = level_normalised(level_tau_s) if level_tau_s > 0 else FrontendConfig()
    if audio_teacher is not None and audio_teacher.config.frontend != frontend:
        raise EdgeAffectError(
            f"--distill-from {distill_from}: that student reads another frontend than this one "
            "(give the --level-tau it was trained with)"
        )
    _, splits = load_data(data, modalities, frontend, config.label_delay_s)
    if train_labels == "latent":
        splits["train"] = latent_labels(data, splits["train"])
    learns_unlabelled = (
        transfer.uses_translation or transfer.uses_alignment or transfer.distill_weight > 0
    )
    splits["train"], config = scarce_split(splits["train"], config, learns_unlabelled)
    student_config = StudentConfig(
        frontend, EncoderConfig(kind=cast(EncoderKind, encoder), hidden=hidden), z_dim
    )
    return train_student(
        data, teacher_model, out, student_config, transfer, config, splits, audio_teacher
    )


def student_summary(method: str, run: RunResult) -> str:
    """The line ``train student`` prints for ``run``."""
    return f"student ({method}): " + _summary(run)
