"""Reader for a corpus in the AVEC 2016 / RECOLA layout (real or synthetic).

::

    <root>/recordings_audio/{train,dev,test}_<n>.wav
    <root>/ratings_gold_standard/{arousal,valence}/<session>.arff
    <root>/ratings_individual/{arousal,valence}/<session>.csv
    <root>/features_<modality>/{arousal,valence}/<session>.arff
    <root>/features_<modality>/<session>.arff           (also accepted)

Sessions are found from the audio and gold-standard files; the label grid of a session is
its gold standard (7501 frames for a 5-minute RECOLA session). Audio is read at the rate its
header gives and resampled to 16 kHz mono. Every modality is aligned to the label grid by
its ``frameTime``. The test labels of the real release are withheld: a session without gold
standard is listed, and asking for its labels is a clear error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from edge_affect.arrays import FloatArray
from edge_affect.audio import HOP_S, LABEL_NAMES, SAMPLE_RATE
from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect.formats.arff import FrameTable, read_arff, read_gold_standard
from edge_affect.formats.raters import Ratings, read_ratings
from edge_affect.formats.timegrid import shift_frames
from edge_affect_train.audio_io import AudioClip, audio_info, read_audio

SPLITS = ("train", "dev", "test")
AUDIO_DIR = "recordings_audio"
GOLD_DIR = "ratings_gold_standard"
RATINGS_DIR = "ratings_individual"
FEATURE_PREFIX = "features_"
AUDIO_SUFFIXES = (".wav", ".flac")
_SESSION_RE = re.compile(r"^(train|dev|test)_(\d+)$")
#: Audio may end this much before the last label frame (one hop of rounding).
AUDIO_SHORTFALL_TOLERANCE_S = HOP_S


@dataclass(frozen=True)
class Session:
    name: str
    split: str
    index: int


def _session_sort_key(session: Session) -> tuple[int, int]:
    return SPLITS.index(session.split), session.index


class AvecCorpus:
    """An AVEC 2016-layout folder. ``label_delay_s`` shifts labels earlier (AVEC practice
    for annotation delay compensation; default 0 = off)."""

    def __init__(self, root: str | Path, *, label_delay_s: float = 0.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingDataError(f"{self.root}: no such corpus folder")
        self.label_delay_s = label_delay_s
        self._n_frames: dict[str, int] = {}
        if not self.sessions:
            raise MissingDataError(
                f"{self.root}: no sessions found (expected {AUDIO_DIR}/<split>_<n>.wav or "
                f"{GOLD_DIR}/<dimension>/<split>_<n>.arff)"
            )

    # ------------------------------------------------------------------ discovery
    @cached_property
    def sessions(self) -> tuple[Session, ...]:
        names: set[str] = set()
        audio_dir = self.root / AUDIO_DIR
        if audio_dir.is_dir():
            names |= {p.stem for p in audio_dir.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES}
        for dimension in LABEL_NAMES:
            gold_dir = self.root / GOLD_DIR / dimension
            if gold_dir.is_dir():
                names |= {p.stem for p in gold_dir.glob("*.arff")}
        found = []
        for name in names:
            match = _SESSION_RE.match(name)
            if match:
                found.append(Session(name, match.group(1), int(match.group(2))))
        return tuple(sorted(found, key=_session_sort_key))

    def split(self, split: str) -> list[Session]:
        if split not in SPLITS:
            raise DataFormatError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return [s for s in self.sessions if s.split == split]

    def session(self, name: str) -> Session:
        for s in self.sessions:
            if s.name == name:
                return s
        raise MissingDataError(f"{self.root}: no session {name!r}")

    @cached_property
    def modalities(self) -> tuple[str, ...]:
        """Feature modalities by folder name without the ``features_`` prefix."""
        return tuple(
            sorted(
                p.name[len(FEATURE_PREFIX) :]
                for p in self.root.iterdir()
                if p.is_dir() and p.name.startswith(FEATURE_PREFIX)
            )
        )

    def has_labels(self, session: Session) -> bool:
        return all(
            (self.root / GOLD_DIR / d / f"{session.name}.arff").is_file() for d in LABEL_NAMES
        )

    # ------------------------------------------------------------------ labels
    def _gold_table(self, session: Session, dimension: str) -> FrameTable:
        if dimension not in LABEL_NAMES:
            raise DataFormatError(f"unknown dimension {dimension!r}")
        path = self.root / GOLD_DIR / dimension / f"{session.name}.arff"
        if not path.is_file():
            raise MissingDataError(f"{path}: no gold standard for {session.name} ({dimension})")
        table = read_gold_standard(path)
        if abs(table.times[0]) > 1e-6:
            raise DataFormatError(f"{path}: labels start at {table.times[0]:.2f} s, expected 0.00")
        return table

    def gold(self, session: Session, dimension: str) -> FloatArray:
        """One dimension's gold standard, delay-compensated by ``label_delay_s``."""
        values = self._gold_table(session, dimension).values[:, 0]
        return shift_frames(values, self.label_delay_s)

    def labels(self, session: Session) -> FloatArray:
        """``(frames, 2)`` arousal and valence; the two files must have the same length."""
        columns = [self.gold(session, d) for d in LABEL_NAMES]
        if columns[0].shape != columns[1].shape:
            raise DataFormatError(
                f"{session.name}: arousal has {columns[0].shape[0]} frames, valence "
                f"{columns[1].shape[0]}"
            )
        return np.column_stack(columns)

    def n_frames(self, session: Session) -> int:
        """The session's label frames (read once per corpus object: loading a session asks
        for it several times)."""
        if session.name not in self._n_frames:
            self._n_frames[session.name] = self._gold_table(session, LABEL_NAMES[0]).n_frames
        return self._n_frames[session.name]

    def ratings(self, session: Session, dimension: str) -> Ratings:
        path = self.root / RATINGS_DIR / dimension / f"{session.name}.csv"
        ratings = read_ratings(path)
        expected = self.n_frames(session)
        if ratings.values.shape[0] != expected:
            raise DataFormatError(
                f"{path}: {ratings.values.shape[0]} frames, the gold standard has {expected}"
            )
        return ratings

    # ------------------------------------------------------------------ audio
    def audio_path(self, session: Session) -> Path:
        for suffix in AUDIO_SUFFIXES:
            path = self.root / AUDIO_DIR / f"{session.name}{suffix}"
            if path.is_file():
                return path
        raise MissingDataError(f"{self.root / AUDIO_DIR}: no audio for {session.name}")

    def audio_info(self, session: Session) -> tuple[int, int, float]:
        return audio_info(self.audio_path(session))

    def audio(self, session: Session, sample_rate: int = SAMPLE_RATE) -> AudioClip:
        """Audio at ``sample_rate`` mono; checked to cover the session's labels."""
        clip = read_audio(self.audio_path(session), sample_rate=sample_rate)
        if self.has_labels(session):
            needed_s = (self.n_frames(session) - 1) * HOP_S
            if clip.duration_s + AUDIO_SHORTFALL_TOLERANCE_S < needed_s:
                raise DataFormatError(
                    f"{self.audio_path(session)}: audio lasts {clip.duration_s:.2f} s but the "
                    f"labels run to {needed_s:.2f} s"
                )
        return clip

    # ------------------------------------------------------------------ features
    def feature_path(self, session: Session, modality: str, dimension: str = "arousal") -> Path:
        name = modality[len(FEATURE_PREFIX) :] if modality.startswith(FEATURE_PREFIX) else modality
        folder = self.root / f"{FEATURE_PREFIX}{name}"
        if not folder.is_dir():
            raise MissingDataError(
                f"{self.root}: no modality {name!r} (has: {', '.join(self.modalities) or 'none'})"
            )
        for candidate in (
            folder / dimension / f"{session.name}.arff",
            folder / f"{session.name}.arff",
        ):
            if candidate.is_file():
                return candidate
        raise MissingDataError(f"{folder}: no features for {session.name}")

    def feature_table(
        self, session: Session, modality: str, dimension: str = "arousal"
    ) -> FrameTable:
        return read_arff(self.feature_path(session, modality, dimension))

    def features(self, session: Session, modality: str, dimension: str = "arousal") -> FloatArray:
        """``(frames, dim)`` features aligned to the session's label grid by frameTime."""
        path = self.feature_path(session, modality, dimension)
        table = read_arff(path)
        first = round(float(table.times[0]) / HOP_S)
        n = self.n_frames(session) if self.has_labels(session) else first + table.n_frames
        if first > 0 or first + table.n_frames < n:
            raise DataFormatError(
                f"{path}: features cover frames {first}..{first + table.n_frames - 1}, "
                f"the labels need 0..{n - 1}"
            )
        return table.values[-first : -first + n] if first < 0 else table.values[:n]
