"""``edge-affect train experiment``: teacher, then every method for every seed, one table.

Writes ``results.json`` (everything, per seed) and ``results.md`` (mean ± std of dev and test
CCC per method, the teacher row, the AVEC-style reference row when openSMILE is installed,
the per-seed transfer − baseline differences, wall time, command and machine).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from edge_affect.audio import LABEL_NAMES
from edge_affect.errors import EdgeAffectError
from edge_affect_train import reference
from edge_affect_train.data.avec import AvecCorpus
from edge_affect_train.data.mosi import is_mosi_source
from edge_affect_train.data.tensors import SessionData, hours_of_audio
from edge_affect_train.frontend import FrontendConfig
from edge_affect_train.losses import AlignKind
from edge_affect_train.models import EncoderConfig, StudentConfig
from edge_affect_train.runs import load_data, load_teacher, train_student, train_teacher
from edge_affect_train.trainer import TrainConfig, resolve_device
from edge_affect_train.transfer import METHODS, Method, TransferConfig, corpus_description

if TYPE_CHECKING:
    from edge_affect_train.mosi_experiment import MosiOptions


@dataclass(frozen=True)
class ExperimentPreset:
    name: str
    teacher_encoder: EncoderConfig
    student_encoder: EncoderConfig
    train: TrainConfig


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


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4)}


def _summarise(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split in ("dev", "test"):
        out[split] = {d: _mean_std([r["ccc"][split][d] for r in per_seed]) for d in LABEL_NAMES}
    if all("postprocessed" in r["ccc"] for r in per_seed):
        out["postprocessed"] = {
            split: {
                d: _mean_std([r["ccc"]["postprocessed"][split][d] for r in per_seed])
                for d in LABEL_NAMES
            }
            for split in ("dev", "test")
        }
    return out


def _machine(device: str) -> dict[str, Any]:
    return {
        "platform": platform.platform(terse=True),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "device": device,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


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
    log: Any,
) -> dict[str, list[dict[str, Any]]]:
    teacher = load_teacher(teacher_path)
    student_config = StudentConfig(
        FrontendConfig(), preset.student_encoder, z_dim=teacher.latent_dim
    )
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for seed in range(seeds):
        for method in methods:
            config = replace(preset.train, seed=seed)
            run = train_student(
                data,
                teacher,
                out / f"seed{seed}" / method,
                student_config,
                TransferConfig(method=method, align=align),
                config,
                splits,
            )
            record = {
                "seed": seed,
                "ccc": run.scores,
                "best_epoch": run.fit.best_epoch,
                "wall_s": round(run.fit.wall_s, 2),
            }
            results[method].append(record)
            log(
                f"seed {seed} {method:15s} test CCC arousal {run.scores['test']['arousal']:+.3f} "
                f"valence {run.scores['test']['valence']:+.3f}  ({run.fit.wall_s:.0f} s)"
            )
    return results


def run_experiment(
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
    mosi: MosiOptions | None = None,
) -> dict[str, Any]:
    """Run the whole experiment and write ``results.json`` and ``results.md`` under ``out``.

    A CMU-MOSI source (a folder of ``.csd`` files or an aligned pickle) goes to
    :func:`edge_affect_train.mosi_experiment.run_mosi_experiment` with ``mosi`` (teacher modalities
    default to ``text``); anything else is read as an AVEC 2016-layout corpus.
    """
    if is_mosi_source(data):
        from edge_affect_train import mosi_experiment  # noqa: PLC0415 - it imports this module

        if label_delay_s or postprocess:
            raise EdgeAffectError(
                "--label-delay and --postprocess are for continuous AVEC labels, not CMU-MOSI"
            )
        options = mosi or mosi_experiment.MosiOptions()
        if modalities:
            options = replace(options, teacher_modalities=modalities)
        return mosi_experiment.run_mosi_experiment(
            data, out, options, seeds, preset, device, align, methods, quiet
        )
    if mosi is not None:
        raise EdgeAffectError(
            f"{data}: MOSI options (student modality, folds, encoder) need a CMU-MOSI source "
            "(a folder of .csd files or an aligned .pkl)"
        )
    modalities = modalities or ("video_appearance",)
    if preset not in PRESETS:
        raise EdgeAffectError(
            f"unknown experiment preset {preset!r}; choose one of {', '.join(PRESETS)}"
        )
    if seeds < 1:
        raise EdgeAffectError("--seeds must be at least 1")
    chosen = PRESETS[preset]
    chosen = replace(
        chosen,
        train=replace(
            chosen.train, device=device, label_delay_s=label_delay_s, postprocess=postprocess
        ),
    )

    def log(message: str) -> None:
        if not quiet:
            print(message, flush=True)

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
        "command": " ".join(["edge-affect", *sys.argv[1:]])
        if sys.argv and "edge-affect" in sys.argv[0]
        else None,
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
        "machine": _machine(str(resolve_device(device))),
    }
    results["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(format_results(results))
    log(f"wrote {out / 'results.md'} ({results['wall_s'] / 60:.1f} min)")
    return results


def _cell(stats: dict[str, float] | float) -> str:
    if isinstance(stats, dict):
        return f"{stats['mean']:.3f} ± {stats['std']:.3f}"
    return f"{stats:.3f}"


def _row(name: str, scores: dict[str, Any]) -> str:
    cells = [_cell(scores[split][dim]) for split in ("dev", "test") for dim in LABEL_NAMES]
    return f"| {name} | " + " | ".join(cells) + " |"


def _deltas(r: dict[str, Any]) -> list[str]:
    base, tr = r["methods"]["baseline"]["per_seed"], r["methods"]["transfer"]["per_seed"]
    lines = []
    for dim in LABEL_NAMES:
        deltas = [
            t["ccc"]["test"][dim] - b["ccc"]["test"][dim] for b, t in zip(base, tr, strict=True)
        ]
        per_seed = ", ".join(f"{d:+.3f}" for d in deltas)
        lines.append(
            f"transfer − baseline, test {dim}, per seed: {per_seed} (mean {np.mean(deltas):+.3f})"
        )
    return lines


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
    corpus, machine = r["corpus"], r["machine"]
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
        f"{r['wall_s'] / 60:.1f} min on {machine['processor']} ({machine['cpu_count']} CPUs, "
        f"torch {machine['torch']}, device {machine['device']}).",
        "",
        "CCC over the concatenated sessions of each partition; students: mean ± std over seeds."
        + (
            f" Labels shifted by {r['label_delay_s']} s (delay compensation)."
            if r.get("label_delay_s")
            else ""
        ),
        "",
        "| model | dev arousal | dev valence | test arousal | test valence |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]
    if "baseline" in r["methods"] and "transfer" in r["methods"]:
        lines += [*_deltas(r), ""]
    if r.get("command"):
        lines += [f"Command: `{r['command']}`", ""]
    return "\n".join(lines)
