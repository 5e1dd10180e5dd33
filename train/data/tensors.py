"""Sessions as tensors for training: log-mel, labels and teacher features on one grid.

The log-mel frontend has no trainable parameters, so it runs once per session here and the
student trains on the cached frames (``AudioStudent.represent_mel``); export still puts the
same frontend module inside the graph. Label frame ``i`` (time ``i * 40 ms``) pairs with the
audio hop ``[i * 640, (i + 1) * 640)`` and its four 10 ms mel frames; the audio is padded with
silence (or trimmed) to exactly one hop per label frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from edge_affect.audio import HOP_SAMPLES, LABEL_RATE_HZ
from edge_affect.errors import DataFormatError
from edge_affect_train.data.avec import AvecCorpus, Session
from edge_affect_train.frontend import FrontendConfig, LogMel


@dataclass(frozen=True)
class SessionData:
    name: str
    split: str
    mel: Tensor  # (4N, n_mels) float32
    labels: Tensor  # (N, 2) float32
    features: Tensor  # (N, D) float32; D = 0 when no teacher modality was loaded

    @property
    def n_frames(self) -> int:
        return int(self.labels.shape[0])


def pcm_for_labels(corpus: AvecCorpus, session: Session, n_frames: int) -> Tensor:
    samples = corpus.audio(session).samples
    needed = n_frames * HOP_SAMPLES
    out = np.zeros(needed, dtype=np.float32)
    out[: min(needed, samples.shape[0])] = samples[:needed]
    return torch.from_numpy(out)


def _features(corpus: AvecCorpus, session: Session, modalities: tuple[str, ...]) -> Tensor:
    n = corpus.n_frames(session)
    if not modalities:
        return torch.zeros(n, 0)
    parts = [corpus.features(session, m) for m in modalities]
    stacked = np.concatenate(parts, axis=1).astype(np.float32)
    if not np.all(np.isfinite(stacked)):
        stacked = np.nan_to_num(stacked, nan=0.0)
    return torch.from_numpy(stacked)


@torch.no_grad()
def load_session(
    corpus: AvecCorpus,
    session: Session,
    frontend: LogMel,
    modalities: tuple[str, ...] = (),
    with_audio: bool = True,
) -> SessionData:
    """One labelled session on the label grid."""
    if not corpus.has_labels(session):
        raise DataFormatError(
            f"{session.name} has no gold standard; it cannot be used for training"
        )
    labels = torch.from_numpy(corpus.labels(session).astype(np.float32))
    n = labels.shape[0]
    if with_audio:
        mel = frontend(pcm_for_labels(corpus, session, n).unsqueeze(0))[0]
    else:
        mel = torch.zeros(n * frontend.config.frames_per_hop, frontend.config.n_mels)
    return SessionData(
        session.name, session.split, mel, labels, _features(corpus, session, modalities)
    )


def load_splits(
    corpus: AvecCorpus,
    frontend_config: FrontendConfig,
    modalities: tuple[str, ...] = (),
    splits: tuple[str, ...] = ("train", "dev", "test"),
    with_audio: bool = True,
) -> dict[str, list[SessionData]]:
    """Every labelled session of ``splits``; a split without labelled sessions is an error."""
    frontend = LogMel(frontend_config)
    out: dict[str, list[SessionData]] = {}
    for split in splits:
        sessions = [s for s in corpus.split(split) if corpus.has_labels(s)]
        if not sessions:
            raise DataFormatError(f"{corpus.root}: no labelled {split} sessions")
        out[split] = [load_session(corpus, s, frontend, modalities, with_audio) for s in sessions]
    return out


def hours_of_audio(sessions: list[SessionData]) -> float:
    return sum(s.n_frames for s in sessions) / LABEL_RATE_HZ / 3600


class ChunkDataset(Dataset[dict[str, Tensor]]):
    """Random fixed-length chunks of the training sessions, redrawn every epoch.

    An epoch holds about as many chunks as it takes to cover the data once, or ``n_chunks``
    (a label-scarce baseline takes as many optimiser steps as a run on every session). Chunk
    starts are drawn from ``(seed, epoch, *stream)``, so every DDP rank sees the same list
    and a ``DistributedSampler`` splits it; a second dataset of the same run (the unlabelled
    chunks of a mixed batch) takes its own ``stream``.
    """

    def __init__(
        self,
        sessions: list[SessionData],
        chunk_frames: int,
        seed: int,
        n_chunks: int | None = None,
        stream: tuple[int, ...] = (),
    ) -> None:
        if not sessions:
            raise DataFormatError("no training sessions")
        self.sessions = sessions
        self.chunk_frames = min(chunk_frames, *(s.n_frames for s in sessions))
        total = sum(s.n_frames for s in sessions)
        self.n_chunks = n_chunks or max(1, total // self.chunk_frames)
        self.seed = seed
        self.stream = stream
        self.picks: list[tuple[int, int]] = []
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, epoch, *self.stream])
        lengths = np.array([s.n_frames for s in self.sessions], dtype=np.float64)
        chosen = rng.choice(len(self.sessions), size=self.n_chunks, p=lengths / lengths.sum())
        self.picks = [
            (int(i), int(rng.integers(0, self.sessions[i].n_frames - self.chunk_frames + 1)))
            for i in chosen
        ]

    def __len__(self) -> int:
        return self.n_chunks

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        session_index, start = self.picks[index]
        s = self.sessions[session_index]
        stop = start + self.chunk_frames
        per_hop = s.mel.shape[0] // s.n_frames
        return {
            "mel": s.mel[start * per_hop : stop * per_hop],
            "labels": s.labels[start:stop],
            "features": s.features[start:stop],
        }
