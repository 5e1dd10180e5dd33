"""The training commands of ``edge-affect``: ``synth``, ``data describe`` and
``train teacher|student|experiment``.

:func:`register` adds them to a typer app. This module loads with typer and the standard
library alone, so the runtime install (no torch) lists and helps these commands; each
command imports its host code when it runs, and a missing extra becomes one line that says
what to install (:func:`needs_extra`). Every :class:`~edge_affect.errors.EdgeAffectError`
becomes ``error: <message>`` on stderr and its exit code (:func:`reports_errors`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import typer

from edge_affect.audio import SAMPLE_RATE
from edge_affect.errors import EdgeAffectError, ToolMissingError

P = ParamSpec("P")

HOST_PACKAGES = frozenset({"edge_affect_train", "edge_affect_export"})
"""The host-side packages themselves: absent from an install that left them out."""
EXTRA_PACKAGES = frozenset({"torch", "onnx", "onnxscript", "h5py"})
"""The third-party packages the ``train`` and ``export`` extras install."""


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Turn the import of a missing extra's package inside the block into a one-line error.

    ``with needs_extra("train"): from edge_affect_train.x import y`` raises
    :class:`~edge_affect.errors.ToolMissingError` naming the extra when torch, h5py, onnx or
    onnxscript (or the host package) is not installed; other import errors stay bugs.
    """
    try:
        yield
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing.partition(".")[0] in HOST_PACKAGES | EXTRA_PACKAGES:
            raise ToolMissingError(
                f"this command needs the [{extra}] extra ({missing} is not installed): "
                f"pip install 'edge-affect[{extra}]'"
            ) from None
        raise


def reports_errors(command: Callable[P, None]) -> Callable[P, None]:
    """Run ``command``; an :class:`EdgeAffectError` becomes ``error: ...`` and its exit code."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except EdgeAffectError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None

    return run


def echo_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, sort_keys=False))


Device = Annotated[
    str, typer.Option(help="auto, cpu or cuda[:N]; under torchrun each rank takes its own GPU.")
]
Epochs = Annotated[
    int,
    typer.Option(
        help="Maximum epochs (early stopping on dev CCC), or all of them with --average-last."
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        help="Random seed (a CPU run repeats exactly on the same machine and thread count; "
        "other CPUs' float paths move it: docs/results/protocol.md)."
    ),
]
AverageLast = Annotated[
    int,
    typer.Option(
        "--average-last",
        help="0: early stopping on dev. N: a fixed schedule of --epochs epochs whose final "
        "weights average the last N epochs' (no per-run selection).",
    ),
]
Labelled = Annotated[
    int,
    typer.Option(
        help="Label-scarce training: only N training sessions (a choice fixed by --seed) keep "
        "their labels; a transfer student still trains translation and alignment on the "
        "rest, a baseline trains on the N alone. 0: all.",
    ),
]
Quiet = Annotated[bool, typer.Option(help="No progress bars or per-epoch lines.")]
Corpus = Annotated[Path, typer.Option(help="AVEC 2016-layout corpus folder.")]
ExperimentData = Annotated[
    Path,
    typer.Option(
        help="AVEC 2016-layout corpus folder, or a CMU-MOSI source: a folder of .csd "
        "computational sequences or an aligned pickle (MulT mosi_data.pkl, MMSA aligned_50.pkl)."
    ),
]
RunDir = Annotated[
    Path, typer.Option(help="Run folder (checkpoint.pt, metrics.jsonl, summary.json).")
]
LabelDelay = Annotated[
    float, typer.Option("--label-delay", help="Annotation delay compensation (s).")
]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Chunks per optimiser step.")]
ChunkS = Annotated[float, typer.Option("--chunk-s", help="Training chunk length (s).")]
LearningRate = Annotated[float, typer.Option("--lr", help="AdamW learning rate.")]
Postprocess = Annotated[
    bool, typer.Option(help="Also report scores after dev-chosen smoothing (offline only).")
]
Patience = Annotated[int, typer.Option(help="Epochs without dev improvement before stopping.")]


@reports_errors
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write the corpus into (new or empty).")],
    preset: Annotated[
        str,
        typer.Option(
            help="tiny, small, avec, their -chain and -chain-flite variants, or recola "
            "(the study preset, docs/synthetic_corpus.md)."
        ),
    ] = "tiny",
    seed: Annotated[int, typer.Option(help="Random seed; same seed -> same bytes.")] = 0,
    sample_rate: Annotated[
        int, typer.Option("--sample-rate", help="Audio rate in Hz.")
    ] = SAMPLE_RATE,
    jobs: Annotated[int, typer.Option(help="Parallel worker processes (default: all cores).")] = 0,
    force: Annotated[
        bool, typer.Option(help="Replace an existing synthetic corpus in OUT.")
    ] = False,
    valence_cue: Annotated[
        float | None,
        typer.Option(
            "--valence-cue",
            help="Scale of valence's effect on pitch and rate [default: the preset's].",
        ),
    ] = None,
    extra_train: Annotated[
        int,
        typer.Option(
            "--extra-train",
            help="Add this many training sessions (new subjects; the other sessions keep "
            "their bytes): a larger training set for a headroom measurement.",
        ),
    ] = 0,
    extra_test: Annotated[
        int,
        typer.Option(
            "--extra-test",
            help="Add this many test sessions (new subjects on the test split's voices; the "
            "other sessions keep their bytes): a larger test split for a narrower interval.",
        ),
    ] = 0,
) -> None:
    """Generate a synthetic multimodal corpus in the AVEC 2016 / RECOLA layout."""
    with needs_extra("train"):
        from edge_affect_train.synth import generate_corpus  # noqa: PLC0415 - host-only

    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    summary = generate_corpus(
        out,
        preset=preset,
        seed=seed,
        sample_rate=sample_rate,
        jobs=workers,
        force=force,
        valence_cue=valence_cue,
        extra_train=extra_train,
        extra_test=extra_test,
    )
    typer.echo(
        f"wrote {summary.sessions} sessions ({summary.audio_s / 60:.1f} min of audio, "
        f"{summary.bytes_on_disk / 1e6:.1f} MB) to {out} in {summary.elapsed_s:.1f} s"
    )


@reports_errors
def data_describe(
    path: Annotated[
        Path,
        typer.Argument(help="An AVEC 2016-layout corpus folder, a .csd folder or a MOSI pickle."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    evidence: Annotated[
        bool, typer.Option(help="For a synthetic corpus, measure the simulation evidence.")
    ] = True,
) -> None:
    """Sessions (or MOSI segments) per split, modalities, label statistics, evidence."""
    with needs_extra("train"):
        from edge_affect_train.data.describe import describe_path, format_any  # noqa: PLC0415

    description = describe_path(path, evidence=evidence)
    if as_json:
        echo_json(description)
    else:
        typer.echo(format_any(description))


def _train_args(
    epochs: int,
    batch_size: int,
    chunk_s: float,
    lr: float,
    patience: int,
    seed: int,
    device: str,
    quiet: bool,
    label_delay: float,
    postprocess: bool,
    average_last: int = 0,
    labelled: int = 0,
) -> dict[str, Any]:
    """TrainConfig fields from the options teacher and student share."""
    return {
        "average_last": average_last,
        "labelled": labelled,
        "epochs": epochs,
        "batch_size": batch_size,
        "chunk_s": chunk_s,
        "lr": lr,
        "patience": patience,
        "seed": seed,
        "device": device,
        "quiet": quiet,
        "label_delay_s": label_delay,
        "postprocess": postprocess,
    }


@reports_errors
def train_teacher(
    data: Corpus,
    modality: Annotated[
        list[str], typer.Option(help="features_* folder name; repeat to concatenate.")
    ],
    out: RunDir,
    encoder: Annotated[str, typer.Option(help="bigru, transformer or gru.")] = "bigru",
    hidden: Annotated[
        int, typer.Option(help="Encoder width = the latent the student aligns to.")
    ] = 64,
    label_delay: LabelDelay = 0.0,
    postprocess: Postprocess = False,
    epochs: Epochs = 40,
    batch_size: BatchSize = 8,
    chunk_s: ChunkS = 8.0,
    lr: LearningRate = 1e-3,
    patience: Patience = 10,
    seed: Seed = 0,
    device: Device = "auto",
    quiet: Quiet = False,
    average_last: AverageLast = 0,
    labelled: Labelled = 0,
) -> None:
    """Stage 1: train the teacher on a stronger modality."""
    with needs_extra("train"):
        from edge_affect_train import commands  # noqa: PLC0415 - host-only (torch)

    args = _train_args(
        epochs,
        batch_size,
        chunk_s,
        lr,
        patience,
        seed,
        device,
        quiet,
        label_delay,
        postprocess,
        average_last,
        labelled,
    )
    typer.echo(commands.teacher(data, tuple(modality), out, encoder, hidden, args))


@reports_errors
def train_student(
    data: Corpus,
    method: Annotated[
        str, typer.Option(help="transfer, baseline, no-translation or no-alignment.")
    ],
    out: RunDir,
    teacher: Annotated[
        Path | None, typer.Option(help="Teacher checkpoint (not needed for baseline).")
    ] = None,
    align: Annotated[str, typer.Option(help="Alignment loss: cca, mse or cosine.")] = "cca",
    encoder: Annotated[
        str, typer.Option(help="gru (causal, streams), bigru or transformer.")
    ] = "gru",
    hidden: Annotated[int, typer.Option(help="Encoder width.")] = 64,
    z_dim: Annotated[
        int, typer.Option("--z-dim", help="Intermediate size without a teacher.")
    ] = 64,
    translation_weight: Annotated[float, typer.Option("--translation-weight")] = 1.0,
    alignment_weight: Annotated[float, typer.Option("--alignment-weight")] = 1.0,
    level_tau: Annotated[
        float,
        typer.Option(
            "--level-tau",
            help="Level normalisation: seconds of the running log-mel mean each band is "
            "taken relative to (gain and microphone invariance); 0: off.",
        ),
    ] = 0.0,
    train_labels: Annotated[
        str,
        typer.Option(
            "--train-labels",
            help="gold (the raters' mean) or latent (a synthetic corpus's truth: the "
            "ceiling of what the audio holds); dev and test are scored on gold.",
        ),
    ] = "gold",
    translate_to: Annotated[
        str,
        typer.Option(
            "--translate-to",
            help="What the translation decodes: features (the teacher modality, as in the "
            "paper) or latent (the frozen teacher's latent sequence).",
        ),
    ] = "features",
    distill_weight: Annotated[
        float,
        typer.Option(
            "--distill-weight",
            help="With --labelled: on the sessions without labels, also train the student's "
            "predictions towards the frozen teacher's (1 - CCC, this weight; output "
            "distillation, not the paper's method). 0: off.",
        ),
    ] = 0.0,
    distill_from: Annotated[
        Path | None,
        typer.Option(
            "--distill-from",
            help="With --distill-weight: train towards the predictions of this frozen student "
            "checkpoint (an audio model, e.g. a baseline: self-training) instead of the "
            "teacher's. It must read the same frontend (--level-tau).",
        ),
    ] = None,
    label_delay: LabelDelay = 0.0,
    postprocess: Postprocess = False,
    epochs: Epochs = 40,
    batch_size: BatchSize = 8,
    chunk_s: ChunkS = 8.0,
    lr: LearningRate = 1e-3,
    patience: Patience = 10,
    seed: Seed = 0,
    device: Device = "auto",
    quiet: Quiet = False,
    average_last: AverageLast = 0,
    labelled: Labelled = 0,
    unlabelled_per_batch: Annotated[
        int,
        typer.Option(
            "--unlabelled-per-batch",
            help="With --labelled, a transfer student: every batch holds --batch-size labelled "
            "chunks, drawn as a run on the labelled sessions alone draws them (an epoch covers "
            "those once), plus N chunks of the unlabelled ones. 0: an epoch covers all "
            "sessions once, chunks drawn from all alike.",
        ),
    ] = 0,
) -> None:
    """Stage 2: train the audio student (transfer, baseline or an ablation)."""
    with needs_extra("train"):
        from edge_affect_train import commands  # noqa: PLC0415 - host-only (torch)

    args = _train_args(
        epochs,
        batch_size,
        chunk_s,
        lr,
        patience,
        seed,
        device,
        quiet,
        label_delay,
        postprocess,
        average_last,
        labelled,
    )
    args["unlabelled_per_batch"] = unlabelled_per_batch
    weights = (translation_weight, alignment_weight)
    run = commands.student_run(
        data,
        teacher,
        method,
        out,
        align,
        encoder,
        hidden,
        z_dim,
        weights,
        args,
        level_tau,
        train_labels,
        translate_to,
        distill_weight,
        distill_from,
    )
    typer.echo(commands.student_summary(method, run))


@reports_errors
def train_experiment(
    data: ExperimentData,
    out: Annotated[Path, typer.Option(help="Folder for runs, results.json and results.md.")],
    seeds: Annotated[int, typer.Option(help="Student seeds per method.")] = 3,
    preset: Annotated[str, typer.Option(help="fast (smoke check) or full.")] = "fast",
    modality: Annotated[
        list[str] | None, typer.Option(help="Teacher modality (repeatable).")
    ] = None,
    align: Annotated[str, typer.Option(help="Alignment loss: cca, mse or cosine.")] = "cca",
    reference: Annotated[
        bool, typer.Option(help="Add the AVEC-style row when openSMILE is installed.")
    ] = True,
    label_delay: LabelDelay = 0.0,
    postprocess: Postprocess = False,
    student_modality: Annotated[
        str | None,
        typer.Option(help="CMU-MOSI: the student's features, audio (default) or vision."),
    ] = None,
    folds: Annotated[
        Path | None, typer.Option(help="CMU-MOSI .csd: a JSON folds file (default: standard).")
    ] = None,
    unassigned: Annotated[
        str | None,
        typer.Option(help="CMU-MOSI .csd: videos in no fold: error (default), drop, or a split."),
    ] = None,
    encoder: Annotated[
        str | None, typer.Option(help="CMU-MOSI: bigru (default) or transformer, both models.")
    ] = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> None:
    """Teacher, then every method for every seed; writes results.json and results.md.

    The default teacher modality is video_appearance for an AVEC corpus, text for CMU-MOSI.
    """
    with needs_extra("train"):
        from edge_affect_train.experiment import run_experiment  # noqa: PLC0415 - host-only
        from edge_affect_train.mosi_experiment import MosiOptions  # noqa: PLC0415 - host-only

    mosi = None
    if any(v is not None for v in (student_modality, folds, unassigned, encoder)):
        mosi = MosiOptions(
            student_modality=student_modality or "audio",
            folds=folds,
            unassigned=unassigned or "error",
            encoder=encoder,
        )
    run_experiment(
        data,
        out,
        seeds=seeds,
        preset=preset,
        device=device,
        modalities=tuple(modality) if modality else None,
        align=align,  # type: ignore[arg-type]  # checked by the experiment
        reference=reference,
        quiet=quiet,
        label_delay_s=label_delay,
        postprocess=postprocess,
        mosi=mosi,
    )


def _seed_list(seeds: str, option: str = "--seeds") -> list[int]:
    """``"10"`` -> 0-9; ``"5-9"`` -> 5..9; ``"0,3"`` -> [0, 3]. ``option``: the option the
    text came from, for the error message."""
    try:
        if "-" in seeds:
            first, last = (int(x) for x in seeds.split("-", 1))
            chosen = list(range(first, last + 1))
        elif "," in seeds:
            chosen = [int(x) for x in seeds.split(",")]
        else:
            chosen = list(range(int(seeds)))
    except ValueError:
        chosen = []
    if not chosen or min(chosen) < 0:
        raise EdgeAffectError(
            f"{option} {seeds!r}: give a count (10), a range (5-9) or a list (0,3)"
        )
    return chosen


def _session_range(sessions: str, option: str = "--table-sessions") -> tuple[int, int]:
    """``"19-180"`` -> (19, 180): 1-based positions in the test split, both included.
    ``option``: the option the text came from, for the error message."""
    first, _, last = sessions.partition("-")
    if first.isdigit() and last.isdigit() and 1 <= int(first) <= int(last):
        return int(first), int(last)
    raise EdgeAffectError(
        f"{option} {sessions!r}: give a range of test-split positions, e.g. 19-180"
    )


def _check_study_run(jobs: int, device: str, join: bool, plan: str, plans: Collection[str]) -> None:
    """The options of a ``train study`` call that runs, checked before anything runs."""
    if jobs < 1:
        raise EdgeAffectError("--jobs must be at least 1")
    if device not in ("cpu", "cuda"):
        raise EdgeAffectError(f"unknown --device {device!r}; use cpu or cuda")
    if join and device != "cpu":
        raise EdgeAffectError("--join is for a CPU: runs on a GPU form a table of their own")
    if plan not in plans:
        raise EdgeAffectError(f"unknown --plan {plan!r}; choose one of {', '.join(plans)}")


@reports_errors
def train_study(
    data: Annotated[
        Path | None, typer.Option(help="The study's corpus (synth --preset recola).")
    ] = None,
    runs: Annotated[
        Path, typer.Option(help="Working folder: teachers and run folders (not results).")
    ] = Path("runs/study"),
    results: Annotated[
        Path, typer.Option(help="One JSON result file per (cell, seed); the table's source.")
    ] = Path("docs/results/study"),
    seeds: Annotated[
        str, typer.Option(help="A count (10: seeds 0-9), a range (10-14) or a list (0,3).")
    ] = "10",
    cell: Annotated[
        list[str] | None,
        typer.Option(help="Cells to run (repeat; default: every cell of the study)."),
    ] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes, one thread each.")] = 1,
    device: Annotated[
        str,
        typer.Option(
            help="cpu (the study's tables) or cuda: every worker trains on the GPU (bf16); "
            "its runs form a table of their own."
        ),
    ] = "cpu",
    plan: Annotated[
        str, typer.Option(help="full (the study's settings) or smoke (a quick check).")
    ] = "full",
    table_only: Annotated[
        bool, typer.Option("--table-only", help="Only assemble the table from the results.")
    ] = False,
    like: Annotated[
        Path | None,
        typer.Option(
            "--like",
            help="Run the (cell, seed) pairs that have result files in this folder (e.g. "
            "docs/results/study, to recompute its table elsewhere) instead of --seeds.",
        ),
    ] = None,
    more_data: Annotated[
        Path | None,
        typer.Option(
            "--more-data",
            help="The study corpus with 54 extra training sessions (synth --extra-train 54), "
            "for the cell all/ceiling-data.",
        ),
    ] = None,
    join: Annotated[
        bool,
        typer.Option(
            "--join",
            help="This CPU is not the one that computed --results: first recompute 2 of its "
            "runs here, and add runs to it only if they are equal bit for bit.",
        ),
    ] = False,
    rescore: Annotated[
        bool,
        typer.Option(
            "--rescore",
            help="With --like: train nothing; score that table's runs at --seeds again on --data "
            "(its corpus with more test sessions, synth --extra-test) from the weights their "
            "run folders under --runs keep. Each must give that table's figures on the shared "
            "sessions bit for bit.",
        ),
    ] = False,
    table_seeds: Annotated[
        str | None,
        typer.Option(
            "--table-seeds",
            help="With --table-only: print the table over these seeds only (10: the table as "
            "it stood at seeds 0-9, as the docs quote it); writes no file.",
        ),
    ] = None,
    table_sessions: Annotated[
        str | None,
        typer.Option(
            "--table-sessions",
            help="With --table-only: print the table scored on these test sessions only "
            "(19-180: positions in the split, from 1; e.g. the sessions --extra-test added); "
            "writes no file.",
        ),
    ] = None,
) -> None:
    """The transfer study (docs/results/protocol.md): runs what has no result file yet, then
    writes table.md and table.json beside the results."""
    with needs_extra("train"):
        from edge_affect_train import transfer_study  # noqa: PLC0415 - host-only

    if table_seeds is not None or table_sessions is not None:
        if not table_only:
            raise EdgeAffectError("--table-seeds and --table-sessions go with --table-only")
        study = transfer_study.assemble(
            results,
            None if table_seeds is None else _seed_list(table_seeds, "--table-seeds"),
            None if table_sessions is None else _session_range(table_sessions),
        )
        typer.echo(transfer_study.format_table(study), nl=False)
        return
    if join and table_only:
        raise EdgeAffectError("--join goes with runs, not with --table-only")
    if rescore and (like is None or table_only or join or device != "cpu"):
        raise EdgeAffectError(
            "--rescore goes with --like TABLE (on the CPU), not with --table-only or --join"
        )
    if not table_only:
        if data is None:
            raise EdgeAffectError("give --data CORPUS (or --table-only)")
        _check_study_run(jobs, device, join, plan, transfer_study.PLANS)
        if like is not None:
            if like.resolve() == results.resolve():
                raise EdgeAffectError("--like and --results are the same folder")
            pairs = transfer_study.pairs_like(like, cell)
        else:
            pairs = transfer_study.grid(cell or list(transfer_study.CELLS), _seed_list(seeds))
        plan_chosen = transfer_study.PLANS[plan]
        if rescore:
            assert like is not None
            chosen = set(_seed_list(seeds))
            pairs = [(c, s) for c, s in pairs if s in chosen]
            transfer_study.rescore_study(data, runs, results, like, pairs, jobs, typer.echo)
        else:
            if join:
                transfer_study.join_table(
                    data, runs, results, plan_chosen, jobs, typer.echo, more_data
                )
            transfer_study.run_study(
                data, runs, results, pairs, plan_chosen, jobs, typer.echo, more_data, device
            )
    study = transfer_study.write_table(results, results / "table.md")
    typer.echo(transfer_study.format_table(study), nl=False)
    typer.echo(f"wrote {results / 'table.md'} and {results / 'table.json'}")


def register(app: typer.Typer) -> None:
    """Add ``synth``, ``data describe`` and ``train teacher|student|experiment`` to ``app``."""
    app.command("synth")(synth)
    data_app = typer.Typer(help="Inspect corpora.", no_args_is_help=True)
    data_app.command("describe")(data_describe)
    app.add_typer(data_app, name="data")
    train_app = typer.Typer(
        help="Two-stage cross-modal transfer training (needs the \\[train] extra).",
        no_args_is_help=True,
    )
    train_app.command("teacher")(train_teacher)
    train_app.command("student")(train_student)
    train_app.command("experiment")(train_experiment)
    train_app.command("study")(train_study)
    app.add_typer(train_app, name="train")
