"""CMU-MOSI sources: a folder of CMU-MultimodalSDK ``.csd`` files, or an aligned pickle.

Both give the same in-memory representation: opinion :class:`Segment` s (id, video, split,
sentiment in [-3, 3]) and, for the sequences asked for, per-segment ``(T, D)`` float32
arrays (:class:`SegmentFeatures`).

* **A ``.csd`` folder** (``CMU_MOSI_Opinion_Labels.csd``, ``CMU_MOSI_COVAREP.csd``, ...).
  The labels sequence (root name containing ``Label``) has one row per opinion segment:
  sentiment ``(N, 1)`` and the segment's interval; the segment id is ``<video>[<row>]``
  (a labels file already keyed ``<video>[<i>]`` keeps its keys). Every other sequence is
  sliced to each segment: a frame (or word) belongs to the segment when the midpoint of its
  interval lies in ``[start, end)``. Splits come from the standard folds (the SDK's video
  lists, shipped as ``cmu_mosi_std_folds.json``) or a folds file; a video in no fold is an
  error unless ``unassigned`` says otherwise (``drop`` or a split name).
* **An aligned pickle**: MulT ``mosi_data.pkl`` (``labels`` ``(N, 1, 1)``) or MMSA
  ``aligned_50.pkl`` (``regression_labels`` ``(N,)``), ``{train, valid, test}`` ->
  ``text``/``audio``/``vision`` ``(N, T, D)`` on a shared (word) grid and ``id``. Steps at
  the start and end of a segment where every modality is exactly zero are padding and are
  cut off.

Non-finite feature values (MulT audio holds ``-inf``) become 0; how many is reported.
Modalities are named by their sequence (root group) name or by role (``text``, ``audio``,
``vision``); a role must resolve to one numeric sequence.
"""

from __future__ import annotations

import json
import pickle
import re
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edge_affect.arrays import FloatArray
from edge_affect.errors import DataFormatError, EdgeAffectError, MissingDataError
from edge_affect_train.data.csd import CSD_SUFFIX, ROLES, SequenceFile, SequenceInfo, read_info

SPLITS = ("train", "valid", "test")
UNASSIGNED = ("error", "drop", *SPLITS)
PICKLE_SUFFIXES = (".pkl", ".pickle")
PICKLE_MODALITIES = ("text", "audio", "vision")
SENTIMENT_MAX = 3.0
FOLDS_RESOURCE = "cmu_mosi_std_folds.json"
_SEGMENT_KEY = re.compile(r"^(.+)\[(\d+)\]$")
_LABEL_TOLERANCE = 1e-4
Float32Array = npt.NDArray[np.float32]


# ---------------------------------------------------------------------- folds


@dataclass(frozen=True)
class Folds:
    source: str
    videos: dict[str, frozenset[str]]

    def split_of(self, video: str) -> str | None:
        for split in SPLITS:
            if video in self.videos[split]:
                return split
        return None


def _folds_from(payload: Any, source: str) -> Folds:
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(s), list) and all(isinstance(v, str) for v in payload[s])
        for s in SPLITS
    ):
        raise DataFormatError(f"{source}: folds need lists of video ids under {', '.join(SPLITS)}")
    videos = {s: frozenset(payload[s]) for s in SPLITS}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            both = videos[a] & videos[b]
            if both:
                raise DataFormatError(f"{source}: {sorted(both)[0]!r} is in both {a} and {b}")
    return Folds(source, videos)


def standard_folds() -> Folds:
    """The CMU-MultimodalSDK standard folds (52 train / 10 valid / 31 test videos)."""
    text = (
        resources.files("edge_affect_train.data")
        .joinpath(FOLDS_RESOURCE)
        .read_text(encoding="utf-8")
    )
    return _folds_from(json.loads(text), "standard")


def read_folds(path: Path) -> Folds:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingDataError(f"{path}: no such folds file") from None
    except (OSError, json.JSONDecodeError) as error:
        raise DataFormatError(f"{path}: not a JSON folds file ({error})") from None
    return _folds_from(payload, path.name)


# ---------------------------------------------------------------------- segments


@dataclass(frozen=True)
class Segment:
    segment_id: str
    video_id: str
    split: str
    label: float
    start_s: float = float("nan")  # NaN for pickles (no time stamps)
    end_s: float = float("nan")


@dataclass(frozen=True)
class SegmentFeatures:
    segment: Segment
    features: dict[str, Float32Array]  # sequence -> (T, D)
    intervals: dict[str, FloatArray] = field(default_factory=dict)  # empty when pre-aligned


@dataclass(frozen=True)
class Loaded:
    items: list[SegmentFeatures]
    dropped: dict[str, int]  # reason -> segments left out
    nonfinite: dict[str, int]  # sequence -> values replaced by 0


class MosiSource(Protocol):
    root: Path
    kind: str
    sequences: dict[str, SequenceInfo]
    segments: tuple[Segment, ...]
    unassigned_videos: tuple[str, ...]
    folds_source: str

    def load(self, names: tuple[str, ...]) -> Loaded: ...
    def nonfinite_totals(self) -> dict[str, int]: ...


def finite(values: np.ndarray) -> tuple[Float32Array, int]:
    """float32 copy with NaN/±inf replaced by 0, and how many were replaced."""
    out = np.asarray(values, dtype=np.float32)
    bad = ~np.isfinite(out)
    count = int(bad.sum())
    if count:
        out = np.where(bad, np.float32(0.0), out)
    return out, count


def _check_label(where: str, value: float) -> float:
    if not np.isfinite(value) or abs(value) > SENTIMENT_MAX + _LABEL_TOLERANCE:
        raise DataFormatError(f"{where}: sentiment {value} is outside [-3, 3]")
    return float(value)


def _assign(
    root: Path, videos: list[str], folds: Folds, unassigned: str
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Split per video under the fold policy, and the videos that were in no fold."""
    if unassigned not in UNASSIGNED:
        raise EdgeAffectError(
            f"unknown unassigned-video policy {unassigned!r}; choose one of {', '.join(UNASSIGNED)}"
        )
    splits: dict[str, str] = {}
    orphans = []
    for video in videos:
        split = folds.split_of(video)
        if split is None:
            orphans.append(video)
            if unassigned in SPLITS:
                splits[video] = unassigned
        else:
            splits[video] = split
    if orphans and unassigned == "error":
        shown = ", ".join(orphans[:5]) + (" ..." if len(orphans) > 5 else "")
        raise DataFormatError(
            f"{root}: {len(orphans)} video(s) are in no {folds.source} fold ({shown}); give "
            f"a folds file (--folds) or say what to do with them (--unassigned "
            f"{'|'.join(UNASSIGNED[1:])})"
        )
    return splits, tuple(orphans)


# ---------------------------------------------------------------------- .csd folders


def _label_rows(path: Path, handle: SequenceFile) -> list[tuple[str, str, float, float, float]]:
    """(segment id, video id, sentiment, start, end) for every row of the labels sequence."""
    rows = []
    for key in handle.videos():
        arrays = handle.video(key)
        if arrays.features.dtype.kind not in "fiub":
            raise DataFormatError(f"{path}: /{handle.name}/data/{key}/features is not numeric")
        match = _SEGMENT_KEY.match(key)
        single = match is not None and arrays.features.shape[0] == 1
        for i, (values, (start, end)) in enumerate(
            zip(arrays.features, arrays.intervals, strict=True)
        ):
            label = _check_label(f"{path}: /{handle.name}/data/{key} row {i}", float(values[0]))
            if single and match is not None:
                rows.append((key, match.group(1), label, float(start), float(end)))
            else:
                rows.append((f"{key}[{i}]", key, label, float(start), float(end)))
    return rows


@dataclass(frozen=True)
class _Slice:
    values: Float32Array  # non-finite values replaced by 0
    intervals: FloatArray
    nonfinite: int


def _slice_video(
    handle: SequenceFile, video: str, segments: list[Segment]
) -> dict[str, _Slice | None]:
    """Each segment's frames of one video: those whose interval midpoint lies in
    ``[start, end)``; ``None`` for a segment holding no frame."""
    arrays = handle.video(video)
    mids = arrays.intervals.mean(axis=1)
    out: dict[str, _Slice | None] = {}
    for s in segments:
        keep = (mids >= s.start_s) & (mids < s.end_s)
        if not keep.any():
            out[s.segment_id] = None
            continue
        values, bad = finite(arrays.features[keep])
        out[s.segment_id] = _Slice(values, arrays.intervals[keep], bad)
    return out


class CsdFolder:
    """A folder of ``.csd`` computational sequences with one labels sequence."""

    kind = "cmu-mosi-csd"

    def __init__(self, root: Path, folds: Folds | None = None, unassigned: str = "error") -> None:
        self.root = root
        infos = [read_info(p) for p in sorted(root.glob(f"*{CSD_SUFFIX}"))]
        names = Counter(i.name for i in infos)
        if any(n > 1 for n in names.values()):
            raise DataFormatError(
                f"{root}: two files hold the sequence {names.most_common(1)[0][0]}"
            )
        labels = [i for i in infos if i.role == "labels"]
        if len(labels) != 1:
            raise DataFormatError(
                f"{root}: expected one labels sequence (a root name containing 'Label', e.g. "
                f"CMU_MOSI_Opinion_Labels), found {len(labels)}"
            )
        self.labels_info = labels[0]
        self.sequences = {i.name: i for i in infos if i.role != "labels"}
        chosen = folds or standard_folds()
        self.folds_source = chosen.source
        with SequenceFile(self.labels_info.path) as handle:
            rows = _label_rows(self.labels_info.path, handle)
        videos = sorted({r[1] for r in rows})
        splits, self.unassigned_videos = _assign(root, videos, chosen, unassigned)
        self.segments = tuple(
            Segment(sid, vid, splits[vid], label, start, end)
            for sid, vid, label, start, end in rows
            if vid in splits
        )

    def load(self, names: tuple[str, ...]) -> Loaded:
        """Each segment's frames of every sequence in ``names``; a segment that lacks one
        (video absent from the file, or no frame inside the segment) is left out."""
        by_video: dict[str, list[Segment]] = {}
        for segment in self.segments:
            by_video.setdefault(segment.video_id, []).append(segment)
        sliced: dict[str, dict[str, _Slice]] = {s.segment_id: {} for s in self.segments}
        missing: dict[str, str] = {}
        for name in names:
            info = self.sequences[name]
            if not info.numeric:
                raise DataFormatError(f"{info.path}: {name} holds non-numeric features")
            with SequenceFile(info.path) as handle:
                for video, segments in by_video.items():
                    if not handle.has_video(video):
                        missing.update({s.segment_id: f"{name}: video absent" for s in segments})
                        continue
                    for sid, part in _slice_video(handle, video, segments).items():
                        if part is None:
                            missing.setdefault(sid, f"{name}: no frame in the segment")
                        else:
                            sliced[sid][name] = part
        kept = [s for s in self.segments if s.segment_id not in missing]
        items = [
            SegmentFeatures(
                s,
                {n: p.values for n, p in sliced[s.segment_id].items()},
                {n: p.intervals for n, p in sliced[s.segment_id].items()},
            )
            for s in kept
        ]
        nonfinite = {n: sum(sliced[s.segment_id][n].nonfinite for s in kept) for n in names}
        return Loaded(items, dict(Counter(missing.values())), nonfinite)

    def nonfinite_totals(self) -> dict[str, int]:
        """Non-finite values over every video of each numeric sequence."""
        totals = {}
        for name, info in self.sequences.items():
            if not info.numeric:
                continue
            with SequenceFile(info.path) as handle:
                totals[name] = sum(finite(handle.video(v).features)[1] for v in handle.videos())
        return totals


# ---------------------------------------------------------------------- aligned pickles


def _unpickle(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        raise MissingDataError(f"{path}: no such file") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as error:
        raise DataFormatError(
            f"{path}: not a readable pickle ({error.__class__.__name__})"
        ) from None


def _decode(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _parse_id(raw: Any, split: str, index: int) -> tuple[str, str]:
    """(segment id, video id) from a MulT id row (``[video, ...]``) or an MMSA string."""
    if raw is None:
        return f"{split}[{index}]", "unknown"
    if isinstance(raw, np.ndarray | list | tuple) and np.size(raw) > 0:
        parts = [_decode(p) for p in np.asarray(raw, dtype=object).ravel()]
        if len(parts) == 1:
            raw = parts[0]
        else:
            return f"{parts[0]}[{','.join(parts[1:])}]", parts[0]
    text = _decode(raw)
    if "$_$" in text:
        video, _, segment = text.partition("$_$")
        return f"{video}[{segment}]", video
    match = _SEGMENT_KEY.match(text)
    return text, match.group(1) if match else text


def _split_arrays(path: Path, split: str, part: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    if not isinstance(part, dict):
        raise DataFormatError(f"{path}: ['{split}'] is not a dict")
    label_key = "regression_labels" if "regression_labels" in part else "labels"
    for key in (*PICKLE_MODALITIES, label_key):
        if key not in part:
            raise DataFormatError(f"{path}: ['{split}'] has no '{key}' entry")
    arrays = {m: np.asarray(part[m]) for m in PICKLE_MODALITIES}
    labels = np.asarray(part[label_key], dtype=np.float64).reshape(-1)
    shapes = {m: a.shape for m, a in arrays.items()}
    if any(len(s) != 3 for s in shapes.values()):
        raise DataFormatError(f"{path}: ['{split}'] modalities must be (N, T, D), got {shapes}")
    if len({s[:2] for s in shapes.values()}) != 1 or shapes["text"][0] != labels.shape[0]:
        raise DataFormatError(
            f"{path}: ['{split}'] shapes disagree: {shapes}, {labels.shape[0]} labels "
            "(aligned pickles share N and T across modalities)"
        )
    for m, a in arrays.items():
        if a.dtype.kind not in "fiub":
            raise DataFormatError(f"{path}: ['{split}']['{m}'] is not numeric")
    return arrays, labels


def _content_span(arrays: list[Float32Array]) -> tuple[int, int]:
    """First and one-past-last step where some modality is non-zero (all-zero = padding)."""
    used = np.zeros(arrays[0].shape[0], dtype=bool)
    for a in arrays:
        used |= np.any(a != 0, axis=1)
    where = np.flatnonzero(used)
    return (int(where[0]), int(where[-1]) + 1) if where.size else (0, 1)


class AlignedPickle:
    """MulT ``mosi_data.pkl`` or MMSA ``aligned_50.pkl``."""

    def __init__(self, path: Path) -> None:
        self.root = path
        data = _unpickle(path)
        if not isinstance(data, dict) or not all(s in data for s in SPLITS):
            raise DataFormatError(f"{path}: expected a dict with {', '.join(SPLITS)} entries")
        self.kind = "mmsa-pickle" if "regression_labels" in data["train"] else "mult-pickle"
        self.folds_source = "pickle"
        self.unassigned_videos: tuple[str, ...] = ()
        self._features: dict[str, list[dict[str, Float32Array]]] = {}
        self._nonfinite = dict.fromkeys(PICKLE_MODALITIES, 0)
        segments: list[Segment] = []
        for split in SPLITS:
            arrays, labels = _split_arrays(path, split, data[split])
            ids = data[split].get("id")
            segments += self._take(path, split, arrays, labels, ids)
        self.segments = tuple(segments)
        videos = len({s.video_id for s in segments})
        self.sequences = {
            m: SequenceInfo(m, path, m, int(np.shape(data["train"][m])[2]), True, videos)
            for m in PICKLE_MODALITIES
        }
        self.extra_keys = sorted(set(data["train"]) - {*PICKLE_MODALITIES, "id"})

    def _take(
        self, path: Path, split: str, arrays: dict[str, np.ndarray], labels: np.ndarray, ids: Any
    ) -> list[Segment]:
        clean: dict[str, Float32Array] = {}
        for m, a in arrays.items():
            clean[m], bad = finite(a)
            self._nonfinite[m] += bad
        segments = []
        for i, label in enumerate(labels):
            sid, vid = _parse_id(None if ids is None else ids[i], split, i)
            where = f"{path}: ['{split}'] segment {i}"
            segments.append(Segment(sid, vid, split, _check_label(where, float(label))))
            lo, hi = _content_span([clean[m][i] for m in PICKLE_MODALITIES])
            self._features.setdefault(split, []).append(
                {m: clean[m][i, lo:hi] for m in PICKLE_MODALITIES}
            )
        return segments

    def load(self, names: tuple[str, ...]) -> Loaded:
        counters = dict.fromkeys(SPLITS, 0)
        items = []
        for segment in self.segments:
            row = self._features[segment.split][counters[segment.split]]
            counters[segment.split] += 1
            items.append(SegmentFeatures(segment, {n: row[n] for n in names}))
        return Loaded(items, {}, {n: self._nonfinite[n] for n in names})

    def nonfinite_totals(self) -> dict[str, int]:
        return dict(self._nonfinite)


# ---------------------------------------------------------------------- opening, resolving


def is_mosi_source(path: Path) -> bool:
    """A folder holding ``.csd`` files, or a pickle / ``.csd`` file."""
    if path.is_dir():
        return any(path.glob(f"*{CSD_SUFFIX}"))
    return path.suffix.lower() in (*PICKLE_SUFFIXES, CSD_SUFFIX)


def open_mosi(
    path: Path, folds: Path | None = None, unassigned: str = "error"
) -> CsdFolder | AlignedPickle:
    """The MOSI source at ``path``, by its kind (folder of ``.csd`` or ``.pkl`` file)."""
    if path.is_dir():
        if not any(path.glob(f"*{CSD_SUFFIX}")):
            raise MissingDataError(f"{path}: no .csd computational sequences in this folder")
        chosen = read_folds(folds) if folds is not None else None
        return CsdFolder(path, chosen, unassigned)
    if not path.exists():
        raise MissingDataError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == CSD_SUFFIX:
        raise DataFormatError(f"{path}: give the folder that holds the .csd files, not one file")
    if suffix not in PICKLE_SUFFIXES:
        raise DataFormatError(
            f"{path}: not a CMU-MOSI source (a folder of .csd files or an aligned .pkl)"
        )
    if folds is not None or unassigned != "error":
        raise EdgeAffectError(
            f"{path}: a pickle carries its own train/valid/test; folds options apply to "
            ".csd folders"
        )
    return AlignedPickle(path)


def resolve(source: MosiSource, spec: str) -> SequenceInfo:
    """A numeric sequence by name, file stem or role (``text``, ``audio``, ``vision``)."""
    sequences = list(source.sequences.values())
    found = [s for s in sequences if spec in (s.name, s.path.stem)] if spec not in ROLES else []
    if spec in ROLES and not found:
        found = [s for s in sequences if s.role == spec]
        numeric = [s for s in found if s.numeric]
        if len(numeric) > 1:
            raise EdgeAffectError(
                f"{source.root}: several {spec} sequences ({', '.join(s.name for s in numeric)}); "
                "name one instead of the role"
            )
        found = numeric or found
    if not found:
        listing = ", ".join(f"{s.name} ({s.role})" for s in sequences) or "none"
        raise EdgeAffectError(f"{source.root}: no modality {spec!r} (has: {listing})")
    chosen = found[0]
    if not chosen.numeric:
        raise DataFormatError(
            f"{chosen.path}: {chosen.name} holds non-numeric features (words); a model needs "
            "numbers, e.g. word vectors such as CMU_MOSI_TimestampedWordVectors"
        )
    return chosen


# ---------------------------------------------------------------------- alignment


def average_onto(values: Float32Array, intervals: FloatArray, grid: FloatArray) -> Float32Array:
    """``values`` (N, D) with ``intervals`` (N, 2) averaged onto the steps of ``grid`` (T, 2):
    the mean of the frames whose midpoint lies in each step ``[start, end)``; a step that
    holds none takes the frame nearest its centre."""
    mids = intervals.mean(axis=1)
    order = np.argsort(mids, kind="stable")
    mids, ordered = mids[order], values[order].astype(np.float64)
    lo = np.searchsorted(mids, grid[:, 0], "left")
    hi = np.searchsorted(mids, grid[:, 1], "left")
    sums = np.vstack([np.zeros((1, ordered.shape[1])), np.cumsum(ordered, axis=0)])
    counts = (hi - lo)[:, None]
    out = (sums[hi] - sums[lo]) / np.maximum(counts, 1)
    empty = counts[:, 0] == 0
    if empty.any():
        centres = grid[empty].mean(axis=1)
        out[empty] = ordered[np.argmin(np.abs(mids[None, :] - centres[:, None]), axis=1)]
    result: Float32Array = np.asarray(out, dtype=np.float32)
    return result


def on_grid(item: SegmentFeatures, names: tuple[str, ...], pivot: str) -> list[Float32Array]:
    """The sequences ``names`` of one segment on ``pivot``'s steps (word-level for text)."""
    if not item.intervals:  # a pre-aligned pickle
        return [item.features[n] for n in names]
    grid = item.intervals[pivot]
    return [
        item.features[n] if n == pivot else average_onto(item.features[n], item.intervals[n], grid)
        for n in names
    ]
