"""``edge-affect train experiment`` on an AVEC 2016-layout corpus: teacher, every method for
every seed, one table.

Writes ``results.json`` (everything, per seed) and ``results.md`` (mean ± std of dev and test
CCC per method, the teacher row, the AVEC-style reference row when openSMILE is installed,
the per-seed transfer − baseline differences, wall time, command and machine).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge_affect.audio import LABEL_NAMES
from edge_affect_train import reference
from edge_affect_train.data.avec import AvecCorpus
from edge_affect_train.data.tensors import SessionData, hours_of_audio
from edge_affect_train.frontend import FrontendConfig
from edge_affect_train.losses import AlignKind
from edge_affect_train.models import EncoderConfig, StudentConfig
from edge_affect_train.runs import load_data, load_teacher, train_student, train_teacher
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
from edge_affect_train.transfer import METHODS, Method, TransferConfig, corpus_description

SPLITS = ("dev", "test")

PRESETS: dict[str, ExperimentPreset] = {
    # a smoke check: `synth --preset tiny` in about a minute on 2 CPU cores
    "fast": ExperimentPreset(
        "fast",
        EncoderConfig(kind="bigru", hidden=32),
        EncoderConfig(kind="gru", hidden=32),
        TrainConfig(epochs=3, batch_size=32, chunk_s=4.0, lr=3e-3, patience=3, quiet=True),
    ),
    "full": ExperimentPreset(
        "full",
        EncoderConfig(kind="bigru", hidden=64),
        EncoderConfig(kind="gru", hidden=64),
        TrainConfig(epochs=40, batch_size=8, chunk_s=8.0, lr=1e-3, patience=10, quiet=True),
    ),
}


def _summarise(per_seed: list[Record]) -> dict[str, Any]:
    out: dict[str, Any] = summarise([r["ccc"] for r in per_seed], SPLITS, LABEL_NAMES)
    if all("postprocessed" in r["ccc"] for r in per_seed):
        post = [r["ccc"]["postprocessed"] for r in per_seed]
        out["postprocessed"] = summarise(post, SPLITS, LABEL_NAMES)
    return out


def _corpus_summary(
    data: Path, modalities: tuple[str, ...], splits: dict[str, list[SessionData]]
) -> dict[str, Any]:
    described = corpus_description(data, modalities, splits)
    described["sessions"] = {split: len(names) for split, names in described["sessions"].items()}
    described["train_audio_h"] = round(hours_of_audio(splits["train"]), 3)
    return described


def _reference_row(data: Path, out: Path, log: Any) -> dict[str, Any] | None:
    if not reference.reference_available():
        log("AVEC-style row skipped: openSMILE is not installed (pip install 'edge-affect[bench]')")
        return None
    log("AVEC-style reference: eGeMAPS functionals + linear SVR ...")
    return dict(reference.run_reference(AvecCorpus(data), cache_dir=out / "reference_cache"))


def _run_students(
    data: Path,
    out: Path,
    teacher_path: Path,
    splits: dict[str, list[SessionData]],
    preset: ExperimentPreset,
    seeds: int,
    methods: tuple[Method, ...],
    align: AlignKind,
    log: Log,
) -> dict[str, list[Record]]:
    teacher = load_teacher(teacher_path)
    student_config = StudentConfig(
        FrontendConfig(), preset.student_encoder, z_dim=teacher.latent_dim
    )

    def train_one(seed: int, method: str) -> tuple[Record, str]:
        transfer = TransferConfig(method=method, align=align)  # type: ignore[arg-type]
        config = replace(preset.train, seed=seed)
        run_dir = out / f"seed{seed}" / method
        run = train_student(data, teacher, run_dir, student_config, transfer, config, splits)
        record = {
            "seed": seed,
            "ccc": run.scores,
            "best_epoch": run.fit.best_epoch,
            "wall_s": round(run.fit.wall_s, 2),
        }
        test = run.scores["test"]
        summary = (
            f"test CCC arousal {test['arousal']:+.3f} valence {test['valence']:+.3f}  "
            f"({run.fit.wall_s:.0f} s)"
        )
        return record, summary

    return run_seeds(seeds, methods, train_one, log)


def run_avec_experiment(
    data: Path,
    out: Path,
    seeds: int = 3,
    preset: str = "fast",
    device: str = "auto",
    modalities: tuple[str, ...] | None = None,
    align: AlignKind = "cca",
    methods: tuple[Method, ...] = METHODS,
    reference: bool = True,
    quiet: bool = False,
    label_delay_s: float = 0.0,
    postprocess: bool = False,
) -> dict[str, Any]:
    """The whole AVEC experiment; writes ``results.json`` and ``results.md`` under ``out``."""
    modalities = modalities or ("video_appearance",)
    chosen = choose_preset(PRESETS, preset, seeds)
    chosen = replace(
        chosen,
        train=replace(
            chosen.train, device=device, label_delay_s=label_delay_s, postprocess=postprocess
        ),
    )
    log = progress_log(quiet)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    _, splits = load_data(data, modalities, FrontendConfig(), label_delay_s)
    log(
        f"loaded {sum(len(v) for v in splits.values())} sessions "
        f"({hours_of_audio(splits['train']):.2f} h of train audio) "
        f"in {time.perf_counter() - started:.0f} s"
    )
    teacher_run = train_teacher(
        data, modalities, out / "teacher", chosen.teacher_encoder, chosen.train, splits
    )
    log(f"teacher ({'+'.join(modalities)}) test CCC {teacher_run.scores['test']}")
    assert teacher_run.checkpoint is not None
    students = _run_students(
        data, out, teacher_run.checkpoint, splits, chosen, seeds, methods, align, log
    )
    results: dict[str, Any] = {
        "command": command_line(),
        "corpus": _corpus_summary(data, modalities, splits),
        "preset": preset,
        "seeds": seeds,
        "align": align,
        "label_delay_s": label_delay_s,
        "postprocess": postprocess,
        "teacher": {
            "modalities": list(modalities),
            "encoder": chosen.teacher_encoder.kind,
            "ccc": teacher_run.scores,
        },
        "methods": {m: {"per_seed": r, **_summarise(r)} for m, r in students.items()},
        "reference": _reference_row(data, out, log) if reference else None,
        "machine": machine(str(resolve_device(device))),
    }
    return write_results(out, results, started, format_results, log)


HEADER = ("model", "dev arousal", "dev valence", "test arousal", "test valence")


def _cell(stats: dict[str, float] | float) -> str:
    if isinstance(stats, dict):
        return f"{stats['mean']:.3f} ± {stats['std']:.3f}"
    return f"{stats:.3f}"


def _row(name: str, scores: dict[str, Any]) -> str:
    return table_row(name, [_cell(scores[split][dim]) for split in SPLITS for dim in LABEL_NAMES])


def _deltas(r: dict[str, Any]) -> list[str]:
    return [
        difference_line(f"test {dim}", seed_differences(r, "ccc", "test", dim), 3)
        for dim in LABEL_NAMES
    ]


def format_results(r: dict[str, Any]) -> str:
    """The experiment as Markdown: one row per model, mean ± std over seeds for students."""
    teacher = r["teacher"]
    rows = [
        _row(f"teacher ({'+'.join(teacher['modalities'])}, {teacher['encoder']})", teacher["ccc"])
    ]
    if "postprocessed" in teacher["ccc"]:
        rows.append(_row("teacher + dev-chosen smoothing", teacher["ccc"]["postprocessed"]))
    for method, m in r["methods"].items():
        rows.append(_row(method, m))
        if "postprocessed" in m:
            rows.append(_row(f"{method} + dev-chosen smoothing", m["postprocessed"]))
    if r.get("reference"):
        rows.append(_row("AVEC-style eGeMAPS + linear SVR", r["reference"]))
    corpus = r["corpus"]
    synthetic = corpus.get("synthetic")
    origin = (
        f"synthetic, preset {synthetic['preset']}, seed {synthetic['seed']}"
        if synthetic
        else corpus["kind"]
    )
    lines = [
        f"# Experiment on `{corpus['name']}` ({origin}; sessions {corpus['sessions']})",
        "",
        f"Preset `{r['preset']}`, {r['seeds']} seed(s), alignment `{r['align']}`, wall time "
        f"{r['wall_s'] / 60:.1f} min on {machine_line(r['machine'])}.",
        "",
        "CCC over the concatenated sessions of each partition; students: mean ± std over seeds."
        + (
            f" Labels shifted by {r['label_delay_s']} s (delay compensation)."
            if r.get("label_delay_s")
            else ""
        ),
        "",
        *table(HEADER, rows),
        "",
    ]
    if "baseline" in r["methods"] and "transfer" in r["methods"]:
        lines += [*_deltas(r), ""]
    if r.get("command"):
        lines += [f"Command: `{r['command']}`", ""]
    return "\n".join(lines)
