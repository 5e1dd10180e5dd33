"""The host commands: ``synth``, ``data describe``, ``train teacher|student|experiment``,
``export``.

They need the training and export packages (``edge_affect_train``, ``edge_affect_export``,
with torch and onnx), which the device install does not have: each command loads its module
when it runs (:func:`load_host_module`) and names the missing extra otherwise, so the runtime
install starts and serves its own commands. This module is the one place the runtime's command
line reaches into those packages.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from edge_affect.cli.common import CommandGroup, echo_json
from edge_affect.errors import EdgeAffectError, ToolMissingError


def register(app: typer.Typer) -> None:
    """Add ``synth`` and ``export``, and the ``data`` and ``train`` groups, to ``app``."""
    app.command()(synth)
    app.command("export")(export_model)
    data_app = typer.Typer(cls=CommandGroup, help="Inspect corpora.", no_args_is_help=True)
    data_app.command("describe")(data_describe)
    app.add_typer(data_app, name="data")
    train_app = typer.Typer(
        cls=CommandGroup,
        help="Two-stage cross-modal transfer training (needs the \\[train] extra).",
        no_args_is_help=True,
    )
    train_app.command("teacher")(train_teacher)
    train_app.command("student")(train_student)
    train_app.command("experiment")(train_experiment)
    app.add_typer(train_app, name="train")


Device = Annotated[
    str, typer.Option(help="auto, cpu or cuda[:N]; under torchrun each rank takes its own GPU.")
]
Epochs = Annotated[int, typer.Option(help="Maximum epochs (early stopping on dev CCC).")]
Seed = Annotated[int, typer.Option(help="Random seed (runs are deterministic on CPU).")]
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


def load_host_module(name: str, extra: str) -> ModuleType:
    """Import a host-side module (``train.*``/``export.*``) by name, or say which extra."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if (
            missing in {"train", "export"}
            or name.startswith(f"{missing}.")
            or missing
            in {
                "torch",
                "onnx",
                "onnxscript",
                "h5py",
            }
        ):
            raise ToolMissingError(
                f"this command needs the [{extra}] extra ({missing} is not installed): "
                f"pip install 'edge-affect[{extra}]'"
            ) from None
        raise


def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write the corpus into (new or empty).")],
    preset: Annotated[str, typer.Option(help="Corpus size: tiny, small or avec.")] = "tiny",
    seed: Annotated[int, typer.Option(help="Random seed; same seed -> same bytes.")] = 0,
    sample_rate: Annotated[int, typer.Option("--sample-rate", help="Audio rate in Hz.")] = 16_000,
    jobs: Annotated[int, typer.Option(help="Parallel worker processes (default: all cores).")] = 0,
    force: Annotated[
        bool, typer.Option(help="Replace an existing synthetic corpus in OUT.")
    ] = False,
    valence_cue: Annotated[
        float, typer.Option("--valence-cue", help="Scale of valence's effect on pitch and rate.")
    ] = 1.0,
) -> None:
    """Generate a synthetic multimodal corpus in the AVEC 2016 / RECOLA layout."""
    corpus = load_host_module("edge_affect_train.synth", "train")
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    summary = corpus.generate_corpus(
        out,
        preset=preset,
        seed=seed,
        sample_rate=sample_rate,
        jobs=workers,
        force=force,
        valence_cue=valence_cue,
    )
    typer.echo(
        f"wrote {summary.sessions} sessions ({summary.audio_s / 60:.1f} min of audio, "
        f"{summary.bytes_on_disk / 1e6:.1f} MB) to {out} in {summary.elapsed_s:.1f} s"
    )


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
    describe = load_host_module("edge_affect_train.data.describe", "train")
    description = describe.describe_path(path, evidence=evidence)
    if as_json:
        echo_json(description)
    else:
        typer.echo(describe.format_any(description))


def _train_args(**options: Any) -> dict[str, Any]:
    """TrainConfig fields from CLI options (``label_delay`` -> ``label_delay_s``)."""
    options["label_delay_s"] = options.pop("label_delay")
    return options


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
) -> None:
    """Stage 1: train the teacher on a stronger modality."""
    commands = load_host_module("edge_affect_train.commands", "train")
    args = _train_args(
        epochs=epochs,
        batch_size=batch_size,
        chunk_s=chunk_s,
        lr=lr,
        patience=patience,
        seed=seed,
        device=device,
        quiet=quiet,
        label_delay=label_delay,
        postprocess=postprocess,
    )
    typer.echo(commands.teacher(data, tuple(modality), out, encoder, hidden, args))


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
) -> None:
    """Stage 2: train the audio student (transfer, baseline or an ablation)."""
    commands = load_host_module("edge_affect_train.commands", "train")
    args = _train_args(
        epochs=epochs,
        batch_size=batch_size,
        chunk_s=chunk_s,
        lr=lr,
        patience=patience,
        seed=seed,
        device=device,
        quiet=quiet,
        label_delay=label_delay,
        postprocess=postprocess,
    )
    weights = (translation_weight, alignment_weight)
    typer.echo(
        commands.student(data, teacher, method, out, align, encoder, hidden, z_dim, weights, args)
    )


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
    experiment = load_host_module("edge_affect_train.experiment", "train")
    mosi = None
    if any(v is not None for v in (student_modality, folds, unassigned, encoder)):
        options = load_host_module("edge_affect_train.mosi_experiment", "train").MosiOptions
        mosi = options(
            student_modality=student_modality or "audio",
            folds=folds,
            unassigned=unassigned or "error",
            encoder=encoder,
        )
    experiment.run_experiment(
        data,
        out,
        seeds=seeds,
        preset=preset,
        device=device,
        modalities=tuple(modality) if modality else None,
        align=align,
        reference=reference,
        quiet=quiet,
        label_delay_s=label_delay,
        postprocess=postprocess,
        mosi=mosi,
    )


def export_model(
    checkpoint: Annotated[Path, typer.Argument(help="A student checkpoint (checkpoint.pt).")],
    out: Annotated[Path, typer.Option(help="The fp32 ONNX file to write (NAME.onnx).")],
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write NAME.int8.onnx (dynamic u8u8 int8).")
    ] = False,
    mode: Annotated[
        str | None,
        typer.Option(help="stream (causal students; default) or window (default otherwise)."),
    ] = None,
    window_s: Annotated[
        float | None,
        typer.Option("--window-s", help="Window length in s (default: the training chunk)."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Corpus whose dev split the report scores.")
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="Corpus whose train audio calibrates static QDQ int8 (implies --int8)."),
    ] = None,
    int8_scheme: Annotated[
        str | None,
        typer.Option(
            "--int8-scheme",
            help="int8 scheme (implies --int8): u8u8 (default), u8u8-per-channel, u8s8, "
            "u8s8-reduce-range, u8s8-per-channel-reduce-range, static-u8u8 (default with "
            "--calibration), static-u8s8. See docs/export.md.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Student checkpoint -> ONNX fp32 (+ int8) with its contract and a parity report."""
    if mode not in (None, "stream", "window"):
        raise EdgeAffectError(f"--mode {mode}: choose stream or window")
    exporter = load_host_module("edge_affect_export.exporter", "export")
    report_module = load_host_module("edge_affect_export.report", "export")
    options = exporter.ExportOptions(
        mode=mode,
        window_s=window_s,
        int8=int8,
        data=data,
        calibration=calibration,
        int8_scheme=int8_scheme,
    )
    report = exporter.export_student(checkpoint, out, options)
    if as_json:
        echo_json(report)
    else:
        typer.echo(report_module.format_report(report))
        written = [out, *([exporter.int8_path(out)] if "int8" in report["files"] else [])]
        typer.echo(f"wrote {', '.join(str(p) for p in written)} and {exporter.report_path(out)}")
