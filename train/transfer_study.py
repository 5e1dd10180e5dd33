"""``edge-affect train study``: the transfer study of docs/results/protocol.md, resumable.

The study is a grid of *cells* (a regime and a method) times *seeds*. Each finished
(cell, seed) run writes one small JSON result file (dev and test CCC of its checkpoint
averages at every snapshot epoch, and the per-session sums the test CCC is made of); a run
whose result file exists is not run again, so a study stopped at any point continues where
it stopped, and the table is assembled from the files alone:

* **Paired seeds.** A cell is compared with its *reference* cell (the baseline of its
  regime) seed by seed: same seed, same labelled speakers, same teacher.
* **A fixed schedule chosen on dev.** Every run trains ``epochs`` epochs with no early
  stopping and keeps the average of the last ``average_last`` epochs' weights at each
  snapshot epoch. A cell's epoch count is the snapshot with the best dev CCC (mean of
  arousal and valence) averaged over its seeds: one choice per cell, on dev only.
* **The interval.** The 95 % interval of the mean paired test difference is a bootstrap over
  seeds and, within each seed, over test sessions (the same resampled sessions for both
  members of a pair); the CCC of a resample is computed over the concatenation of its
  sessions, from per-session sums, as the AVEC scoring concatenates. Beside it, the
  *crossed* interval draws the test sessions once per resample for every seed, as every
  seed is scored on the same sessions (:func:`paired_difference`).

Teachers are trained once per (kind, labelled speakers, seed, training seed: the seed itself
except in the ``*-reseed`` cells) and kept under the runs folder
(not in the results: a rerun retrains them identically on the same machine). Each run's
folder there also keeps its snapshots' weights (``snapshots.pt``), so its students can be
scored again on more test sessions without training them again.

* **One machine per table.** Every result file names its CPU (and its GPU, for runs with
  ``device="cuda"``); a results folder takes runs from that machine only
  (:func:`check_one_cpu`), or from a CPU that joined it by recomputing its first runs bit
  for bit (:func:`join_table`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.errors import EdgeAffectError

DIMENSIONS = ("arousal", "valence")
#: The environment every study process runs under: one thread, and the float code paths
#: pinned where a library lets us (ATen's generic kernels instead of its AVX2/AVX-512
#: dispatch; MKL's conditional numerical reproducibility mode). Set before torch is imported.
PINNED_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
}
TEACHER_MODALITY = "features_video_appearance"
BOOTSTRAP_RESAMPLES = 10_000


@dataclass(frozen=True)
class Cell:
    """One row of the study: a regime and a method, compared with ``reference``."""

    name: str
    method: str = "transfer"
    reference: str = "all/baseline"
    labelled: int = 0  # labelled training speakers (0: all)
    teacher: str = "bigru"  # the teacher's encoder: bigru or gru (causal)
    align: str = "cca"
    alignment_weight: float = 1.0
    translate_to: str = "features"
    train_labels: str = "gold"
    #: > 0: train on the study corpus plus this many extra training sessions (``synth
    #: --extra-train``, the study's ``--more-data`` corpus), with as many optimiser steps
    #: per epoch as the study corpus gives
    extra_train: int = 0
    #: with ``extra_train``: only the study corpus's training sessions keep their labels
    #: (with ``labelled``, only the ones its scarce-N cells label); the extra ones train
    #: without the task loss
    unlabelled_extra: bool = False
    #: with ``unlabelled_extra``, > 0: mixed batches instead of the study corpus's steps
    #: rule: every batch is the batch of the twin on the study corpus (all labels, or with
    #: ``labelled`` the label-scarce twin's) plus this many chunks of the extra sessions
    unlabelled_per_batch: int = 0
    #: > 0: output distillation on the unlabelled chunks (1 - CCC against the teacher's
    #: predictions, this weight; ``TransferConfig.distill_weight``)
    distill_weight: float = 0.0
    #: with ``distill_weight``: whose predictions are the targets, the video ``teacher``'s or
    #: the frozen audio ``baseline``'s (this seed's ``scarce-N/baseline`` run of the table, its
    #: averaged weights at :func:`audio_teacher_epoch`; :func:`ensure_audio_teacher`)
    distill_from: str = "teacher"
    #: a headroom measurement (latent-truth labels or more data), not a method: never the
    #: dev winner, never "the target met"
    ceiling: bool = False
    #: > 0: a seed's two parts taken apart. The labelled speakers stay the draw of the seed
    #: (as in the cell without it); everything else the seed fixes (the initial weights, the
    #: batch order, the teacher's own training) comes from ``seed + init_offset`` instead
    init_offset: int = 0

    @property
    def file_stem(self) -> str:
        return cell_stem(self.name)

    def train_seed(self, seed: int) -> int:
        """The seed the runs of ``seed`` train with (initial weights, batches, teacher)."""
        return seed + self.init_offset


def cell_stem(name: str) -> str:
    """A cell's name as a file or folder name (``all/transfer`` -> ``all--transfer``)."""
    return name.replace("/", "--")


def _cells() -> list[Cell]:
    cells = [
        Cell("all/baseline", method="baseline", reference=""),
        Cell("all/transfer"),
        Cell("all/ceiling", method="baseline", train_labels="latent", ceiling=True),
        # added after the first block of design cells (docs/results/protocol.md, "Changes
        # after the first run"): the second headroom figure
        Cell(
            "all/ceiling-data",
            method="baseline",
            extra_train=MORE_DATA_EXTRA_TRAIN,
            ceiling=True,
        ),
    ]
    for n in SCARCE_SPEAKERS:
        cells.append(Cell(f"scarce-{n}/baseline", method="baseline", reference="", labelled=n))
        cells.append(Cell(f"scarce-{n}/transfer", reference=f"scarce-{n}/baseline", labelled=n))
    cells += [
        Cell("design/teacher-causal", teacher="gru"),
        Cell("design/align-mse", align="mse"),
        Cell("design/align-cosine", align="cosine"),
        Cell("design/align-cca-w0.3", alignment_weight=0.3),
        Cell("design/align-cca-w3", alignment_weight=3.0),
        Cell("design/translate-latent", translate_to="latent"),
        Cell("design/no-alignment", method="no-alignment"),
        Cell("design/no-translation", method="no-translation"),
    ]
    # added after the first block of design cells (docs/results/protocol.md, "Changes after
    # the first run"): the label-scarce curve with the alignment dev preferred
    cells += [
        Cell(f"scarce-{n}/align-mse", reference=f"scarce-{n}/baseline", labelled=n, align="mse")
        for n in SCARCE_SPEAKERS
    ]
    # added after all/ceiling-data on 180 test sessions (docs/results/protocol.md, "the
    # more/* cells"): the 18 labelled speakers plus the data ceiling's extra speakers, seen
    # only through the teacher's modality
    cells += [
        Cell(name, align=align, extra_train=MORE_DATA_EXTRA_TRAIN, unlabelled_extra=True)
        for name, align in (("more/transfer", "cca"), ("more/align-mse", "mse"))
    ]
    # added after seeds 0-3 of the more/* cells (docs/results/protocol.md, "the mixed/*
    # cells"): the all-labels twin's batches, each with as many unlabelled chunks again
    cells += [
        Cell(
            name,
            align=align,
            extra_train=MORE_DATA_EXTRA_TRAIN,
            unlabelled_extra=True,
            unlabelled_per_batch=MIXED_UNLABELLED_PER_BATCH,
        )
        for name, align in (("mixed/align-mse", "mse"), ("mixed/transfer", "cca"))
    ]
    # added after the mixed/* cells (docs/results/protocol.md, "the mixed/align-mse-distill
    # cell"): the teacher's predictions as targets on the unlabelled speakers
    cells.append(
        Cell(
            "mixed/align-mse-distill",
            align="mse",
            extra_train=MORE_DATA_EXTRA_TRAIN,
            unlabelled_extra=True,
            unlabelled_per_batch=MIXED_UNLABELLED_PER_BATCH,
            distill_weight=1.0,
        )
    )
    # added after the label-scarce cells had 15 seeds (docs/results/protocol.md, "the
    # teacher's predictions as targets on the label-scarce curve"): scarce-N/align-mse plus
    # output distillation on the speakers without labels; 9 first, the order they run in
    cells += [
        Cell(
            f"scarce-{n}/align-mse-distill",
            reference=f"scarce-{n}/baseline",
            labelled=n,
            align="mse",
            distill_weight=1.0,
        )
        for n in reversed(SCARCE_SPEAKERS)
    ]
    # added after the label-scarce cells had 25 seeds and the run-folder analysis of their
    # distillation (docs/results/protocol.md, "the label-scarce distillation on more speakers
    # without labels"): the twin's batches plus chunks of the 54 extra speakers, unlabelled
    cells += [
        Cell(
            f"scarce-{n}/mixed-align-mse-distill",
            reference=f"scarce-{n}/baseline",
            labelled=n,
            align="mse",
            extra_train=MORE_DATA_EXTRA_TRAIN,
            unlabelled_extra=True,
            unlabelled_per_batch=MIXED_UNLABELLED_PER_BATCH,
            distill_weight=1.0,
        )
        for n in reversed(SCARCE_SPEAKERS)
    ]
    # added after scarce-N/mixed-align-mse-distill had 25 seeds (docs/results/protocol.md,
    # "whose predictions give the gain"): that cell with the frozen audio baseline's
    # predictions as the distillation targets instead of the video teacher's
    twins = {cell.name: cell for cell in cells}
    cells += [
        replace(
            twins[f"scarce-{n}/mixed-align-mse-distill"],
            name=f"scarce-{n}/mixed-align-mse-selfdistill",
            distill_from="baseline",
        )
        for n in reversed(SCARCE_SPEAKERS)
    ]
    # added after the third CPU's table reached 20 seeds (docs/results/protocol.md, "which
    # part of a seed decides the label-scarce gain"): the baseline and the distillation
    # with each seed's labelled speakers and another training seed
    cells += [
        replace(
            twins[name],
            name=f"{name}-reseed",
            reference=f"{twins[name].reference}-reseed" if twins[name].reference else "",
            init_offset=RESEED_OFFSET,
        )
        for n in reversed(SCARCE_SPEAKERS)
        for name in (f"scarce-{n}/baseline", f"scarce-{n}/mixed-align-mse-distill")
    ]
    return cells


#: The training seed of a ``*-reseed`` cell's seed ``s`` is ``s`` plus this (no table has
#: reached seed 1000).
RESEED_OFFSET = 1000


#: The unlabelled chunks a ``mixed/*`` batch adds to the labelled batch (as many as it has).
MIXED_UNLABELLED_PER_BATCH = 8


#: The extra training sessions of ``all/ceiling-data``: 3 x the study's 18 (72 speakers).
MORE_DATA_EXTRA_TRAIN = 54


#: The label-scarce learning curve (18 labelled = the "all" regime of the recola preset).
SCARCE_SPEAKERS = (2, 4, 9)
#: The snapshot epoch of ``scarce-N/baseline`` whose weights a ``distill_from="baseline"``
#: cell distils from: the one the 25-seed table chose for that baseline on dev (protocol.md).
SELF_DISTILL_EPOCH = {9: 10, 4: 25, 2: 20}
CELLS: dict[str, Cell] = {cell.name: cell for cell in _cells()}


@dataclass(frozen=True)
class Plan:
    """The training settings every run of the study shares."""

    epochs: int = 25
    average_last: int = 5
    snapshots: tuple[int, ...] = (10, 15, 20, 25)
    level_tau_s: float = 60.0
    hidden: int = 64
    teacher_epochs: int = 40  # teachers: early stopping on dev (stage 1 as the paper)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: ``full``: the study's settings. ``smoke``: a few epochs of a narrow model, for tests and a
#: first look at a new corpus (its numbers mean nothing).
PLANS = {
    "full": Plan(),
    "smoke": Plan(epochs=4, average_last=2, snapshots=(2, 4), hidden=16, teacher_epochs=3),
}


#: in each run's folder: ``{epoch: state_dict}`` of the student task at every snapshot epoch
SNAPSHOT_WEIGHTS = "snapshots.pt"


def result_path(results: Path, cell: Cell, seed: int) -> Path:
    return results / result_file_name(cell.name, seed)


def result_file_name(cell_name: str, seed: int) -> str:
    return f"{cell_stem(cell_name)}--s{seed}.json"


def session_sums(prediction: np.ndarray, gold: np.ndarray) -> list[list[float]]:
    """Per dimension ``[n, sum p, sum g, sum p^2, sum g^2, sum p g]`` (float64): enough to
    compute the CCC of any concatenation of sessions exactly."""
    p = prediction.astype(np.float64)
    g = gold.astype(np.float64)
    n = min(len(p), len(g))
    p, g = p[:n], g[:n]
    return [
        [
            float(n),
            *(float(v.sum()) for v in (p[:, d], g[:, d], p[:, d] ** 2, g[:, d] ** 2)),
            float((p[:, d] * g[:, d]).sum()),
        ]
        for d in range(p.shape[1])
    ]


def ccc_from_sums(sums: np.ndarray) -> np.ndarray:
    """CCC from summed ``[..., 6]`` moments (the last axis as :func:`session_sums`)."""
    n, sp, sg, spp, sgg, spg = (sums[..., i] for i in range(6))
    mp, mg = sp / n, sg / n
    vp = spp / n - mp**2
    vg = sgg / n - mg**2
    cov = spg / n - mp * mg
    out: np.ndarray = 2 * cov / (vp + vg + (mp - mg) ** 2)
    return out


# ---------------------------------------------------------------------------------- running


def _teacher_dir(
    runs: Path,
    kind: str,
    labelled: int,
    seed: int,
    device: str = "cpu",
    train_seed: int | None = None,
) -> Path:
    # a CUDA teacher is another teacher (other float paths): it never stands in for a CPU one
    suffix = "" if device == "cpu" else f"-{device}"
    # a teacher of seed's labelled speakers that trains with another seed is another teacher
    reseeded = "" if train_seed in (None, seed) else f"-t{train_seed}"
    return runs / "teachers" / f"{kind}-l{labelled}-s{seed}{reseeded}{suffix}"


def labelled_names(data: Path, cell: Cell, seed: int) -> tuple[str, ...]:
    """The training sessions of ``data`` that keep their labels in ``cell``'s runs of
    ``seed``: the label-scarce draw of ``seed`` (:func:`commands.labelled_subset`)."""
    from edge_affect_train import commands  # noqa: PLC0415 - torch, in the worker only

    names = commands.training_sessions(data)
    return tuple(names[i] for i in commands.labelled_subset(names, cell.labelled, seed))


def _ensure_teacher(
    data: Path, runs: Path, cell: Cell, seed: int, plan: Plan, device: str = "cpu"
) -> Path:
    from edge_affect_train import commands  # noqa: PLC0415 - torch, in the worker only

    train_seed = cell.train_seed(seed)
    run_dir = _teacher_dir(runs, cell.teacher, cell.labelled, seed, device, train_seed)
    checkpoint = run_dir / "checkpoint.pt"
    if checkpoint.is_file():
        return checkpoint
    if cell.init_offset:
        # seed's labelled speakers by name; everything else from the training seed
        names = labelled_names(data, cell, seed)
        args = _train_args(train_seed, plan.teacher_epochs, device=device, labelled_sessions=names)
    else:
        args = _train_args(seed, plan.teacher_epochs, labelled=cell.labelled, device=device)
    commands.teacher(data, (TEACHER_MODALITY,), run_dir, cell.teacher, plan.hidden, args)
    return checkpoint


def _train_args(
    seed: int, epochs: int, labelled: int = 0, device: str = "cpu", **extra: Any
) -> dict[str, Any]:
    return {
        "epochs": epochs,
        "seed": seed,
        "device": device,
        "threads": 1,
        "quiet": True,
        "labelled": labelled,
        **extra,
    }


def run_one(
    data: Path,
    runs: Path,
    results: Path,
    cell_name: str,
    seed: int,
    plan: Plan,
    more_data: Path | None = None,
    device: str = "cpu",
) -> str:
    """Train one (cell, seed) and write its result file; returns a one-line summary.

    A cell with ``extra_train`` trains on ``more_data`` (checked by :func:`check_more_data`)
    with as many chunks per epoch as ``data``'s training split gives; with
    ``unlabelled_per_batch``, each batch is the batch of a run on ``data``'s training split
    plus that many chunks of the extra (unlabelled) sessions.
    """
    import torch  # noqa: PLC0415 - in the worker only

    from edge_affect_train import commands  # noqa: PLC0415
    from edge_affect_train.study import machine  # noqa: PLC0415

    torch.use_deterministic_algorithms(True)
    cell = CELLS[cell_name]
    started = time.perf_counter()
    teacher = (
        None if cell.method == "baseline" else _ensure_teacher(data, runs, cell, seed, plan, device)
    )
    extra: dict[str, Any] = {}
    train_data = data
    if cell.extra_train:
        if more_data is None:
            raise EdgeAffectError(f"{cell.name} needs --more-data")
        train_data = more_data
        labelled = commands.training_sessions(data)
        if cell.unlabelled_extra and cell.labelled:
            # the label-scarce twin's labelled speakers, drawn among the study corpus's
            # training sessions as its scarce-N cells draw them; its batches as the twin's
            extra["batch_sessions"] = labelled
            labelled = labelled_names(data, cell, seed)
        if cell.unlabelled_extra:
            extra["labelled_sessions"] = labelled
        if cell.unlabelled_per_batch:
            # the labelled loader draws as the all-labels twin's does, steps included
            extra["unlabelled_per_batch"] = cell.unlabelled_per_batch
        else:
            extra["chunks_per_epoch"] = commands.natural_chunks(data)
    elif cell.init_offset and cell.labelled:
        extra["labelled_sessions"] = labelled_names(data, cell, seed)
    args = _train_args(
        cell.train_seed(seed),
        plan.epochs,
        0 if "labelled_sessions" in extra else cell.labelled,
        device,
        average_last=plan.average_last,
        snapshots=plan.snapshots,
        **extra,
    )
    run_dir = runs / cell.file_stem / f"s{seed}"
    audio_teacher = None
    if cell.distill_from == "baseline":
        audio_teacher = ensure_audio_teacher(data, runs, results, cell, seed, plan, device)
    run = commands.student_run(
        train_data,
        teacher,
        cell.method,
        run_dir,
        cell.align,
        "gru",
        plan.hidden,
        plan.hidden,
        (1.0, cell.alignment_weight),
        args,
        plan.level_tau_s,
        cell.train_labels,
        cell.translate_to,
        cell.distill_weight,
        audio_teacher,
    )
    assert run.task is not None
    assert run.splits is not None
    splits = run.splits
    snapshots = score_snapshots(run.task, run.fit.snapshots, splits, device)
    # every snapshot's averaged weights, so the students can be scored again (on a larger
    # test split) without training them again
    torch.save(dict(run.fit.snapshots), run_dir / SNAPSHOT_WEIGHTS)
    record = {
        "cell": asdict(cell),
        "seed": seed,
        "plan": plan.to_dict(),
        "corpus": _corpus_id(train_data),
        "test_sessions": [s.name for s in splits["test"]],
        "snapshots": snapshots,
        "wall_s": round(time.perf_counter() - started, 1),
        "machine": {**machine(device), "cpu": _cpu()},
        "env": {k: os.environ.get(k) for k in PINNED_ENV},
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if cell.init_offset:
        record["train_seed"] = cell.train_seed(seed)
        record["labelled_sessions"] = list(args["labelled_sessions"])
    if audio_teacher is not None:
        record["audio_teacher"] = {
            "cell": f"scarce-{cell.labelled}/baseline",
            "seed": seed,
            "epoch": audio_teacher_epoch(cell.labelled, plan),
        }
    path = result_path(results, cell, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    tmp.replace(path)
    last = snapshots[str(plan.epochs)]
    return (
        f"{cell.name} seed {seed}: test arousal {last['test']['arousal']:+.3f} valence "
        f"{last['test']['valence']:+.3f} ({record['wall_s']:.0f} s)"
    )


def score_snapshots(
    task: Any, weights: dict[int, Any], splits: dict[str, Any], device: str
) -> dict[str, Any]:
    """A result file's ``snapshots``: dev and test CCC of ``task`` with each snapshot's
    weights loaded, and the per-session test sums."""
    import torch  # noqa: PLC0415 - in the worker only

    from edge_affect_train.trainer import predict_sessions  # noqa: PLC0415

    snapshots: dict[str, Any] = {}
    for epoch, state in sorted(weights.items()):
        task.load_state_dict(state)
        entry: dict[str, Any] = {}
        for split in ("dev", "test"):
            predictions, golds = predict_sessions(task, splits[split], torch.device(device))
            sums = np.array([session_sums(p, g) for p, g in zip(predictions, golds, strict=True)])
            ccc = ccc_from_sums(sums.sum(axis=0))
            entry[split] = {d: round(float(c), 6) for d, c in zip(DIMENSIONS, ccc, strict=True)}
            if split == "test":
                entry["test_sums"] = sums.tolist()
        snapshots[str(epoch)] = entry
    return snapshots


#: the prefix of the student's weights in a run's ``snapshots.pt`` (the task's state)
_STUDENT = "student."


def _scoring_task(
    plan: dict[str, Any], kept: dict[int, dict[str, Any]], data: Path
) -> tuple[Any, dict[int, dict[str, Any]], dict[str, Any]]:
    """What scoring a study run's kept weights needs: a task with the run's student alone
    (its plan's frontend and width, the latent size its weights have), the student's part
    of every snapshot, and ``data``'s splits through that frontend."""
    from edge_affect_train.frontend import FrontendConfig, level_normalised  # noqa: PLC0415
    from edge_affect_train.models import AudioStudent, EncoderConfig, StudentConfig  # noqa: PLC0415
    from edge_affect_train.runs import load_data  # noqa: PLC0415
    from edge_affect_train.trainer import TrainConfig  # noqa: PLC0415
    from edge_affect_train.transfer import StudentTask, TransferConfig  # noqa: PLC0415

    weights = {
        int(epoch): {k: v for k, v in state.items() if k.startswith(_STUDENT)}
        for epoch, state in kept.items()
    }
    tau = float(plan["level_tau_s"])
    frontend = level_normalised(tau) if tau > 0 else FrontendConfig()  # as student_run
    z_dim = int(next(iter(weights.values()))[f"{_STUDENT}head.weight"].shape[1])
    config = StudentConfig(frontend, EncoderConfig(kind="gru", hidden=plan["hidden"]), z_dim)
    task = StudentTask(AudioStudent(config), None, TransferConfig(method="baseline"))
    _, splits = load_data(data, (), frontend, TrainConfig().label_delay_s)
    return task, weights, splits


def audio_teacher_epoch(labelled: int, plan: Plan) -> int:
    """The snapshot a ``distill_from="baseline"`` cell distils from: ``SELF_DISTILL_EPOCH``,
    or, under a plan without that snapshot (``smoke``), the plan's last epoch."""
    epoch = SELF_DISTILL_EPOCH[labelled]
    return epoch if epoch in plan.snapshots else plan.epochs


def _audio_teacher_path(runs: Path, labelled: int, seed: int, plan: Plan) -> Path:
    stem = cell_stem(f"scarce-{labelled}/baseline")
    return runs / stem / f"s{seed}" / f"audio-teacher-e{audio_teacher_epoch(labelled, plan)}.pt"


def ensure_audio_teacher(
    data: Path, runs: Path, results: Path, cell: Cell, seed: int, plan: Plan, device: str = "cpu"
) -> Path:
    """The student checkpoint a ``distill_from="baseline"`` cell distils from: the averaged
    weights of the table's ``scarce-N/baseline`` run of ``seed`` at
    :func:`audio_teacher_epoch`.

    That run's result file must be in ``results``. Its snapshot weights come from its run
    folder, or, where the folder has none, from training it again here (its result into
    ``runs/recomputed``). Before use, every snapshot is scored again and must equal the
    table's result file bit for bit (dev, test and every test session's sums): the weights
    are the table's run, on this machine. Then the chosen epoch's weights are written as a
    student checkpoint beside them (``audio-teacher-e{epoch}.pt``), used from then on.
    """
    import torch  # noqa: PLC0415 - in the worker only

    from edge_affect_train.checkpoint import save_checkpoint  # noqa: PLC0415

    baseline = CELLS[f"scarce-{cell.labelled}/baseline"]
    epoch = audio_teacher_epoch(cell.labelled, plan)
    out = _audio_teacher_path(runs, cell.labelled, seed, plan)
    if out.is_file():
        return out
    table_file = result_path(results, baseline, seed)
    if not table_file.is_file():
        raise EdgeAffectError(
            f"{cell.name} seed {seed} distils from {baseline.name} seed {seed}, which has no "
            f"result file in {results}: run that first"
        )
    theirs = json.loads(table_file.read_text(encoding="utf-8"))
    if json.dumps(theirs["plan"], sort_keys=True) != json.dumps(plan.to_dict(), sort_keys=True):
        raise EdgeAffectError(f"{table_file}: trained with another --plan than this one")
    weights_path = out.parent / SNAPSHOT_WEIGHTS
    if not weights_path.is_file():
        run_one(data, runs, runs / "recomputed", baseline.name, seed, plan, device=device)
    kept = torch.load(weights_path, map_location="cpu", weights_only=True)
    task, weights, splits = _scoring_task(plan.to_dict(), kept, data)
    ours = score_snapshots(task, weights, splits, device)
    if ours != theirs["snapshots"]:
        raise EdgeAffectError(
            f"{weights_path}: these weights are not the table's {baseline.name} seed {seed} "
            f"({_first_difference(theirs['snapshots'], ours)}); delete the folder to train it "
            "again here"
        )
    state = {k.removeprefix(_STUDENT): v for k, v in weights[epoch].items()}
    payload = {
        "kind": "student",
        "model_config": task.student.config.to_dict(),
        "state_dict": state,
        "source": {"cell": baseline.name, "seed": seed, "epoch": epoch},
    }
    save_checkpoint(out, payload)
    return out


def _cpu() -> dict[str, Any]:
    from edge_affect.cpu import describe_cpu  # noqa: PLC0415

    return describe_cpu()


def _gpu(device: str) -> str | None:
    """The GPU ``device`` names (None for ``cpu``); an error where there is none."""
    if device == "cpu":
        return None
    if device != "cuda":
        raise EdgeAffectError(f"--device {device!r}: use cpu or cuda")
    import torch  # noqa: PLC0415 - only for a GPU run

    if not torch.cuda.is_available():
        raise EdgeAffectError("--device cuda: this machine has no CUDA device")
    return str(torch.cuda.get_device_name(0))


def cpu_name(cpu: dict[str, Any], gpu: str | None = None) -> str:
    """A CPU as a result file records it: model, architecture and the kernel-picking flags;
    with ``gpu``, the GPU the runs trained on after it."""
    name = f"{cpu['model']} ({cpu['machine']}; {' '.join(cpu['flags']) or 'no avx2/vnni'})"
    return name if gpu is None else f"{name} + {gpu}"


def _record_gpu(described: dict[str, Any]) -> str | None:
    """The GPU a result file's run trained on (None for a CPU run)."""
    if described.get("device", "cpu") == "cpu":
        return None
    return str(described.get("cuda") or described["device"])


#: The file beside a table's results that names the CPUs which joined it (:func:`join_table`).
JOINED = "machines.json"
#: How many of a table's runs a CPU recomputes, bit for bit, before it joins the table.
JOIN_RUNS = 2


def joined_cpus(results: Path) -> dict[str, dict[str, Any]]:
    """The CPUs that joined the table in ``results`` (name -> their check), from ``JOINED``."""
    path = results / JOINED
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8"))["joined"]
    return {entry["name"]: entry for entry in entries}


def check_one_cpu(
    results: Path,
    cpu: dict[str, Any] | None = None,
    gpu: str | None = None,
    loaded: dict[str, dict[int, dict[str, Any]]] | None = None,
) -> None:
    """Every result file under ``results`` (and ``cpu``, this machine's, when given, with
    ``gpu`` for runs on a GPU) comes from one CPU, and from CPU runs only or one GPU's: a
    table is computed on one machine (protocol.md), and a result from another belongs in
    a table of its own, in its own folder. The exception: a CPU that recomputed some of
    the table's runs bit for bit and joined it (:func:`join_table`). ``loaded``: the
    folder's records as :func:`load_results` read them, so that they are not read again."""
    joined = joined_cpus(results)
    if loaded is None:
        loaded = load_results(results)
    records = sorted(
        (result_file_name(name, seed), record)
        for name, by_seed in loaded.items()
        for seed, record in by_seed.items()
    )
    seen: dict[str, str] = {}
    for file_name, record in records:
        named = cpu_name(record["machine"]["cpu"], _record_gpu(record["machine"]))
        seen.setdefault(named, file_name)
    here = None if cpu is None else cpu_name(cpu, gpu)
    if here is not None and seen and here not in seen and here not in joined:
        (other, example), *_ = seen.items()
        raise EdgeAffectError(
            f"{results} holds results computed on {other} (e.g. {example}); this machine is "
            f"{here}. A table is computed on one CPU: give another --results folder for this "
            f"CPU's table, or --join to recompute {JOIN_RUNS} of its runs here first (this CPU "
            "joins the table if they are equal bit for bit)"
        )
    if len([name for name in seen if name not in joined]) > 1:
        mixed = "; ".join(f"{name} ({example})" for name, example in seen.items())
        raise EdgeAffectError(f"{results} mixes results from several CPUs: {mixed}")


def join_table(
    data: Path,
    runs: Path,
    results: Path,
    plan: Plan,
    jobs: int,
    log: Callable[[str], None],
    more_data: Path | None = None,
) -> None:
    """Let this CPU add runs to the table in ``results`` although another CPU computed it.

    Recompute the table's first ``JOIN_RUNS`` (cell, seed) pairs here (into
    ``runs/join-check``, teachers included) and, if every dev and test figure and every
    test session's sums of every snapshot equal the table's own bit for bit, name this
    CPU in ``results/JOINED``. Otherwise nothing is written and the error names the first
    figure that differs.
    """
    if not results.is_dir():
        raise EdgeAffectError(f"--join: {results}: no such folder")
    cpu = _cpu()
    here = cpu_name(cpu)
    loaded = load_results(results)
    names = {cpu_name(r["machine"]["cpu"], _record_gpu(r["machine"]))
             for recs in loaded.values() for r in recs.values()}  # fmt: skip
    if not names:
        raise EdgeAffectError(f"--join: {results} holds no result files to recompute")
    if here in names or here in joined_cpus(results):
        log(f"--join: {here} already computes the table in {results}")
        return
    pairs = pairs_like(results)[:JOIN_RUNS]
    plans = {json.dumps(loaded[c][s]["plan"], sort_keys=True) for c, s in pairs}
    if plans != {json.dumps(plan.to_dict(), sort_keys=True)}:
        raise EdgeAffectError(f"--join: the runs in {results} used another --plan than this one")
    check = runs / "join-check"
    if check.exists():
        shutil.rmtree(check)  # a check starts from nothing: its teachers train here too
    log(f"--join: recomputing {', '.join(f'{c} seed {s}' for c, s in pairs)} on {here}")
    run_study(data, check, check / "results", pairs, plan, jobs, log, more_data)
    for cell_name, seed in pairs:
        theirs = loaded[cell_name][seed]["snapshots"]
        path = result_path(check / "results", CELLS[cell_name], seed)
        ours = json.loads(path.read_text(encoding="utf-8"))["snapshots"]
        if ours != theirs:
            raise EdgeAffectError(
                f"--join: {cell_name} seed {seed} computed here is not the table's "
                f"({_first_difference(theirs, ours)}); {here} computes a table of its own: "
                "give another --results folder"
            )
    entry = {
        "name": here,
        "cpu": cpu,
        "reproduced": [f"{c} seed {s}" for c, s in pairs],
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    entries = [*joined_cpus(results).values(), entry]
    text = json.dumps({"joined": entries}, indent=1) + "\n"
    (results / JOINED).write_text(text, encoding="utf-8")
    log(f"--join: {here} recomputed {len(pairs)} runs bit for bit and joins {results}")


def _first_difference(theirs: Any, ours: Any, where: str = "snapshots") -> str:
    """Where two result-file values first differ: a path, and both values."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in sorted(set(theirs) | set(ours)):
            if theirs.get(key) != ours.get(key):
                return _first_difference(theirs.get(key), ours.get(key), f"{where}.{key}")
    if isinstance(theirs, list) and isinstance(ours, list) and len(theirs) == len(ours):
        for i, (a, b) in enumerate(zip(theirs, ours, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{where}[{i}]")
    return f"{where}: the table's {theirs}, here {ours}"


def _corpus_id(data: Path) -> dict[str, Any]:
    manifest = data / "synth.json"
    if not manifest.is_file():
        return {"name": data.name}
    m = json.loads(manifest.read_text(encoding="utf-8"))
    entry = {"name": data.name, "preset": m["preset"]["name"], "seed": m["seed"]}
    return {**entry, **{k: m[k] for k in ("extra_train", "extra_test") if k in m}}


def check_more_data(data: Path, more_data: Path, extra_train: int) -> None:
    """``more_data`` must be ``data``'s corpus with ``extra_train`` more training sessions:
    same generator settings (``--extra-test`` included), and every session of ``data``
    planned and generated alike (the manifests' entries: voice, SNR, chain, offsets, phrase
    counts), so its students are scored on the same sessions. The file bytes are not
    compared here; ``tests/test_synth.py`` checks that the extras leave them unchanged."""
    manifests = []
    for root in (data, more_data):
        path = root / "synth.json"
        if not path.is_file():
            raise EdgeAffectError(f"{path} is missing: the study needs synthetic corpora")
        manifests.append(json.loads(path.read_text(encoding="utf-8")))
    base, more = manifests
    wanted = f"synth --preset {base['preset']['name']} --seed {base['seed']} "
    wanted += f"--extra-train {extra_train}"
    if base.get("extra_test"):
        wanted += f" --extra-test {base['extra_test']}"
    keys = ("preset", "seed", "model", "valence_cue", "extra_test")
    same = all(base.get(k) == more.get(k) for k in keys)
    if not same or more.get("extra_train") != extra_train:
        raise EdgeAffectError(f"{more_data} is not `{wanted}` of {data}'s corpus")
    theirs = {s["name"]: s for s in more["sessions"]}
    if any(theirs.get(s["name"]) != s for s in base["sessions"]):
        raise EdgeAffectError(f"{more_data}: its sessions differ from {data}'s ({wanted}?)")


def _worker_init() -> None:
    os.environ.update(PINNED_ENV)
    from edge_affect_train.runs import keep_loaded_data  # noqa: PLC0415 - after the pinning

    keep_loaded_data()  # a worker trains many runs on the same corpora


def _run_in_worker(job: tuple[Path, Path, Path, str, int, Plan, Path | None, str]) -> str:
    return run_one(*job)


def grid(cells: Sequence[str], seeds: Sequence[int]) -> list[tuple[str, int]]:
    """Every (cell, seed), seed-major (blocks of seeds finish whole)."""
    return [(cell, seed) for seed in seeds for cell in cells]


def pairs_like(reference: Path, cells: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """The (cell, seed) pairs that have a result file under ``reference`` (of ``cells`` only,
    when given), seed-major: what recomputing that table on another machine runs."""
    if not reference.is_dir():
        raise EdgeAffectError(f"--like {reference}: no such folder")
    pairs = [(r["cell"]["name"], s) for recs in load_results(reference).values()
             for s, r in recs.items()]  # fmt: skip
    chosen = [p for p in pairs if cells is None or p[0] in cells]
    if not chosen:
        raise EdgeAffectError(f"--like {reference}: no study result files to recompute")
    order = list(CELLS)
    return sorted(chosen, key=lambda p: (p[1], order.index(p[0]) if p[0] in CELLS else -1))


def pending(results: Path, pairs: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """The pairs without a result file under ``results``."""
    return [(c, s) for c, s in pairs if not result_path(results, CELLS[c], s).is_file()]


def run_study(
    data: Path,
    runs: Path,
    results: Path,
    pairs: Sequence[tuple[str, int]],
    plan: Plan,
    jobs: int,
    log: Callable[[str], None],
    more_data: Path | None = None,
    device: str = "cpu",
) -> None:
    """Run every missing (cell, seed) with ``jobs`` worker processes (pinned environment).

    Teachers are trained first, one per needed (kind, labelled, seed), so that two workers
    never train the same teacher. Cells with ``extra_train`` need ``more_data``. With
    ``device="cuda"`` every worker trains on the one GPU (bf16 autocast, as ``train``
    does there); such runs form a table of their own (:func:`check_one_cpu`).
    """
    unknown = sorted({c for c, _ in pairs if c not in CELLS})
    if unknown:
        raise EdgeAffectError(f"unknown cell(s) {', '.join(unknown)}; known: {', '.join(CELLS)}")
    todo = pending(results, pairs)
    log(f"{len(todo)} runs to do ({len(pairs) - len(todo)} already have results)")
    if not todo:
        return
    check_one_cpu(results, _cpu(), _gpu(device))
    for extra_train in sorted({CELLS[c].extra_train for c, _ in todo} - {0}):
        if more_data is None:
            needs = ", ".join(sorted({c for c, _ in todo if CELLS[c].extra_train}))
            raise EdgeAffectError(
                f"{needs}: give --more-data CORPUS (synth --extra-train {extra_train})"
            )
        check_more_data(data, more_data, extra_train)
    audio_teachers = sorted(
        {(CELLS[c].labelled, s): c for c, s in todo if CELLS[c].distill_from == "baseline"}.items()
    )
    missing = [
        f"scarce-{n}/baseline seed {s}"
        for (n, s), _ in audio_teachers
        if not result_path(results, CELLS[f"scarce-{n}/baseline"], s).is_file()
    ]
    if missing:
        raise EdgeAffectError(
            f"the audio baseline's predictions are the distillation targets of some of these "
            f"runs; run {', '.join(missing)} first (no result file in {results})"
        )
    import multiprocessing  # noqa: PLC0415

    os.environ.update(PINNED_ENV)  # inherited by the workers before they import torch
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init) as pool:
        teachers = {
            (CELLS[c].teacher, CELLS[c].labelled, s, CELLS[c].train_seed(s)): (c, s)
            for c, s in todo
            if CELLS[c].method != "baseline"
        }
        futures = [
            pool.submit(_teacher_job, (data, runs, CELLS[c].name, s, plan, device))
            for c, s in teachers.values()
        ]
        for future in futures:
            log(future.result())
        futures = [
            pool.submit(_audio_teacher_job, (data, runs, results, c, s, plan, device))
            for (_, s), c in audio_teachers
        ]
        for future in futures:
            log(future.result())
        futures = [
            pool.submit(_run_in_worker, (data, runs, results, c, s, plan, more_data, device))
            for c, s in todo
        ]
        for future in futures:
            log(future.result())


def rescore_study(
    data: Path,
    runs: Path,
    results: Path,
    reference: Path,
    pairs: Sequence[tuple[str, int]],
    jobs: int,
    log: Callable[[str], None],
) -> None:
    """Score the runs of the table in ``reference`` again on ``data``, a corpus with more
    test sessions (``synth --extra-test``), from the weights their run folders under
    ``runs`` keep (``snapshots.pt``), without training them again; one result file each
    in ``results``.

    Each must give the reference's figures bit for bit on what both splits hold (dev, and
    the sums of the reference's test sessions, which must come first in ``data``'s test
    split): the weights are that run's, and the scoring is this CPU's as it was the
    table's. A result file keeps the run's record (its machine is the one it trained on)
    with the new ``snapshots`` and ``test_sessions``, and ``rescored`` (the corpus, CPU
    and date of the scoring). The CPUs that joined the reference join this table too.
    """
    loaded = load_results(reference)
    todo = pending(results, pairs)
    log(f"{len(todo)} runs to score again ({len(pairs) - len(todo)} already have results)")
    if not todo:
        return
    results.mkdir(parents=True, exist_ok=True)
    if (reference / JOINED).is_file() and not (results / JOINED).is_file():
        shutil.copyfile(reference / JOINED, results / JOINED)
    records = [loaded[c][s] for c, s in todo]
    check_one_cpu(results, records[0]["machine"]["cpu"])
    import multiprocessing  # noqa: PLC0415

    os.environ.update(PINNED_ENV)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init) as pool:
        futures = [pool.submit(_rescore_in_worker, (data, runs, results, r)) for r in records]
        for future in futures:
            log(future.result())


def _rescore_in_worker(job: tuple[Path, Path, Path, dict[str, Any]]) -> str:
    return rescore_one(*job)


def rescore_one(data: Path, runs: Path, results: Path, record: dict[str, Any]) -> str:
    """One run of :func:`rescore_study`; returns a one-line summary."""
    import torch  # noqa: PLC0415 - in the worker only

    torch.use_deterministic_algorithms(True)
    started = time.perf_counter()
    cell, seed = CELLS[record["cell"]["name"]], int(record["seed"])
    weights_path = runs / cell.file_stem / f"s{seed}" / SNAPSHOT_WEIGHTS
    if not weights_path.is_file():
        raise EdgeAffectError(
            f"{cell.name} seed {seed}: no {weights_path} (its weights are not kept here); "
            "train it on the larger corpus instead (--like without --rescore)"
        )
    kept = torch.load(weights_path, map_location="cpu", weights_only=True)
    plan = record["plan"]
    task, weights, splits = _scoring_task(plan, kept, data)
    names = [s.name for s in splits["test"]]
    theirs = record["test_sessions"]
    if len(names) <= len(theirs) or names[: len(theirs)] != theirs:
        raise EdgeAffectError(
            f"{data}: its test split does not extend the one {cell.name} seed {seed} was scored "
            f"on ({len(theirs)} sessions, {theirs[0]} first); give the study corpus with "
            "--extra-test"
        )
    ours = score_snapshots(task, weights, splits, "cpu")
    n = len(theirs)
    shared = {
        epoch: {"dev": entry["dev"], "test_sums": entry["test_sums"][:n]}
        for epoch, entry in ours.items()
    }
    expected = {
        epoch: {"dev": entry["dev"], "test_sums": entry["test_sums"]}
        for epoch, entry in record["snapshots"].items()
    }
    if shared != expected:
        raise EdgeAffectError(
            f"{weights_path}: scored here, these weights do not give the table's {cell.name} "
            f"seed {seed} ({_first_difference(expected, shared)})"
        )
    out = {
        **record,
        "snapshots": ours,
        "test_sessions": names,
        "rescored": {
            "corpus": _corpus_id(data),
            "cpu": _cpu(),
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "wall_s": round(time.perf_counter() - started, 1),
        },
    }
    path = result_path(results, cell, seed)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out) + "\n", encoding="utf-8")
    tmp.replace(path)
    last = ours[str(plan["epochs"])]["test"]
    return (
        f"{cell.name} seed {seed} scored again on {len(names)} test sessions: test arousal "
        f"{last['arousal']:+.3f} valence {last['valence']:+.3f}"
    )


def _teacher_job(job: tuple[Path, Path, str, int, Plan, str]) -> str:
    data, runs, cell_name, seed, plan, device = job
    import torch  # noqa: PLC0415

    torch.use_deterministic_algorithms(True)
    cell = CELLS[cell_name]
    path = _ensure_teacher(data, runs, cell, seed, plan, device)
    return f"teacher {cell.teacher} labelled {cell.labelled or 'all'} seed {seed}: {path.parent}"


def _audio_teacher_job(job: tuple[Path, Path, Path, str, int, Plan, str]) -> str:
    data, runs, results, cell_name, seed, plan, device = job
    import torch  # noqa: PLC0415

    torch.use_deterministic_algorithms(True)
    cell = CELLS[cell_name]
    path = ensure_audio_teacher(data, runs, results, cell, seed, plan, device)
    return (
        f"audio teacher scarce-{cell.labelled}/baseline seed {seed} epoch "
        f"{audio_teacher_epoch(cell.labelled, plan)} (equal to the table's run): {path.parent}"
    )


# ---------------------------------------------------------------------------------- the table


@dataclass
class CellResult:
    cell: Cell
    seeds: list[int]
    epochs: int  # the snapshot chosen on dev
    dev: dict[str, float]  # mean over seeds at that snapshot
    test: dict[str, float]
    test_sums: np.ndarray  # [seed, session, dim, 6]
    wall_s: list[float] = field(default_factory=list)


def load_results(results: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """Every result file under ``results``: cell -> seed -> record. A file whose name is not
    the one its cell and seed give (a copy, a rename) is an error, not a silent overwrite of
    the run that owns that name."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted(results.glob("*--s*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        name, seed = record["cell"]["name"], int(record["seed"])
        expected = result_file_name(name, seed)
        if path.name != expected:
            raise EdgeAffectError(
                f"{path} holds the run of cell {name}, seed {seed}, whose file is {expected}: "
                "rename or remove it"
            )
        out.setdefault(name, {})[seed] = record
    return out


def check_one_test_split(loaded: dict[str, dict[int, dict[str, Any]]]) -> None:
    """Every run of a table is scored on the same test sessions: the paired differences
    and the crossed interval pair sessions by position. A folder that mixes test splits
    (runs on a corpus with ``--extra-test`` beside runs without) is an error."""
    splits: dict[tuple[str, ...], str] = {}
    for name, records in loaded.items():
        for seed, record in records.items():
            splits.setdefault(tuple(record["test_sessions"]), result_file_name(name, seed))
    if len(splits) > 1:
        shown = "; ".join(f"{len(k)} sessions ({example})" for k, example in splits.items())
        raise EdgeAffectError(
            f"the result files are scored on different test splits: {shown}. A table is "
            "scored on one test split: give each its own --results folder"
        )


def choose_epochs(records: dict[int, dict[str, Any]]) -> int:
    """The snapshot epoch with the best dev CCC (mean of both dimensions and of the seeds)."""
    epochs = sorted({int(e) for r in records.values() for e in r["snapshots"]})

    def dev_score(epoch: int) -> float:
        return float(
            np.mean(
                [
                    np.mean([r["snapshots"][str(epoch)]["dev"][d] for d in DIMENSIONS])
                    for r in records.values()
                ]
            )
        )

    return max(epochs, key=dev_score)


def cell_result(cell: Cell, records: dict[int, dict[str, Any]]) -> CellResult:
    epochs = choose_epochs(records)
    seeds = sorted(records)
    snaps = [records[s]["snapshots"][str(epochs)] for s in seeds]
    return CellResult(
        cell=cell,
        seeds=seeds,
        epochs=epochs,
        dev={d: float(np.mean([x["dev"][d] for x in snaps])) for d in DIMENSIONS},
        test={d: float(np.mean([x["test"][d] for x in snaps])) for d in DIMENSIONS},
        test_sums=np.array([x["test_sums"] for x in snaps], dtype=np.float64),
        wall_s=[float(records[s]["wall_s"]) for s in seeds],
    )


def paired_difference(
    a: np.ndarray, b: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> dict[str, Any]:
    """Mean over seeds of CCC(a) - CCC(b) per dimension, with 95 % bootstrap intervals.

    ``a`` and ``b``: ``[seed, session, dim, 6]`` sums of paired runs (same seed order, the
    same test sessions for every seed).

    - ``low``/``high``: the protocol's interval, resampling seeds and, within each seed,
      test sessions independently.
    - ``crossed``: seeds and test sessions resampled as the crossed factors they are: one
      draw of sessions per resample, shared by every drawn seed (the pigeonhole bootstrap,
      Owen 2007, Ann. Appl. Stat. 1(2)). Every seed is scored on the same test speakers, so
      how those speakers happen to favour a method is one draw, which more seeds do not
      average away; the protocol's interval lets it shrink with the seed count.
    - ``half_width_seeds_only`` / ``half_width_sessions_only``: the crossed interval's two
      parts, one factor resampled with the other held fixed. More seeds narrow the first;
      only more test sessions narrow the second.
    """
    if a.shape != b.shape:
        raise ValueError(f"paired runs need equal shapes, got {a.shape} and {b.shape}")
    n_seeds, n_sessions = a.shape[:2]
    point = (ccc_from_sums(a.sum(axis=1)) - ccc_from_sums(b.sum(axis=1))).mean(axis=0)
    rng = np.random.default_rng(seed)
    seed_pick = rng.integers(0, n_seeds, (resamples, n_seeds))
    counts = rng.multinomial(n_sessions, np.full(n_sessions, 1 / n_sessions), (resamples, n_seeds))
    protocol = _resampled_differences(a, b, seed_pick, counts)
    # the other intervals draw from their own stream, so the protocol's stays as it was
    rng = np.random.default_rng([seed, 1])
    seed_pick = rng.integers(0, n_seeds, (resamples, n_seeds))
    shared = rng.multinomial(n_sessions, np.full(n_sessions, 1 / n_sessions), resamples)
    # [resample, seed, dim, 6]: every seed's sums over the shared draw of sessions
    drawn_a, drawn_b = (_drawn_sessions(x, shared) for x in (a, b))
    pick = seed_pick[:, :, None, None]
    crossed = (
        ccc_from_sums(np.take_along_axis(drawn_a, pick, axis=1))
        - ccc_from_sums(np.take_along_axis(drawn_b, pick, axis=1))
    ).mean(axis=1)
    sessions_only = (ccc_from_sums(drawn_a) - ccc_from_sums(drawn_b)).mean(axis=1)
    per_seed_sums = a.sum(axis=1)[seed_pick], b.sum(axis=1)[seed_pick]  # every session once
    seeds_only = (ccc_from_sums(per_seed_sums[0]) - ccc_from_sums(per_seed_sums[1])).mean(axis=1)
    per_seed = ccc_from_sums(a.sum(axis=1)) - ccc_from_sums(b.sum(axis=1))

    def bounds(diffs: np.ndarray, i: int) -> tuple[float, float]:
        low, high = np.percentile(diffs[:, i], [2.5, 97.5])
        return round(float(low), 4), round(float(high), 4)

    out: dict[str, Any] = {}
    for i, d in enumerate(DIMENSIONS):
        low, high = bounds(protocol, i)
        c_low, c_high = bounds(crossed, i)
        out[d] = {
            "mean": round(float(point[i]), 4),
            "low": low,
            "high": high,
            "per_seed": [round(float(x), 4) for x in per_seed[:, i]],
            "crossed": {"low": c_low, "high": c_high},
            "half_width_seeds_only": _half(bounds(seeds_only, i)),
            "half_width_sessions_only": _half(bounds(sessions_only, i)),
        }
    return out


def pooled_difference(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean over seeds of the seed's paired differences averaged over ``pairs``, per dimension,
    with the crossed 95 % interval of :func:`paired_difference`.

    ``pairs``: ``(a, b)`` sums as :func:`paired_difference` takes them, every pair over the
    same seeds (the same order) and test sessions, e.g. one regime's pair with its original
    training seeds and the pair with other training seeds on the same draws of labelled
    speakers. Each resample draws seeds with all of a seed's pairs kept together (they share
    the draw) and one draw of test sessions shared by every drawn seed. The draws are those
    of :func:`paired_difference`'s crossed interval, so one pair gives its figures.
    """
    shapes = {x.shape for pair in pairs for x in pair}
    if not pairs or len(shapes) != 1:
        raise ValueError(f"pooled pairs need one shape, got {sorted(shapes)}")
    n_seeds, n_sessions = pairs[0][0].shape[:2]
    per_seed = np.mean(
        [ccc_from_sums(a.sum(axis=1)) - ccc_from_sums(b.sum(axis=1)) for a, b in pairs], axis=0
    )
    rng = np.random.default_rng([seed, 1])
    seed_pick = rng.integers(0, n_seeds, (resamples, n_seeds))
    shared = rng.multinomial(n_sessions, np.full(n_sessions, 1 / n_sessions), resamples)
    pick = seed_pick[:, :, None, None]
    crossed = np.zeros((resamples, len(DIMENSIONS)))
    for a, b in pairs:
        drawn_a, drawn_b = (_drawn_sessions(x, shared) for x in (a, b))
        crossed += (
            ccc_from_sums(np.take_along_axis(drawn_a, pick, axis=1))
            - ccc_from_sums(np.take_along_axis(drawn_b, pick, axis=1))
        ).mean(axis=1)
    crossed /= len(pairs)
    out: dict[str, Any] = {}
    for i, d in enumerate(DIMENSIONS):
        low, high = np.percentile(crossed[:, i], [2.5, 97.5])
        out[d] = {
            "mean": round(float(per_seed[:, i].mean()), 4),
            "per_seed": [round(float(x), 4) for x in per_seed[:, i]],
            "crossed": {"low": round(float(low), 4), "high": round(float(high), 4)},
        }
    return out


def within_session_difference(
    a: np.ndarray, b: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> dict[str, Any]:
    """Mean over seeds and test sessions of each session's own CCC(a) - CCC(b), per
    dimension, and how far the pooled difference exceeds it, each with a crossed 95 %
    bootstrap interval.

    ``a`` and ``b`` as in :func:`paired_difference`. The study's CCC pools the sessions, so
    it also rewards placing the sessions' levels relative to each other; ``within`` scores
    every session alone; ``pooled_minus_within`` is the part of the pooled difference that
    the sessions' own CCCs do not show. Each resample draws seeds and test sessions as
    crossed factors, as the crossed interval of :func:`paired_difference` does (one draw of
    each, every drawn seed scored on the one draw of sessions), and computes both figures
    on the same draw.
    """
    if a.shape != b.shape:
        raise ValueError(f"paired runs need equal shapes, got {a.shape} and {b.shape}")
    n_seeds, n_sessions = a.shape[:2]
    per_session = ccc_from_sums(a) - ccc_from_sums(b)  # [seed, session, dim]
    pooled = (ccc_from_sums(a.sum(axis=1)) - ccc_from_sums(b.sum(axis=1))).mean(axis=0)
    rng = np.random.default_rng([seed, 2])
    seed_w = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), resamples) / n_seeds
    session_counts = rng.multinomial(n_sessions, np.full(n_sessions, 1 / n_sessions), resamples)
    within_drawn = np.einsum("rk,ksd,rs->rd", seed_w, per_session, session_counts) / n_sessions
    # [resample, seed, dim, 6]: every seed's sums over the resample's draw of sessions
    drawn_a, drawn_b = (_drawn_sessions(x, session_counts) for x in (a, b))
    pooled_drawn = np.einsum("rk,rkd->rd", seed_w, ccc_from_sums(drawn_a) - ccc_from_sums(drawn_b))

    def figure(point: float, drawn: np.ndarray) -> dict[str, Any]:
        low, high = np.percentile(drawn, [2.5, 97.5])
        return {
            "mean": round(point, 4),
            "crossed": {"low": round(float(low), 4), "high": round(float(high), 4)},
        }

    out: dict[str, Any] = {}
    for i, d in enumerate(DIMENSIONS):
        within = float(per_session[..., i].mean())
        out[d] = {
            "within": figure(within, within_drawn[:, i]),
            "pooled_minus_within": figure(
                float(pooled[i]) - within, pooled_drawn[:, i] - within_drawn[:, i]
            ),
        }
    return out


def _drawn_sessions(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``[resample, seed, dim, 6]``: every seed's sums (``sums``: ``[seed, session, dim, 6]``)
    over each resample's draw of sessions (``counts``: ``[resample, session]``, how often
    each session was drawn; the same draw for every seed)."""
    n_seeds, n_sessions = sums.shape[:2]
    flat = sums.swapaxes(0, 1).reshape(n_sessions, -1)
    out: np.ndarray = (counts.astype(np.float64) @ flat).reshape(
        len(counts), n_seeds, *sums.shape[2:]
    )
    return out


def _half(bounds: tuple[float, float]) -> float:
    return round((bounds[1] - bounds[0]) / 2, 4)


def _resampled_differences(
    a: np.ndarray, b: np.ndarray, seed_pick: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """``[resample, dim]``: the mean over the drawn seeds of CCC(a) - CCC(b), each seed's
    CCC recomputed on its sessions weighted by ``counts`` (``[resample, seed, session]``,
    how often each session was drawn)."""
    sa, sb = (_weighted_seed_sums(x, seed_pick, counts) for x in (a, b))
    out: np.ndarray = (ccc_from_sums(sa) - ccc_from_sums(sb)).mean(axis=1)
    return out


def _weighted_seed_sums(sums: np.ndarray, seed_pick: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``[resample, seed, dim, 6]``: each drawn seed's sums (``sums``: ``[seed, session, dim,
    6]``) over its own draw of sessions, weighted by ``counts`` (``[resample, seed,
    session]``). One matrix product per seed of the corpus, over every slot that drew it:
    no copy of the drawn seeds' session sums is made."""
    n_sessions = sums.shape[1]
    flat = sums.reshape(len(sums), n_sessions, -1)  # [seed, session, dim * 6]
    out = np.empty((*seed_pick.shape, flat.shape[2]))
    for seed in range(len(sums)):
        slots = seed_pick == seed
        out[slots] = counts[slots].astype(np.float64) @ flat[seed]
    return out.reshape(*seed_pick.shape, *sums.shape[2:])


def half_width(difference: dict[str, Any], crossed: bool = False) -> float:
    """The larger half-width of a paired difference's intervals over the dimensions (the
    stopping rule's figure): the protocol's interval, or with ``crossed`` the crossed one."""
    intervals = [v["crossed"] if crossed else v for v in difference.values()]
    return float(max((i["high"] - i["low"]) / 2 for i in intervals))


def restrict_sessions(
    loaded: dict[str, dict[int, dict[str, Any]]], first: int, last: int
) -> dict[str, dict[int, dict[str, Any]]]:
    """The runs as if scored on test sessions ``first``..``last`` only (1-based positions in
    the split's order, both included): each snapshot's test sums are cut to those sessions
    and its test CCC recomputed from them. Dev, and so every choice, is unchanged."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for name, records in loaded.items():
        for seed, record in records.items():
            size = len(record["test_sessions"])
            if not 1 <= first <= last <= size:
                raise EdgeAffectError(
                    f"test sessions {first}-{last}: {result_file_name(name, seed)} is scored "
                    f"on {size} test sessions"
                )
            kept = slice(first - 1, last)
            snapshots = {}
            for epoch, snapshot in record["snapshots"].items():
                sums = np.asarray(snapshot["test_sums"], dtype=np.float64)[kept]
                ccc = ccc_from_sums(sums.sum(axis=0))
                snapshots[epoch] = {
                    **snapshot,
                    "test": {d: round(float(ccc[i]), 6) for i, d in enumerate(DIMENSIONS)},
                    "test_sums": sums.tolist(),
                }
            out.setdefault(name, {})[seed] = {
                **record,
                "test_sessions": record["test_sessions"][kept],
                "snapshots": snapshots,
            }
    return out


def _settings(cell: Cell) -> dict[str, Any]:
    """A cell's settings as its table shows them. ``init_offset`` shows only where it is set:
    the tables assembled before the ``*-reseed`` cells existed keep their bytes."""
    shown = {k: v for k, v in asdict(cell).items() if k not in ("name", "reference")}
    if not cell.init_offset:
        del shown["init_offset"]
    return shown


def assemble(
    results: Path,
    seeds: Collection[int] | None = None,
    sessions: tuple[int, int] | None = None,
    cells: Collection[str] | None = None,
    loaded: dict[str, dict[int, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The study's table from its result files: every cell, its dev-chosen epochs, means,
    and the paired difference to its reference over the seeds both have.

    ``seeds``: use only these seeds' files (the table as it stood when the study had them,
    e.g. the 10-seed tables the docs quote); default every file.
    ``sessions``: score on these test sessions only (first, last: 1-based positions in the
    split, both included; :func:`restrict_sessions`), e.g. the sessions a larger split adds.
    ``cells``: only these cells and the references they are compared with (each entry is
    what the whole table gives it; the bootstrap of every other cell is skipped). The dev
    winner and the target list are then read on those cells only.
    ``loaded``: the folder's records as :func:`load_results` read them (a caller that
    assembles one folder several times reads it once); they are not changed.
    """
    if loaded is None:
        loaded = load_results(results)
    check_one_cpu(results, loaded=loaded)
    if seeds is not None:
        chosen = set(seeds)
        loaded = {
            name: kept
            for name, records in loaded.items()
            if (kept := {s: r for s, r in records.items() if s in chosen})
        }
    if not loaded:
        raise EdgeAffectError(f"{results}: no study result files (*--s<seed>.json)")
    check_one_test_split(loaded)
    if sessions is not None:
        loaded = restrict_sessions(loaded, *sessions)
    wanted = None
    if cells is not None:
        wanted = {*cells} | {CELLS[c].reference for c in cells if c in CELLS and CELLS[c].reference}
    table: dict[str, Any] = {}
    for name, cell in CELLS.items():
        records = loaded.get(name)
        if not records or (wanted is not None and name not in wanted):
            continue
        result = cell_result(cell, records)
        entry: dict[str, Any] = {
            "settings": _settings(cell),
            "seeds": result.seeds,
            "epochs": result.epochs,
            "dev": _rounded(result.dev),
            "test": _rounded(result.test),
            "run_wall_s": round(float(np.sum(result.wall_s)), 1),
        }
        reference = loaded.get(cell.reference) if cell.reference else None
        if reference:
            ref = cell_result(CELLS[cell.reference], reference)
            common = sorted(set(result.seeds) & set(ref.seeds))
            if common:
                mine = cell_result(cell, {s: records[s] for s in common})
                theirs = cell_result(CELLS[cell.reference], {s: reference[s] for s in common})
                mine.test_sums = np.array(
                    [records[s]["snapshots"][str(result.epochs)]["test_sums"] for s in common]
                )
                theirs.test_sums = np.array(
                    [reference[s]["snapshots"][str(ref.epochs)]["test_sums"] for s in common]
                )
                entry["difference"] = {
                    "reference": cell.reference,
                    "seeds": common,
                    **paired_difference(mine.test_sums, theirs.test_sums),
                }
        table[name] = entry
    first = next(iter(next(iter(loaded.values())).values()))
    return {
        "corpus": first["corpus"],
        "test_sessions": len(first["test_sessions"]),
        "plan": first["plan"],
        "machine": first["machine"],
        **({"joined": list(joined.values())} if (joined := joined_cpus(results)) else {}),
        "env": first["env"],
        "cells": table,
        "dev_winner": _dev_winner(table),
        "target": _target(table),
    }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def _dev_winner(cells: dict[str, Any]) -> str | None:
    """The all-labels cell (baseline, transfer or a design variant; not a ceiling) with the
    best mean dev CCC: the model card's default method."""
    candidates = {
        name: np.mean(list(entry["dev"].values()))
        for name, entry in cells.items()
        if not CELLS[name].ceiling and (name.startswith(("all/", "design/")))
    }
    return max(candidates, key=lambda n: candidates[n]) if candidates else None


def _target(cells: dict[str, Any]) -> list[str]:
    """Cells whose paired test difference meets the issue's target: valence >= +0.05 with the
    interval above 0, arousal not worse than -0.01 (mean)."""
    met = []
    for name, entry in cells.items():
        diff = entry.get("difference")
        if CELLS[name].ceiling or not diff:
            continue
        valence, arousal = diff["valence"], diff["arousal"]
        if valence["mean"] >= 0.05 and valence["low"] > 0 and arousal["mean"] >= -0.01:
            met.append(name)
    return met


def _interval(diff: dict[str, Any]) -> str:
    return f"{diff['mean']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]"


def format_table(study: dict[str, Any]) -> str:
    """The Markdown table of :func:`assemble`'s result: each paired difference with the
    protocol's interval and the crossed one (seeds and the shared test sessions)."""
    lines = [
        "| cell | seeds | epochs (dev) | dev arousal | dev valence | test arousal | "
        "test valence | Δ test arousal [95 %] | Δ test valence [95 %] | "
        "Δ test arousal, crossed [95 %] | Δ test valence, crossed [95 %] | vs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in study["cells"].items():
        diff = entry.get("difference")
        lines.append(
            f"| {name} | {len(entry['seeds'])} | {entry['epochs']} | "
            f"{entry['dev']['arousal']:.3f} | {entry['dev']['valence']:.3f} | "
            f"{entry['test']['arousal']:.3f} | {entry['test']['valence']:.3f} | "
            + (
                " | ".join(_interval(diff[d]) for d in DIMENSIONS)
                + " | "
                + " | ".join(
                    _interval({"mean": diff[d]["mean"], **diff[d]["crossed"]}) for d in DIMENSIONS
                )
                + f" | {diff['reference']} ({len(diff['seeds'])}) |"
                if diff
                else "| | | | |"
            )
        )
    return "\n".join(lines) + "\n"


def write_table(results: Path, out_md: Path) -> dict[str, Any]:
    """Assemble the table; write it as ``out_md`` (the Markdown table) and its ``.json``."""
    study = assemble(results)
    out_md.with_suffix(".json").write_text(json.dumps(study, indent=1) + "\n", encoding="utf-8")
    out_md.write_text(format_table(study), encoding="utf-8")
    return study
