"""``edge-affect data describe`` for CMU-MOSI sources: segments per split, each sequence's
role and dimension, how many non-finite values it holds (they are read as 0), and the
sentiment statistics per split."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_affect_train.data.csd import SequenceFile
from edge_affect_train.data.mosi import SPLITS, AlignedPickle, CsdFolder, MosiSource
from edge_affect_train.data.text import section


def _median_step_s(source: MosiSource, name: str) -> float | None:
    """Median step between consecutive frame starts in the first video (csd only)."""
    if not isinstance(source, CsdFolder):
        return None
    with SequenceFile(source.sequences[name].path) as handle:
        starts = handle.video(handle.videos()[0]).intervals[:, 0]
    steps = np.diff(np.sort(starts))
    return round(float(np.median(steps)), 4) if steps.size else None


def _label_stats(source: MosiSource) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split in SPLITS:
        values = np.array([s.label for s in source.segments if s.split == split])
        if values.size == 0:
            continue
        out[split] = {
            "mean": round(float(values.mean()), 4),
            "sd": round(float(values.std()), 4),
            "min": round(float(values.min()), 4),
            "max": round(float(values.max()), 4),
            "negative": int(np.sum(values < 0)),
            "zero": int(np.sum(values == 0)),
            "positive": int(np.sum(values > 0)),
        }
    return out


def describe_mosi(source: MosiSource) -> dict[str, Any]:
    """A JSON-ready description of a MOSI source."""
    splits = {
        split: {
            "segments": sum(s.split == split for s in source.segments),
            "videos": len({s.video_id for s in source.segments if s.split == split}),
        }
        for split in SPLITS
    }
    nonfinite = source.nonfinite_totals()
    modalities = {
        name: {
            "role": info.role,
            "dimension": info.dimension,
            "numeric": info.numeric,
            "videos": info.videos,
            "median_step_s": _median_step_s(source, name),
            "nonfinite_replaced": nonfinite.get(name, 0),
        }
        for name, info in sorted(source.sequences.items())
    }
    description: dict[str, Any] = {
        "kind": source.kind,
        "source": source.root.name,
        "splits": splits,
        "folds": {
            "source": source.folds_source,
            "unassigned_videos": list(source.unassigned_videos),
        },
        "modalities": modalities,
        "labels": _label_stats(source),
    }
    if isinstance(source, CsdFolder):
        description["labels_sequence"] = source.labels_info.name
    if isinstance(source, AlignedPickle):
        description["other_keys"] = source.extra_keys
    return description


def _modality_row(v: dict[str, Any]) -> str:
    parts = [v["role"], f"{v['dimension']}-d", "numeric" if v["numeric"] else "non-numeric"]
    parts.append(f"{v['videos']} videos")
    if v["median_step_s"] is not None:
        parts.append(f"median step {v['median_step_s']:.3f} s")
    if v["nonfinite_replaced"]:
        parts.append(f"{v['nonfinite_replaced']} non-finite values read as 0")
    return ", ".join(parts)


def format_mosi(d: dict[str, Any]) -> str:
    lines = [f"source kind: {d['kind']} (folds: {d['folds']['source']})", ""]
    unassigned = d["folds"]["unassigned_videos"]
    split_rows = [
        (s, f"{v['segments']} segments, {v['videos']} videos") for s, v in d["splits"].items()
    ]
    if unassigned:
        split_rows.append(("unassigned", f"{len(unassigned)} videos"))
    lines += section("splits", split_rows)
    lines += section("modalities", [(m, _modality_row(v)) for m, v in d["modalities"].items()])
    label_rows = [
        (
            split,
            f"mean {v['mean']:+.3f}  sd {v['sd']:.3f}  range [{v['min']:+.2f}, {v['max']:+.2f}]"
            f"  negative/zero/positive {v['negative']}/{v['zero']}/{v['positive']}",
        )
        for split, v in d["labels"].items()
    ]
    lines += section("sentiment", label_rows)
    return "\n".join(lines).rstrip() + "\n"
