"""``edge-affect train experiment`` on a CMU-MOSI source: teacher, every method x seed, tables.

Writes, under ``out``: ``teacher/`` and ``seed<k>/<method>/`` run folders (checkpoint,
metrics.jsonl, summary.json), ``results.json`` (everything, per seed) and ``results.md``
(test Acc-2 under both conventions, F1, Acc-7, MAE, Pearson r; mean ± std over seeds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from edge_affect.errors import EdgeAffectError
from edge_affect_train.data.mosi import open_mosi
from edge_affect_train.losses import AlignKind
from edge_affect_train.models import ENCODER_KINDS, EncoderConfig, EncoderKind
from edge_affect_train.mosi_metrics import METRICS
from edge_affect_train.mosi_models import (
    FeatureStudent,
    SegmentModelConfig,
    SegmentTeacher,
    set_normalisation,
)
from edge_affect_train.mosi_training import (
    STUDENT_KIND,
    TEACHER_KIND,
    MosiData,
    SegmentStudentTask,
    SegmentTeacherTask,
    build_teacher,
    fit_segments,
    load_examples,
    save_run,
    score,
)
from edge_affect_train.study import (
    ExperimentPreset,
    Log,
    Record,
    choose_preset,
    command_line,
    difference_line,
    machine,
    machine_line,
    progress_log,
    run_seeds,
    seed_differences,
    summarise,
    table,
    table_row,
    write_results,
)
from edge_affect_train.trainer import TrainConfig, resolve_device
from edge_affect_train.transfer import METHODS, Method, TransferConfig

SPLITS = ("valid", "test")

MosiPreset = ExperimentPreset  # the same fields; MOSI's presets differ only in values


PRESETS: dict[str, MosiPreset] = {
    # a smoke check on a small source in well under a minute on 2 CPU cores
    "fast": MosiPreset(
        "fast",
        EncoderConfig(kind="bigru", hidden=32),
        EncoderConfig(kind="bigru", hidden=32),
        TrainConfig(epochs=15, batch_size=16, lr=3e-3, patience=5, quiet=True),
    ),
    "full": MosiPreset(
        "full",
        EncoderConfig(kind="bigru", hidden=64),
        EncoderConfig(kind="bigru", hidden=64),
        TrainConfig(epochs=40, batch_size=32, lr=1e-3, patience=10, quiet=True),
    ),
}


@dataclass(frozen=True)
class MosiOptions:
    """What to read and which modalities play which part."""

    teacher_modalities: tuple[str, ...] = ("text",)
    student_modality: str = "audio"
    folds: Path | None = None
    unassigned: str = "error"
    encoder: str | None = None  # overrides the preset's encoders (teacher and student)


def _preset(name: str, seeds: int, device: str, encoder: str | None) -> MosiPreset:
    chosen = choose_preset(PRESETS, name, seeds)
    chosen = replace(chosen, train=replace(chosen.train, device=device))
    if encoder is None:
        return chosen
    if encoder not in ENCODER_KINDS:
        raise EdgeAffectError(
            f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODER_KINDS)}"
        )
    kind: EncoderKind = encoder
    return replace(
        chosen,
        teacher_encoder=replace(chosen.teacher_encoder, kind=kind),
        student_encoder=replace(chosen.student_encoder, kind=kind),
    )


def _train_teacher(mosi: MosiData, run_dir: Path, preset: MosiPreset) -> tuple[Path, Any]:
    config = SegmentModelConfig(mosi.teacher_modalities, mosi.teacher_dim, preset.teacher_encoder)
    torch.manual_seed(preset.train.seed)
    teacher = SegmentTeacher(config)
    set_normalisation(teacher.norm, [e.teacher for e in mosi.splits["train"]])
    task = SegmentTeacherTask(teacher)
    fit = fit_segments(task, mosi.splits["train"], mosi.splits["valid"], preset.train, run_dir)
    scores = score(task, mosi, resolve_device(preset.train.device))
    extra = {"train_args": preset.train.to_dict(), "data": mosi.describe()}
    return save_run(run_dir, TEACHER_KIND, teacher, config, fit, scores, extra), scores


def _train_student(
    mosi: MosiData,
    teacher: SegmentTeacher,
    transfer: TransferConfig,
    train: TrainConfig,
    encoder: EncoderConfig,
    run_dir: Path,
) -> dict[str, Any]:
    config = SegmentModelConfig(
        (mosi.student_modality,), mosi.student_dim, encoder, z_dim=teacher.latent_dim
    )
    torch.manual_seed(train.seed)
    student = FeatureStudent(config)
    set_normalisation(student.norm, [e.student for e in mosi.splits["train"]])
    task = SegmentStudentTask(student, teacher, transfer)
    fit = fit_segments(task, mosi.splits["train"], mosi.splits["valid"], train, run_dir)
    scores = score(task, mosi, resolve_device(train.device))
    extra = {
        "train_args": train.to_dict(),
        "data": mosi.describe(),
        "transfer": transfer.to_dict(),
        "teacher_config": teacher.config.to_dict(),
    }
    save_run(run_dir, STUDENT_KIND, student, config, fit, scores, extra)
    return {
        "seed": train.seed,
        "metrics": scores,
        "best_epoch": fit.best_epoch,
        "wall_s": round(fit.wall_s, 2),
    }


def _run_students(
    mosi: MosiData,
    out: Path,
    teacher_path: Path,
    preset: MosiPreset,
    seeds: int,
    methods: tuple[Method, ...],
    align: AlignKind,
    log: Log,
) -> dict[str, list[Record]]:
    teacher = build_teacher(teacher_path)

    def train_one(seed: int, method: str) -> tuple[Record, str]:
        record = _train_student(
            mosi,
            teacher,
            TransferConfig(method=method, align=align),  # type: ignore[arg-type]
            replace(preset.train, seed=seed),
            preset.student_encoder,
            out / f"seed{seed}" / method,
        )
        test = record["metrics"]["test"]
        summary = (
            f"test Acc-2 {100 * test['acc2_non0']:.1f}  MAE {test['mae']:.3f}  "
            f"r {test['corr']:+.3f}  ({record['wall_s']:.0f} s)"
        )
        return record, summary

    return run_seeds(seeds, methods, train_one, log)


def _summarise(per_seed: list[Record]) -> dict[str, Any]:
    return summarise([r["metrics"] for r in per_seed], SPLITS, METRICS)


def run_mosi_experiment(
    data: Path,
    out: Path,
    options: MosiOptions,
    seeds: int = 3,
    preset: str = "fast",
    device: str = "auto",
    align: AlignKind = "cca",
    methods: tuple[Method, ...] = METHODS,
    quiet: bool = False,
) -> dict[str, Any]:
    """The whole MOSI experiment; writes ``results.json`` and ``results.md`` under ``out``."""
    chosen = _preset(preset, seeds, device, options.encoder)
    log = progress_log(quiet)
    started = time.perf_counter()
    source = open_mosi(data, options.folds, options.unassigned)
    mosi = load_examples(source, options.teacher_modalities, options.student_modality)
    counts = {s: len(v) for s, v in mosi.splits.items()}
    log(f"loaded {counts} segments from {source.kind}; left out: {mosi.dropped or 'none'}")
    out.mkdir(parents=True, exist_ok=True)
    teacher_path, teacher_scores = _train_teacher(mosi, out / "teacher", chosen)
    log(f"teacher ({'+'.join(mosi.teacher_modalities)}) test {teacher_scores['test']}")
    students = _run_students(mosi, out, teacher_path, chosen, seeds, methods, align, log)
    results: dict[str, Any] = {
        "command": command_line(),
        "data": {
            **mosi.describe(),
            "folds": source.folds_source,
            "unassigned_videos": list(source.unassigned_videos),
        },
        "preset": preset,
        "seeds": seeds,
        "align": align,
        "task_loss": "l1",
        "teacher": {
            "modalities": list(mosi.teacher_modalities),
            "encoder": chosen.teacher_encoder.kind,
            "metrics": teacher_scores,
        },
        "student": {"modality": mosi.student_modality, "encoder": chosen.student_encoder.kind},
        "methods": {m: {"per_seed": r, **_summarise(r)} for m, r in students.items()},
        "machine": machine(str(resolve_device(device))),
    }
    return write_results(out, results, started, format_results, log)


# ---------------------------------------------------------------------- the table

COLUMNS = (
    ("Acc-2 has0", "acc2_has0", True),
    ("F1 has0", "f1_has0", True),
    ("Acc-2 non0", "acc2_non0", True),
    ("F1 non0", "f1_non0", True),
    ("Acc-7", "acc7", True),
    ("MAE", "mae", False),
    ("Corr", "corr", False),
)


def _cell(value: dict[str, float] | float, percent: bool) -> str:
    scale = 100.0 if percent else 1.0
    digits = 1 if percent else 3
    if isinstance(value, dict):
        return f"{scale * value['mean']:.{digits}f} ± {scale * value['std']:.{digits}f}"
    return f"{scale * value:.{digits}f}"


def _row(name: str, scores: dict[str, Any]) -> str:
    cells = [_cell(scores["valid"]["mae"], False)]
    cells += [_cell(scores["test"][key], percent) for _, key, percent in COLUMNS]
    return table_row(name, cells)


def _deltas(r: dict[str, Any]) -> list[str]:
    lines = []
    for label, key, scale in (("Acc-2 non0 (points)", "acc2_non0", 100.0), ("MAE", "mae", 1.0)):
        deltas = [scale * d for d in seed_differences(r, "metrics", "test", key)]
        lines.append(difference_line(f"test {label}", deltas, 3 if scale == 1.0 else 1))
    return lines


def format_results(r: dict[str, Any]) -> str:
    """The MOSI experiment as Markdown: test metrics, students as mean ± std over seeds."""
    d, teacher, student = r["data"], r["teacher"], r["student"]
    rows = [
        _row(
            f"teacher ({'+'.join(teacher['modalities'])}, {teacher['encoder']})", teacher["metrics"]
        )
    ]
    rows += [
        _row(f"{m} ({student['modality']}, {student['encoder']})", v)
        for m, v in r["methods"].items()
    ]
    segments = "/".join(str(d["segments"][s]) for s in ("train", "valid", "test"))
    lines = [
        f"# CMU-MOSI experiment on `{d['name']}` ({d['kind']}; train/valid/test segments "
        f"{segments}; folds: {d['folds']})",
        "",
        f"Preset `{r['preset']}`, {r['seeds']} seed(s), alignment `{r['align']}`, task loss "
        f"L1; wall time {r['wall_s'] / 60:.1f} min on {machine_line(r['machine'])}.",
        "",
        "Test partition unless named; students: mean ± std over seeds; model selection on "
        "valid MAE. Acc-2 and F1 (weighted) in %: has0 = negative vs non-negative, non0 = "
        "negative vs positive without the segments labelled 0. Acc-7 in %; MAE and Pearson "
        "r on the [-3, 3] scale.",
        "",
        *table(["model", "valid MAE", *(c[0] for c in COLUMNS)], rows),
        "",
    ]
    if "baseline" in r["methods"] and "transfer" in r["methods"]:
        lines += [*_deltas(r), ""]
    if d["dropped_segments"] or any(d["nonfinite_replaced"].values()):
        lines += [
            f"Segments left out: {d['dropped_segments'] or 'none'}; non-finite feature values "
            f"replaced by 0: {d['nonfinite_replaced']}.",
            "",
        ]
    if r.get("command"):
        lines += [f"Command: `{r['command']}`", ""]
    return "\n".join(lines)
