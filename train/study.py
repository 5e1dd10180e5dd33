"""What the AVEC and the CMU-MOSI experiments share: presets, the seeds x methods runner,
mean ± std over seeds, the machine description and the results files.

Each experiment (:mod:`edge_affect_train.avec_experiment`,
:mod:`edge_affect_train.mosi_experiment`) supplies its own training of one student and its
own table columns; the shapes around them live here.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from edge_affect.errors import EdgeAffectError
from edge_affect_train.models import EncoderConfig
from edge_affect_train.trainer import TrainConfig

Log = Callable[[str], None]
Record = dict[str, Any]
TrainOne = Callable[[int, str], tuple[Record, str]]
"""Trains one student for ``(seed, method)``; returns its record and a one-line summary."""

P = TypeVar("P")


@dataclass(frozen=True)
class ExperimentPreset:
    """The encoders and the training settings of one named experiment size."""

    name: str
    teacher_encoder: EncoderConfig
    student_encoder: EncoderConfig
    train: TrainConfig


def choose_preset(presets: Mapping[str, P], name: str, seeds: int) -> P:
    """The preset called ``name``; a clear error for an unknown name or fewer than one seed."""
    if name not in presets:
        raise EdgeAffectError(
            f"unknown experiment preset {name!r}; choose one of {', '.join(presets)}"
        )
    if seeds < 1:
        raise EdgeAffectError("--seeds must be at least 1")
    return presets[name]


def progress_log(quiet: bool) -> Log:
    """A function that prints a progress line unless ``quiet``."""

    def log(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    return log


def run_seeds(
    seeds: int, methods: Sequence[str], train_one: TrainOne, log: Log
) -> dict[str, list[Record]]:
    """Every method for seeds ``0 .. seeds-1`` (seed-major); per method, the records in order."""
    results: dict[str, list[Record]] = {m: [] for m in methods}
    for seed in range(seeds):
        for method in methods:
            record, summary = train_one(seed, method)
            results[method].append(record)
            log(f"seed {seed} {method:15s} {summary}")
    return results


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and (population) standard deviation, rounded to 4 decimals."""
    return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4)}


def summarise(
    scores: Sequence[Mapping[str, Mapping[str, float]]],
    splits: Sequence[str],
    names: Sequence[str],
) -> dict[str, dict[str, dict[str, float]]]:
    """``split -> name -> mean ± std`` over the per-seed ``split -> name -> value`` scores."""
    return {
        split: {name: mean_std([s[split][name] for s in scores]) for name in names}
        for split in splits
    }


def seed_differences(
    results: Mapping[str, Any], scores_key: str, split: str, name: str
) -> list[float]:
    """Per seed, transfer's score minus baseline's (``results["methods"]`` as written)."""
    base = results["methods"]["baseline"]["per_seed"]
    transfer = results["methods"]["transfer"]["per_seed"]
    return [
        t[scores_key][split][name] - b[scores_key][split][name]
        for b, t in zip(base, transfer, strict=True)
    ]


def difference_line(label: str, deltas: Sequence[float], digits: int) -> str:
    """``transfer − baseline, <label>, per seed: +a, +b (mean +m)``."""
    per_seed = ", ".join(f"{d:+.{digits}f}" for d in deltas)
    return (
        f"transfer − baseline, {label}, per seed: {per_seed} (mean {np.mean(deltas):+.{digits}f})"
    )


def machine(device: str) -> dict[str, Any]:
    """Platform, CPU count, torch version and the device a run used."""
    return {
        "platform": platform.platform(terse=True),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "device": device,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def machine_line(described: Mapping[str, Any]) -> str:
    """``x86_64 (2 CPUs, torch 2.x, device cpu)`` from :func:`machine`'s description."""
    return (
        f"{described['processor']} ({described['cpu_count']} CPUs, "
        f"torch {described['torch']}, device {described['device']})"
    )


def command_line() -> str | None:
    """The ``edge-affect ...`` command that runs this process, when it was that command."""
    if sys.argv and "edge-affect" in sys.argv[0]:
        return " ".join(["edge-affect", *sys.argv[1:]])
    return None


def table_row(name: str, cells: Iterable[str]) -> str:
    """One Markdown table row: the model's name, then its cells."""
    return f"| {name} | " + " | ".join(cells) + " |"


def table(columns: Sequence[str], rows: Iterable[str]) -> list[str]:
    """A Markdown table's lines: header, separator, the given rows."""
    return ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|", *rows]


def write_results(
    out: Path,
    results: dict[str, Any],
    started: float,
    format_results: Callable[[dict[str, Any]], str],
    log: Log,
) -> dict[str, Any]:
    """Add the wall time since ``started``; write ``results.json`` and ``results.md``."""
    results["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(format_results(results))
    log(f"wrote {out / 'results.md'} ({results['wall_s'] / 60:.1f} min)")
    return results
