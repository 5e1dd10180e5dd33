"""A small synthetic CMU-MOSI-like dataset, written in the exact SDK and pickle layouts.

The generative model, deterministic given a seed:

* videos take real ids from the standard folds (so fold handling is exercised as on MOSI);
  each holds a few opinion segments of 2-5 s separated by pauses with filler words;
* sentiment per segment is the mean of five integer ratings in [-3, 3] (multiples of 0.2,
  some exactly 0), as MOSI's labels are;
* text: word-level intervals (0.15-0.45 s words, ``sp`` pauses with zero vectors) and 300-d
  "GloVe" vectors; each word has a polarity (-1, 0, +1) written into its vector along one
  direction, and a segment's words are drawn with polarities that follow its sentiment —
  text carries the sentiment strongly;
* audio: COVAREP-like 74-d frames at 100 Hz over the whole video; five dimensions move
  weakly with the segment's sentiment, under a per-speaker offset and a per-segment
  nuisance of similar size; the rest is noise; one dimension holds ``-inf`` on some
  unvoiced frames, as real log features do;
* vision: FACET-like 47-d frames at 30 Hz, built the same way with a stronger cue.

Writers produce the ``.csd`` files (labels, words, word vectors, COVAREP, FACET), a MulT
``mosi_data.pkl`` and an MMSA ``aligned_50.pkl`` (both word-aligned, 50 steps, zero padded).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from edge_affect_train.data.mosi import standard_folds

TEXT_DIM, AUDIO_DIM, VISION_DIM = 300, 74, 47
AUDIO_RATE_HZ, VISION_RATE_HZ = 100.0, 30.0
PICKLE_STEPS = 50
PICKLE_AUDIO_DIM, PICKLE_VISION_DIM, MMSA_TEXT_DIM = 5, 20, 768
VOCABULARY = 120
NAMES = {
    "labels": "CMU_MOSI_Opinion_Labels",
    "words": "CMU_MOSI_TimestampedWords",
    "text": "CMU_MOSI_TimestampedWordVectors",
    "audio": "CMU_MOSI_COVAREP",
    "vision": "CMU_MOSI_Visual_Facet_41",
}


@dataclass(frozen=True)
class Sequence:
    features: np.ndarray  # (N, D)
    intervals: np.ndarray  # (N, 2)


@dataclass(frozen=True)
class Video:
    video_id: str
    labels: Sequence  # (segments, 1) sentiment, segment intervals
    words: Sequence  # (N, 1) byte strings
    text: Sequence  # (N, 300)
    audio: Sequence  # (frames, 74) at 100 Hz
    vision: Sequence  # (frames, 47) at 30 Hz


@dataclass(frozen=True)
class SynthMosi:
    videos: tuple[Video, ...]
    splits: dict[str, tuple[str, ...]]  # split -> video ids


def _vocabulary(rng: np.random.Generator) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    tokens = [f"w{i:03d}".encode() for i in range(VOCABULARY)]
    polarity = rng.choice([-1.0, 0.0, 1.0], size=VOCABULARY, p=[0.3, 0.4, 0.3])
    direction = rng.normal(size=TEXT_DIM)
    direction /= np.linalg.norm(direction)
    vectors = rng.normal(scale=0.3, size=(VOCABULARY, TEXT_DIM))
    vectors += polarity[:, None] * 1.5 * direction
    return tokens, polarity, vectors.astype(np.float32)


def _sentiment(rng: np.random.Generator) -> float:
    if rng.random() < 0.12:
        return 0.0
    centre = rng.uniform(-2.6, 2.6)
    ratings = np.clip(np.round(centre + rng.normal(scale=0.8, size=5)), -3, 3)
    return round(float(ratings.mean()), 1)


def _words(
    rng: np.random.Generator, start: float, end: float, sentiment: float, polarity: np.ndarray
) -> list[tuple[float, float, int]]:
    """(start, end, vocabulary index or -1 for ``sp``) filling ``[start, end)``."""
    out = []
    t = start
    p_positive = 1 / (1 + np.exp(-1.6 * sentiment))
    while t < end - 0.2:
        duration = min(rng.uniform(0.15, 0.45), end - t)
        if rng.random() < 0.1:
            index = -1
        else:
            wanted = rng.choice([1.0, -1.0], p=[p_positive, 1 - p_positive])
            if rng.random() < 0.4:
                wanted = 0.0
            index = int(rng.choice(np.flatnonzero(polarity == wanted)))
        out.append((t, t + duration, index))
        t += duration + rng.uniform(0.0, 0.08)
    return out


def _frames(duration: float, rate_hz: float) -> np.ndarray:
    starts = np.arange(int(duration * rate_hz)) / rate_hz
    return np.column_stack([starts, starts + 1 / rate_hz])


def _signal(
    rng: np.random.Generator, intervals: np.ndarray, labelled: np.ndarray, dims: int, gain: float
) -> np.ndarray:
    """Noise with a speaker offset, plus ``gain`` x the segment's sentiment on 3-5 dims."""
    mids = intervals.mean(axis=1)
    values = rng.normal(size=(mids.shape[0], dims)) + rng.normal(scale=0.5, size=dims)
    for (a, b), s in zip(labelled.intervals, labelled.features[:, 0], strict=True):
        inside = (mids >= a) & (mids < b)
        # the sentiment cue plus a segment-level nuisance that averaging does not remove
        cue = gain * s * np.array([1.0, -0.8, 0.6, 0.5, -0.4])
        values[inside, :5] += cue + rng.normal(scale=0.6, size=5)
    return values.astype(np.float32)


def _video(rng: np.random.Generator, video_id: str, vocab: Any, n_segments: int) -> Video:
    tokens, polarity, vectors = vocab
    t, segments, word_rows = rng.uniform(0.3, 1.0), [], []
    for _ in range(n_segments):
        length = rng.uniform(2.0, 5.0)
        sentiment = _sentiment(rng)
        segments.append((t, t + length, sentiment))
        word_rows += _words(rng, t + 0.05, t + length - 0.05, sentiment, polarity)
        gap = rng.uniform(0.4, 1.2)
        word_rows += _words(rng, t + length + 0.05, t + length + gap - 0.05, 0.0, polarity)
        t += length + gap
    labels = Sequence(
        np.array([[s] for _, _, s in segments], dtype=np.float32),
        np.array([[a, b] for a, b, _ in segments]),
    )
    index = np.array([w[2] for w in word_rows])
    text = np.where(index[:, None] >= 0, vectors[np.maximum(index, 0)], 0.0).astype(np.float32)
    words = np.array([[tokens[i] if i >= 0 else b"sp"] for i in index], dtype="S8")
    word_intervals = np.array([[a, b] for a, b, _ in word_rows])
    audio_t, vision_t = _frames(t + 0.5, AUDIO_RATE_HZ), _frames(t + 0.5, VISION_RATE_HZ)
    audio = _signal(rng, audio_t, labels, AUDIO_DIM, gain=0.4)
    audio[rng.random(audio.shape[0]) < 0.02, 3] = -np.inf  # log energy of silent frames
    vision = _signal(rng, vision_t, labels, VISION_DIM, gain=0.6)
    return Video(
        video_id,
        labels,
        Sequence(words, word_intervals),
        Sequence(text, word_intervals),
        Sequence(audio, audio_t),
        Sequence(vision, vision_t),
    )


def make_dataset(
    seed: int = 0, videos: tuple[int, int, int] = (6, 2, 2), segments: tuple[int, int] = (4, 6)
) -> SynthMosi:
    """``videos`` per split (train, valid, test) with ``segments`` (min, max) each."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    folds = standard_folds()
    splits: dict[str, tuple[str, ...]] = {}
    made = []
    for split, count in zip(("train", "valid", "test"), videos, strict=True):
        ids = tuple(sorted(folds.videos[split])[:count])
        splits[split] = ids
        for video_id in ids:
            n = int(rng.integers(segments[0], segments[1] + 1))
            made.append(_video(rng, video_id, vocab, n))
    return SynthMosi(tuple(made), splits)


# ---------------------------------------------------------------------- .csd


def write_csd(
    path: Path, root_name: str, data: dict[str, Sequence], metadata: dict[str, Any]
) -> None:
    """One computational sequence in the SDK's layout (metadata as JSON strings)."""
    with h5py.File(path, "w") as handle:
        root = handle.create_group(root_name)
        group = root.create_group("data")
        for video_id, sequence in data.items():
            video = group.create_group(video_id)
            video.create_dataset("features", data=sequence.features)
            video.create_dataset("intervals", data=sequence.intervals)
        meta = root.create_group("metadata")
        for key, value in metadata.items():
            entry = meta.create_dataset(key, (1,), dtype=h5py.special_dtype(vlen=str))
            entry[0] = json.dumps(value)


def _metadata(root_name: str, dims: int, description: str) -> dict[str, Any]:
    return {
        "root name": root_name,
        "computational sequence description": description,
        "dimension names": [f"d{i}" for i in range(dims)],
        "computational sequence version": "1.0",
        "alignment compatible": True,
        "dataset name": "CMU-MOSI (synthetic)",
        "dataset version": "1.0",
        "creator": "edge-affect tests",
        "contact": "none",
        "featureset bib citation": "none",
        "dataset bib citation": "none",
    }


def write_csd_folder(folder: Path, synth: SynthMosi) -> dict[str, Path]:
    """The five sequences as ``<root name>.csd`` files; returns role -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    descriptions = {
        "labels": "Opinion segment sentiment in [-3, 3]",
        "words": "Time-stamped words",
        "text": "GloVe 840B word vectors",
        "audio": "COVAREP acoustic features",
        "vision": "FACET 4.1 facial expression features",
    }
    for role, name in NAMES.items():
        data = {v.video_id: getattr(v, role) for v in synth.videos}
        dims = next(iter(data.values())).features.shape[1]
        paths[role] = folder / f"{name}.csd"
        write_csd(paths[role], name, data, _metadata(name, dims, descriptions[role]))
    return paths


# ---------------------------------------------------------------------- pickles


def _word_aligned(video: Video, segment: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """text, audio, vision on the segment's words (mean of the frames inside each word)."""
    start, end = video.labels.intervals[segment]
    mids = video.text.intervals.mean(axis=1)
    inside = np.flatnonzero((mids >= start) & (mids < end))
    rows: list[list[np.ndarray]] = [[], [], []]
    for i in inside:
        a, b = video.text.intervals[i]
        rows[0].append(video.text.features[i])
        for slot, seq in ((1, video.audio), (2, video.vision)):
            m = seq.intervals.mean(axis=1)
            rows[slot].append(seq.features[(m >= a) & (m < b)].mean(axis=0))
    words = " ".join(video.words.features[i, 0].decode() for i in inside)
    return np.array(rows[0]), np.array(rows[1]), np.array(rows[2]), words


def _pad(x: np.ndarray, front: bool) -> np.ndarray:
    x = x[-PICKLE_STEPS:]
    pad = np.zeros((PICKLE_STEPS - x.shape[0], x.shape[1]), dtype=np.float32)
    return np.concatenate([pad, x] if front else [x, pad]).astype(np.float32)


def _pickle_split(synth: SynthMosi, split: str, mmsa: bool) -> dict[str, Any]:
    text, audio, vision, labels, ids, raw = [], [], [], [], [], []
    for video in synth.videos:
        if video.video_id not in synth.splits[split]:
            continue
        for k in range(video.labels.features.shape[0]):
            t, a, v, words = _word_aligned(video, k)
            if mmsa:
                t = np.tile(t, (1, MMSA_TEXT_DIM // TEXT_DIM + 1))[:, :MMSA_TEXT_DIM]
            text.append(_pad(t, front=not mmsa))
            audio.append(_pad(a[:, :PICKLE_AUDIO_DIM], front=not mmsa))
            vision.append(_pad(v[:, :PICKLE_VISION_DIM], front=not mmsa))
            labels.append(float(video.labels.features[k, 0]))
            ids.append((video.video_id, k))
            raw.append(words)
    out: dict[str, Any] = {"text": np.array(text), "audio": np.array(audio)}
    out["vision"] = np.array(vision)
    if mmsa:
        out["regression_labels"] = np.array(labels, dtype=np.float32)
        out["id"] = [f"{v}$_${k}" for v, k in ids]
        out["raw_text"] = np.array(raw)
        out["text_bert"] = np.zeros((len(ids), 3, PICKLE_STEPS), dtype=np.float32)
        out["classification_labels"] = np.sign(np.array(labels)) + 1
    else:
        out["labels"] = np.array(labels, dtype=np.float32).reshape(-1, 1, 1)
        out["id"] = np.array([[v, str(k)] for v, k in ids])
    return out


def write_pickle(path: Path, synth: SynthMosi, flavour: str = "mult") -> Path:
    """MulT ``mosi_data.pkl`` (``flavour="mult"``) or MMSA ``aligned_50.pkl`` (``"mmsa"``)."""
    data = {s: _pickle_split(synth, s, flavour == "mmsa") for s in ("train", "valid", "test")}
    with path.open("wb") as handle:
        pickle.dump(data, handle)
    return path
