"""CMU-MultimodalSDK computational sequences (``.csd``): HDF5 files, one sequence each.

::

    /<root name>/data/<video id>/features    (N, D)  numbers, or byte strings for words
    /<root name>/data/<video id>/intervals   (N, 2)  start, end in seconds
    /<root name>/metadata/<key>              (1,) strings, usually JSON

The root group is the sequence's name (``CMU_MOSI_COVAREP``, ``CMU_MOSI_Opinion_Labels``,
...). This module reads one sequence: its description (name, role, dimension, whether the
features are numeric) without loading the data, and one video's arrays, checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from edge_affect.arrays import FloatArray
from edge_affect.errors import DataFormatError

CSD_SUFFIX = ".csd"
#: Roles by keywords in the (lower-cased) root name, checked in this order.
ROLE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("labels", ("label",)),
    ("text", ("word", "glove", "text", "bert", "phone")),
    ("audio", ("covarep", "opensmile", "acoustic", "audio", "wav2vec", "is09", "eb10")),
    ("vision", ("facet", "openface", "visual", "vision", "video")),
)
ROLES = ("text", "audio", "vision")


def role_of(name: str) -> str:
    """``labels``, ``text``, ``audio``, ``vision`` or ``other`` from a sequence name."""
    lowered = name.lower()
    for role, keywords in ROLE_KEYWORDS:
        if any(k in lowered for k in keywords):
            return role
    return "other"


@dataclass(frozen=True)
class SequenceInfo:
    """What a sequence is, read from its structure without loading its data."""

    name: str  # the root group name
    path: Path
    role: str
    dimension: int
    numeric: bool
    videos: int
    description: str = ""


@dataclass(frozen=True)
class VideoArrays:
    features: np.ndarray  # (N, D): float for numeric sequences, bytes/str otherwise
    intervals: FloatArray  # (N, 2)


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise DataFormatError(
            f"{path}: not an HDF5 computational sequence ({error.__class__.__name__})"
        ) from None


def _root(path: Path, handle: h5py.File) -> h5py.Group:
    groups = [k for k in handle if isinstance(handle[k], h5py.Group)]
    if len(groups) != 1:
        found = ", ".join(groups) or "none"
        raise DataFormatError(
            f"{path}: a computational sequence has one root group (the sequence name); "
            f"found {found}"
        )
    root = handle[groups[0]]
    if "data" not in root or not isinstance(root["data"], h5py.Group):
        raise DataFormatError(f"{path}: no 'data' group under /{groups[0]}")
    return root


def _metadata_text(root: h5py.Group, key: str) -> str:
    if "metadata" not in root or key not in root["metadata"]:
        return ""
    raw = root["metadata"][key][()]
    value = raw[0] if isinstance(raw, np.ndarray) and raw.size else raw
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:
        decoded: Any = json.loads(text)
    except json.JSONDecodeError:
        return text
    return decoded if isinstance(decoded, str) else json.dumps(decoded)


def _is_numeric(dataset: h5py.Dataset) -> bool:
    return dataset.dtype.kind in "fiub"


def read_info(path: Path) -> SequenceInfo:
    """Name, role, dimension and kind of the sequence in ``path`` (no data loaded)."""
    with _open(path) as handle:
        root = _root(path, handle)
        name = root.name.strip("/")
        videos = list(root["data"])
        if not videos:
            raise DataFormatError(f"{path}: /{name}/data holds no videos")
        first = _video_group(path, root, videos[0])
        features = first["features"]
        dimension = int(features.shape[1]) if features.ndim == 2 else 1
        return SequenceInfo(
            name=name,
            path=path,
            role=role_of(name),
            dimension=dimension,
            numeric=_is_numeric(features),
            videos=len(videos),
            description=_metadata_text(root, "computational sequence description"),
        )


def _video_group(path: Path, root: h5py.Group, video: str) -> h5py.Group:
    group = root["data"][video]
    name = root.name.strip("/")
    if not isinstance(group, h5py.Group):
        raise DataFormatError(f"{path}: /{name}/data/{video} is not a group")
    for key in ("features", "intervals"):
        if key not in group:
            raise DataFormatError(f"{path}: /{name}/data/{video} has no '{key}' dataset")
    return group


def _checked(path: Path, where: str, features: np.ndarray, intervals: np.ndarray) -> VideoArrays:
    if intervals.ndim != 2 or intervals.shape[1] != 2:
        raise DataFormatError(f"{path}: {where}/intervals has shape {intervals.shape}, not (N, 2)")
    if features.ndim == 1:
        features = features[:, None]
    if features.ndim != 2:
        raise DataFormatError(f"{path}: {where}/features has shape {features.shape}, not (N, D)")
    if features.shape[0] != intervals.shape[0]:
        raise DataFormatError(
            f"{path}: {where} has {features.shape[0]} feature rows but "
            f"{intervals.shape[0]} intervals"
        )
    times = intervals.astype(np.float64)
    if not np.all(np.isfinite(times)) or np.any(times[:, 1] < times[:, 0]):
        raise DataFormatError(f"{path}: {where}/intervals holds non-finite or reversed intervals")
    return VideoArrays(features, times)


class SequenceFile:
    """One open ``.csd`` file; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = _open(path)
        self._root = _root(path, self._handle)
        self.name = self._root.name.strip("/")

    def __enter__(self) -> SequenceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def videos(self) -> list[str]:
        return sorted(self._root["data"])

    def has_video(self, video: str) -> bool:
        return video in self._root["data"]

    def video(self, video: str) -> VideoArrays:
        group = _video_group(self.path, self._root, video)
        where = f"/{self.name}/data/{video}"
        return _checked(self.path, where, group["features"][()], group["intervals"][()])
