"""What the label-scarce teachers hand the audio students as distillation targets, and how
much of it the students take, on the training speakers that have no labels.

    python scripts/distill_targets.py --data CORPUS --runs RUNS docs/results/study
        [--labelled 9 --labelled 4 --labelled 2] [--seeds 10-19] [--json OUT]
        [--students align-mse-distill,mixed-align-mse-distill]

For each labelled-speaker count N and seed, on the training speakers without labels
(the frames ``scarce-N/align-mse-distill`` distils on), CCC pooled over those speakers:

* the frozen teacher (video, trained on the N labelled speakers) against the gold standard:
  how good the distillation targets are;
* each audio student (``scarce-N/baseline``, ``scarce-N/align-mse``,
  ``scarce-N/align-mse-distill``, at the snapshot its table chose on dev) against the gold
  standard, and against the teacher: how far distillation moved the student towards the
  targets, and whether that is towards the truth (``--students`` names other methods of the
  ``scarce-N/*`` cells, e.g. ``mixed-align-mse-distill``, which also distils on 54 more
  speakers; its figures on "the training speakers without labels" are on the 18 − N of the
  study corpus, as for the others).

and the same on the test speakers (the students' figures against the gold standard there are
the table's): whether what a student took from the teacher on the speakers it distilled on
carries to speakers it never heard.

It reads the study's run folders (teachers' checkpoints, students' ``snapshots.pt``) and the
table's epochs; it trains nothing. Every student is first scored again on the test split, and
the script stops if that score is not the result file's (a student loaded wrongly would give
figures about another model). Numbers are for the CPU that computes them (named in the output).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.errors import EdgeAffectError
from edge_affect_train import transfer_study as ts
from edge_affect_train.cli import _seed_list

#: the students compared by default, each at its table's dev-chosen snapshot
STUDENTS = ("baseline", "align-mse", "align-mse-distill")


def main() -> None:
    try:
        _main()
    except EdgeAffectError as error:
        sys.exit(f"error: {error}")


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="the study's results folder (its table)")
    parser.add_argument("--data", type=Path, required=True, help="the study's corpus")
    parser.add_argument("--runs", type=Path, required=True, help="the study's runs folder")
    parser.add_argument("--labelled", type=int, action="append", help="N (default: 9, 4, 2)")
    parser.add_argument(
        "--seeds",
        default="all",
        help="e.g. 20 (0-19), 0-4, 3,5 (default: every seed with results and run folders)",
    )
    parser.add_argument("--json", type=Path, help="also write every seed's figures here")
    parser.add_argument(
        "--students",
        default=",".join(STUDENTS),
        help=f"the scarce-N/* methods compared (default: {','.join(STUDENTS)})",
    )
    args = parser.parse_args()
    students = tuple(m for m in args.students.split(",") if m)
    unknown = [m for m in students if f"scarce-{ts.SCARCE_SPEAKERS[0]}/{m}" not in ts.CELLS]
    if unknown or not students:
        raise EdgeAffectError(f"--students {args.students!r}: not methods of the scarce-N cells")
    os.environ.update(ts.PINNED_ENV)  # before torch is imported: the study's float paths
    table_path = args.results / "table.json"
    if not table_path.is_file():
        raise EdgeAffectError(f"{table_path}: no such file (give the study's results folder)")
    table = json.loads(table_path.read_text(encoding="utf-8"))
    counts = args.labelled or list(reversed(ts.SCARCE_SPEAKERS))
    out: dict[str, Any] = {"machine": table.get("machine"), "regimes": {}}
    for n in counts:
        names = [f"scarce-{n}/{s}" for s in students]
        missing = [c for c in names if c not in table["cells"]]
        if missing:
            raise EdgeAffectError(f"{table_path}: no results for {', '.join(missing)}")
        epochs = {c: int(table["cells"][c]["epochs"]) for c in names}
        have = set.intersection(*(set(table["cells"][c]["seeds"]) for c in names))
        have = {s for s in have if all(_run_dir(args.runs, c, s).is_dir() for c in names)}
        seeds = sorted(have) if args.seeds == "all" else _seed_list(args.seeds)
        absent = sorted(set(seeds) - have)
        if absent or not seeds:
            raise EdgeAffectError(
                f"scarce-{n}: seeds {absent or 'none'} lack a result file or a run folder "
                f"(under {args.runs}) for one of {', '.join(names)}"
            )
        tau = float(table.get("plan", {}).get("level_tau_s", ts.Plan().level_tau_s))
        rows = [
            _one(args.data, args.runs, args.results, n, s, epochs, tau, students) for s in seeds
        ]
        out["regimes"][str(n)] = {"seeds": seeds, "epochs": epochs, "per_seed": rows}
        _print(n, seeds, epochs, rows, students)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


def _one(
    data: Path,
    runs: Path,
    results: Path,
    n: int,
    seed: int,
    epochs: dict[str, int],
    tau: float,
    students: tuple[str, ...],
) -> dict[str, Any]:
    import torch  # noqa: PLC0415 - after the pinned environment

    from edge_affect_train.checkpoint import load_checkpoint  # noqa: PLC0415
    from edge_affect_train.commands import labelled_subset  # noqa: PLC0415
    from edge_affect_train.frontend import level_normalised  # noqa: PLC0415
    from edge_affect_train.models import AudioStudent, StudentConfig  # noqa: PLC0415
    from edge_affect_train.runs import keep_loaded_data, load_data, load_teacher  # noqa: PLC0415
    from edge_affect_train.trainer import predict_sessions  # noqa: PLC0415
    from edge_affect_train.transfer import TeacherTask  # noqa: PLC0415

    torch.set_num_threads(1)
    keep_loaded_data()
    kind = ts.CELLS[f"scarce-{n}/align-mse-distill"].teacher
    teacher_ckpt = ts._teacher_dir(runs, kind, n, seed) / "checkpoint.pt"
    teacher = load_teacher(teacher_ckpt)
    frontend = level_normalised(tau)
    _, splits = load_data(data, teacher.config.modalities, frontend)
    train = splits["train"]
    keep = set(labelled_subset(train, n, seed))
    unlabelled = [s for i, s in enumerate(train) if i not in keep]
    if not unlabelled:
        raise EdgeAffectError(f"scarce-{n}: the training split has no speaker without labels")
    device = torch.device("cpu")
    targets, gold = predict_sessions(TeacherTask(teacher), unlabelled, device)
    test_targets, test_gold = predict_sessions(TeacherTask(teacher), splits["test"], device)
    row: dict[str, Any] = {
        "seed": seed,
        "unlabelled_sessions": len(unlabelled),
        "unlabelled": {"teacher_vs_gold": _ccc(targets, gold)},
        "test": {"teacher_vs_gold": _ccc(test_targets, test_gold)},
    }
    for method in students:
        cell = f"scarce-{n}/{method}"
        run_dir = _run_dir(runs, cell, seed)
        config = load_checkpoint(run_dir / "checkpoint.pt", kind="student")["model_config"]
        if StudentConfig.from_dict(config).frontend != frontend:
            raise EdgeAffectError(f"{run_dir}: a student with another frontend than the study's")
        weights = torch.load(run_dir / ts.SNAPSHOT_WEIGHTS, weights_only=True)
        student = AudioStudent(StudentConfig.from_dict(config))
        prefix = "student."
        student.load_state_dict(
            {k[len(prefix) :]: v for k, v in weights[epochs[cell]].items() if k.startswith(prefix)}
        )
        task = _Predictor(student)
        record = json.loads(ts.result_path(results, ts.CELLS[cell], seed).read_text("utf-8"))
        scored, _ = predict_sessions(task, splits["test"], device)
        again = _ccc(scored, test_gold)
        kept = record["snapshots"][str(epochs[cell])]["test"]
        if [round(again[d], 6) for d in ts.DIMENSIONS] != [kept[d] for d in ts.DIMENSIONS]:
            raise EdgeAffectError(
                f"{run_dir}: scored again on test {again}, its result file has {kept} (another "
                "CPU, or a run folder that is not this table's)"
            )
        predicted, _ = predict_sessions(task, unlabelled, device)
        row["unlabelled"][method] = {
            "vs_gold": _ccc(predicted, gold),
            "vs_teacher": _ccc(predicted, targets),
        }
        row["test"][method] = {"vs_gold": again, "vs_teacher": _ccc(scored, test_targets)}
    return row


def _run_dir(runs: Path, cell: str, seed: int) -> Path:
    return runs / ts.cell_stem(cell) / f"s{seed}"


class _Predictor:
    """``predict_sessions``'s interface for a bare audio student."""

    def __init__(self, student: Any) -> None:
        self.student = student
        self.training = False

    def eval(self) -> None:
        self.student.eval()

    def train(self, mode: bool = True) -> None:
        self.student.train(mode)

    def predict(self, mel: Any, features: Any) -> Any:
        return self.student.represent_mel(mel)[0]


def _ccc(predictions: list[np.ndarray], references: list[np.ndarray]) -> dict[str, float]:
    sums = np.array(
        [ts.session_sums(p, r) for p, r in zip(predictions, references, strict=True)]
    ).sum(axis=0)
    return {d: float(c) for d, c in zip(ts.DIMENSIONS, ts.ccc_from_sums(sums), strict=True)}


def _print(
    n: int,
    seeds: list[int],
    epochs: dict[str, int],
    rows: list[dict[str, Any]],
    students: tuple[str, ...],
) -> None:
    def pair(where: str, get: Any) -> str:
        return " / ".join(f"{np.mean([get(r[where])[d] for r in rows]):.3f}" for d in ts.DIMENSIONS)

    print(f"\nscarce-{n}: {len(seeds)} seeds ({_seeds_text(seeds)}); CCC arousal / valence, mean")
    speakers = rows[0]["unlabelled_sessions"]
    print(f"over seeds, pooled over the {speakers} training speakers without labels (the frames")
    print("distilled on) and over the test speakers")
    columns = ("unlabelled: vs gold", "unlabelled: vs teacher", "test: vs gold", "test: vs teacher")
    print("| model | " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|")
    teacher = [pair(w, lambda r: r["teacher_vs_gold"]) for w in ("unlabelled", "test")]
    print(f"| teacher (video, {n} labelled speakers) | {teacher[0]} | | {teacher[1]} | |")
    for method in students:
        cell = f"scarce-{n}/{method}"
        figures = [
            pair(w, lambda r, m=method, k=k: r[m][k])
            for w in ("unlabelled", "test")
            for k in ("vs_gold", "vs_teacher")
        ]
        print(f"| `{cell}` (epoch {epochs[cell]}) | " + " | ".join(figures) + " |")


def _seeds_text(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


if __name__ == "__main__":
    main()
