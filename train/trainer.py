"""AVEC training of teacher and student: devices, DDP, chunk batches, dev CCC, logging.

The epoch and early-stopping loop itself is :mod:`edge_affect_train.loop`, shared with the
CMU-MOSI trainer.

A *task* is an ``nn.Module`` whose ``forward(mel, labels, features)`` returns a dict of
losses with a ``"loss"`` entry, and whose ``predict(mel, features)`` returns ``(B, frames, 2)``
predictions for whole sessions. The loop is the same on CPU, one GPU (bf16 autocast) and
many (``torchrun``: DDP with a ``DistributedSampler``; rank 0 logs and checkpoints).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch
import torch.distributed as dist
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from edge_affect.audio import LABEL_RATE_HZ
from edge_affect.errors import DataFormatError, EdgeAffectError
from edge_affect.scoring.metrics import ccc_per_dimension
from edge_affect_train.data.tensors import ChunkDataset, SessionData
from edge_affect_train.loop import (
    MetricsFile,
    adamw,
    autocast,
    early_stopping,
    fixed_schedule,
    train_epoch,
)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40
    batch_size: int = 8
    chunk_s: float = 8.0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 10
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # CPU threads for torch (0: leave torch's default)
    quiet: bool = False
    label_delay_s: float = 0.0  # annotation delay compensation applied when loading labels
    postprocess: bool = False  # dev-chosen smoothing of predictions, reported beside raw scores
    #: the training split's labels: "gold" or a synthetic corpus's "latent" truth (recorded;
    #: the loading is done by the caller, edge_affect_train.commands.latent_labels)
    train_labels: str = "gold"
    #: 0: early stopping on dev (``patience``). N > 0: a fixed schedule of exactly ``epochs``
    #: epochs whose final weights are the average of the last N epochs' (no per-run selection)
    average_last: int = 0
    #: with a fixed schedule, epochs whose running average is also kept (FitResult.snapshots)
    snapshots: tuple[int, ...] = ()
    #: training chunks per epoch (0: as many as cover the training sessions once)
    chunks_per_epoch: int = 0
    #: labelled training sessions (0: all); the rest train without the task loss
    labelled: int = 0
    #: the labelled training sessions by name, instead of ``labelled`` drawn ones (empty:
    #: as ``labelled``); the rest train without the task loss
    labelled_sessions: tuple[str, ...] = ()
    #: > 0: mixed batches. Each holds ``batch_size`` chunks of the labelled training
    #: sessions, drawn as a run on those sessions alone draws them (same chunks, order and
    #: steps), plus this many chunks of the sessions without labels (NaN: translation and
    #: alignment only), drawn from their own random stream
    unlabelled_per_batch: int = 0
    #: with ``unlabelled_per_batch``: the training sessions the batches draw from as a run
    #: on them alone draws (labelled or not: a label-scarce twin's training split); the
    #: appended chunks come from the other sessions, which must have no labels. Empty: the
    #: batches draw from the labelled sessions and the appended chunks from the rest
    batch_sessions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if min(self.average_last, self.chunks_per_epoch, self.labelled) < 0:
            raise EdgeAffectError(
                "--average-last, chunks per epoch and --labelled must not be negative"
            )
        if self.unlabelled_per_batch < 0:
            raise EdgeAffectError("--unlabelled-per-batch must not be negative")
        if self.batch_sessions and not self.unlabelled_per_batch:
            raise EdgeAffectError("batch sessions go with --unlabelled-per-batch")
        if self.labelled and self.labelled_sessions:
            raise EdgeAffectError("give the labelled sessions as a count or by name, not both")
        if self.average_last > self.epochs:
            raise EdgeAffectError(
                f"--average-last {self.average_last} is more than the {self.epochs} epochs"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Task(Protocol):
    def __call__(self, mel: Tensor, labels: Tensor, features: Tensor) -> dict[str, Tensor]: ...
    def predict(self, mel: Tensor, features: Tensor) -> Tensor: ...


@dataclass
class FitResult:
    best_epoch: int
    dev_ccc: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    audio_hours_per_minute: float = 0.0
    #: fixed schedule: epoch -> the average of the last ``average_last`` epochs' weights then
    snapshots: dict[int, dict[str, Tensor]] = field(default_factory=dict)


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EdgeAffectError("--device cuda was asked for but no CUDA device is available")
    if name != "cpu" and not name.startswith("cuda"):
        raise EdgeAffectError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")
    return torch.device(name)


def setup_runtime(config: TrainConfig) -> Runtime:
    """Device and, under ``torchrun`` (WORLD_SIZE > 1), the process group."""
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Runtime(resolve_device(config.device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(config.device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Runtime(device, dist.get_rank(), dist.get_world_size())


@torch.no_grad()
def evaluate(
    task: nn.Module, sessions: list[SessionData], device: torch.device
) -> dict[str, float]:
    """CCC per dimension over the concatenation of ``sessions`` (AVEC practice)."""
    predictions, golds = predict_sessions(task, sessions, device)
    return ccc_per_dimension(np.concatenate(predictions), np.concatenate(golds))


#: The most sessions in one forward pass when scoring. It bounds memory on a large split
#: and keeps a split's first sessions in the batches they had before sessions were added
#: (18: a split of the recola preset), so those sessions score to the same bits on one CPU
#: (a kernel may round differently for another batch size).
PREDICT_BATCH = 18


@torch.no_grad()
def predict_sessions(
    task: nn.Module, sessions: list[SessionData], device: torch.device
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Whole-session predictions, sessions of equal length batched together (at most
    :data:`PREDICT_BATCH` at a time, in input order), returned in input order."""
    was_training = task.training
    task.eval()
    by_length: dict[int, list[int]] = {}
    for i, session in enumerate(sessions):
        by_length.setdefault(session.n_frames, []).append(i)
    batches = [
        same[start : start + PREDICT_BATCH]
        for same in by_length.values()
        for start in range(0, len(same), PREDICT_BATCH)
    ]
    predictions: list[np.ndarray] = [np.empty(0)] * len(sessions)
    with autocast(device):
        for indices in batches:
            mel = torch.stack([sessions[i].mel for i in indices]).to(device)
            features = torch.stack([sessions[i].features for i in indices]).to(device)
            batch = task.predict(mel, features).float().cpu().numpy()  # type: ignore[operator]
            for row, i in enumerate(indices):
                predictions[i] = batch[row]
    task.train(was_training)
    return predictions, [s.labels.numpy() for s in sessions]


class _Logger:
    def __init__(self, run_dir: Path | None, runtime: Runtime, quiet: bool) -> None:
        self.file = MetricsFile(run_dir if runtime.main else None)
        self.quiet = quiet or not runtime.main

    def log(self, record: dict[str, Any]) -> None:
        self.file.write(record)
        if not self.quiet:
            dev = "  ".join(
                f"{k[8:]} {v:+.3f}" for k, v in record.items() if k.startswith("dev_ccc_")
            )
            print(
                f"epoch {record['epoch']:3d}  loss {record['train_loss']:.4f}  dev CCC {dev}  "
                f"{record['audio_hours_per_minute']:.2f} h audio/min",
                flush=True,
            )


@contextmanager
def _progress(quiet: bool, total: int, epoch: int) -> Iterator[Any]:
    if quiet:
        yield None
        return
    columns = (
        TextColumn(f"epoch {epoch:3d}"),
        BarColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        yield (progress, progress.add_task("train", total=total, loss=""))


def _loader(
    dataset: ChunkDataset, config: TrainConfig, runtime: Runtime, batch_size: int, shuffle: bool
) -> tuple[DataLoader[Any], DistributedSampler[Any] | None]:
    sampler: DistributedSampler[Any] | None = None
    if runtime.world > 1:
        sampler = DistributedSampler(
            dataset, runtime.world, runtime.rank, shuffle=shuffle, seed=config.seed
        )
    generator = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        generator=generator,
        drop_last=False,
    )
    return loader, sampler


#: The random stream of a mixed batch's unlabelled chunks (apart from the labelled ones').
_UNLABELLED_STREAM = (0x0B1E,)


@dataclass
class TrainingBatches:
    """An epoch's batches (``set_epoch`` first): one loader, or with mixed batches
    (``TrainConfig.unlabelled_per_batch``) the labelled loader's batches with the
    unlabelled loader's appended chunk-wise."""

    loaders: list[DataLoader[Any]]
    samplers: list[DistributedSampler[Any] | None]

    def set_epoch(self, epoch: int) -> None:
        for loader, sampler in zip(self.loaders, self.samplers, strict=True):
            cast(ChunkDataset, loader.dataset).set_epoch(epoch)
            if sampler is not None:
                sampler.set_epoch(epoch)

    @property
    def audio_h(self) -> float:
        """Hours of training audio in one epoch."""
        datasets = [cast(ChunkDataset, loader.dataset) for loader in self.loaders]
        return sum(d.n_chunks * d.chunk_frames for d in datasets) / LABEL_RATE_HZ / 3600

    def __len__(self) -> int:
        return len(self.loaders[0])

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        if len(self.loaders) == 1:
            yield from self.loaders[0]
            return
        for parts in zip(*self.loaders, strict=True):
            yield {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def training_batches(
    sessions: list[SessionData], config: TrainConfig, runtime: Runtime
) -> TrainingBatches:
    """The training batches of ``sessions`` under ``config`` (mixed batches split the
    sessions by ``config.batch_sessions``, or else by their labels: all NaN is
    unlabelled)."""
    labelled, unlabelled = sessions, []
    if config.unlabelled_per_batch:
        without = [bool(torch.isnan(s.labels).all()) for s in sessions]
        if config.batch_sessions:
            return _mixed_batches(sessions, without, config, runtime)
        labelled = [s for s, none in zip(sessions, without, strict=True) if not none]
        unlabelled = [s for s, none in zip(sessions, without, strict=True) if none]
        if not unlabelled or not labelled:
            raise EdgeAffectError(
                "--unlabelled-per-batch needs training sessions with labels and sessions "
                f"without (a transfer student with --labelled); this run has {len(labelled)} "
                f"labelled and {len(unlabelled)} unlabelled"
            )
    return _batches(labelled, unlabelled, config, runtime)


def _mixed_batches(
    sessions: list[SessionData], without: list[bool], config: TrainConfig, runtime: Runtime
) -> TrainingBatches:
    """Mixed batches whose main part draws from ``config.batch_sessions`` (labelled or not)
    and whose appended chunks come from the other sessions, all without labels."""
    wanted = set(config.batch_sessions)
    missing = sorted(wanted - {s.name for s in sessions})
    if missing:
        raise EdgeAffectError(f"batch sessions not in the training split: {', '.join(missing)}")
    pairs = list(zip(sessions, without, strict=True))
    main = [s for s in sessions if s.name in wanted]
    rest = [s for s, none in pairs if s.name not in wanted and none]
    labelled_rest = [s.name for s, none in pairs if s.name not in wanted and not none]
    if labelled_rest:
        raise EdgeAffectError(
            "the chunks appended to mixed batches must come from sessions without labels; "
            f"these have labels: {', '.join(labelled_rest)}"
        )
    if not rest:
        raise EdgeAffectError(
            "--unlabelled-per-batch needs training sessions besides the batch sessions"
        )
    return _batches(main, rest, config, runtime)


def _batches(
    labelled: list[SessionData],
    unlabelled: list[SessionData],
    config: TrainConfig,
    runtime: Runtime,
) -> TrainingBatches:
    """One loader over ``labelled`` (the batches a run on them alone draws) and, when
    ``unlabelled`` is not empty, the loader of the chunks appended to each batch."""
    dataset = ChunkDataset(
        labelled,
        round(config.chunk_s * LABEL_RATE_HZ),
        config.seed,
        n_chunks=config.chunks_per_epoch or None,
    )
    loader, sampler = _loader(dataset, config, runtime, config.batch_size, shuffle=True)
    if not unlabelled:
        return TrainingBatches([loader], [sampler])
    extra = ChunkDataset(
        unlabelled,
        dataset.chunk_frames,
        config.seed,
        n_chunks=len(loader) * config.unlabelled_per_batch * runtime.world,
        stream=_UNLABELLED_STREAM,
    )
    if extra.chunk_frames != dataset.chunk_frames:
        raise DataFormatError(
            f"an unlabelled training session is shorter than one chunk ({dataset.chunk_frames}"
            " label frames); give a shorter --chunk-s"
        )
    extra_loader, extra_sampler = _loader(
        extra, config, runtime, config.unlabelled_per_batch, shuffle=False
    )
    return TrainingBatches([loader, extra_loader], [sampler, extra_sampler])


def _chunk_losses(model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    losses: dict[str, Tensor] = model(batch["mel"], batch["labels"], batch["features"])
    return losses


def _train_epoch(
    model: nn.Module,
    loader: TrainingBatches,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    runtime: Runtime,
    epoch: int,
) -> float:
    with _progress(config.quiet or not runtime.main, len(loader), epoch) as bar:
        advance: Callable[[float], None] | None = None
        if bar is not None:
            progress, task_id = bar

            def advance(loss: float) -> None:
                progress.update(task_id, advance=1, loss=f"loss {loss:.4f}")

        return train_epoch(
            model, loader, optimizer, config.grad_clip, runtime.device, _chunk_losses, advance
        )


def _scores_dev(config: TrainConfig, epoch: int) -> bool:
    """Early stopping needs dev every epoch; a fixed schedule only where it keeps a snapshot
    (and at the end): a quarter of a run's time is dev scoring."""
    if not config.average_last:
        return True
    return epoch in config.snapshots or epoch == config.epochs


def fit(
    task: nn.Module,
    train_sessions: list[SessionData],
    dev_sessions: list[SessionData],
    config: TrainConfig,
    run_dir: Path | None = None,
) -> FitResult:
    """Train ``task`` in place; on return it holds the weights of the best dev epoch."""
    runtime = setup_runtime(config)
    torch.manual_seed(config.seed)
    task.to(runtime.device)
    model: nn.Module = task
    if runtime.world > 1:
        model = DistributedDataParallel(
            task, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None
        )
    batches = training_batches(train_sessions, config, runtime)
    optimizer = adamw(task, config.lr, config.weight_decay)
    logger = _Logger(run_dir, runtime, config.quiet)
    epoch_audio_h = batches.audio_h

    def run_epoch(epoch: int) -> tuple[dict[str, Any], dict[str, float], float]:
        batches.set_epoch(epoch)
        t0 = time.perf_counter()
        train_loss = _train_epoch(model, batches, optimizer, config, runtime, epoch)
        seconds = time.perf_counter() - t0
        record: dict[str, Any] = {"epoch": epoch, "train_loss": round(train_loss, 6)}
        dev: dict[str, float] = {}
        if _scores_dev(config, epoch):
            dev = evaluate(task, dev_sessions, runtime.device)
            record.update({f"dev_ccc_{k}": round(v, 6) for k, v in dev.items()})
            record["dev_loss"] = round(float(np.mean([1 - v for v in dev.values()])), 6)
        record["epoch_s"] = round(seconds, 3)
        record["audio_hours_per_minute"] = round(epoch_audio_h / max(seconds, 1e-9) * 60, 4)
        return record, dev, float(np.mean(list(dev.values()))) if dev else float("nan")

    started = time.perf_counter()
    snapshots: dict[int, dict[str, Tensor]] = {}
    if config.average_last:
        stopped, snapshots = fixed_schedule(
            task, config.epochs, config.average_last, run_epoch, logger.log, config.snapshots
        )
        stopped.best_scores = evaluate(task, dev_sessions, runtime.device)
    else:
        stopped = early_stopping(
            task,
            config.epochs,
            config.patience,
            run_epoch,
            logger.log,
            "training diverged: the dev CCC was never a finite number",
        )
    best = FitResult(stopped.best_epoch, stopped.best_scores, stopped.history)
    best.snapshots = snapshots
    best.wall_s = time.perf_counter() - started
    trained_h = sum(r["epoch_s"] for r in best.history) / 60
    best.audio_hours_per_minute = epoch_audio_h * len(best.history) / max(trained_h, 1e-9)
    return best
