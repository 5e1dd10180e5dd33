"""The measurements of the parity report: torch vs ONNX, fp32 vs int8, sizes, latency.

Every ONNX figure goes through :class:`edge_affect.model.ModelStream`, the object the device
runtime uses, so the report measures what the device will run.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from edge_affect.audio import HOP_SAMPLES, LABEL_NAMES, SAMPLE_RATE
from edge_affect.pcm import float_to_int16, int16_to_float
from edge_affect.scoring.metrics import ccc_per_dimension
from edge_affect.stream.model import AffectModel
from edge_affect_export.chunk import hop_graph
from edge_affect_export.onnx_graph import weight_bytes
from edge_affect_train.audio_io import read_audio
from edge_affect_train.data.avec import AvecCorpus
from edge_affect_train.data.tensors import pcm_for_labels
from edge_affect_train.models import AudioStudent
from edge_affect_train.synth.speech import ESPEAK, espeak_version

SPEECH_TEXT = (
    "the weather was warm and the market was full of people this morning. "
    "I am not sure that we will finish the work before the evening, but we can try. "
    "What a wonderful surprise to see you here after all these years!"
)


@dataclass(frozen=True)
class Clip:
    """Int16 PCM of whole hops and where it came from."""

    pcm: np.ndarray  # int16, (n_hops * HOP_SAMPLES,)
    source: str


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float PCM in [-1, 1] -> int16 (round, clip), whole hops only."""
    n = samples.shape[0] // HOP_SAMPLES * HOP_SAMPLES
    return float_to_int16(np.asarray(samples[:n], dtype=np.float64))


def espeak_clip() -> Clip:
    """About 13 s of real espeak-ng speech at 16 kHz."""
    version = espeak_version()  # ToolMissingError with the install hint when absent
    with tempfile.TemporaryDirectory() as work:
        wav = Path(work) / "speech.wav"
        subprocess.run([ESPEAK, "-v", "en-us", "-w", str(wav), SPEECH_TEXT], check=True, timeout=60)
        clip = read_audio(wav)
    return Clip(to_int16(clip.samples), f"espeak-ng {version} en-us, {clip.duration_s:.1f} s")


def corpus_clip(corpus: AvecCorpus, max_s: float) -> Clip:
    session = corpus.split("dev")[0]
    samples = corpus.audio(session).samples[: int(max_s * SAMPLE_RATE)]
    return Clip(to_int16(samples), f"{corpus.root.name} dev session {session.name}")


def run_onnx(model: AffectModel, pcm: np.ndarray) -> np.ndarray:
    """``(n_hops, 2)`` readings of a fresh stream over int16 PCM (whole hops)."""
    stream = model.stream()
    hops = pcm.reshape(-1, HOP_SAMPLES)
    return np.stack([stream.step(hop) for hop in hops])


@torch.no_grad()
def run_torch(student: AudioStudent, pcm: np.ndarray, mode: str, window_hops: int) -> np.ndarray:
    """The reference: the torch student, streamed hop by hop (stream) or per window (window)."""
    x = torch.from_numpy(int16_to_float(pcm)).unsqueeze(0)
    if mode == "stream":
        state = student.initial_state(1)
        out = []
        for hop in torch.split(x, HOP_SAMPLES, dim=1):
            prediction, state = student.step(hop, state)
            out.append(prediction[0])
        return torch.stack(out).numpy()
    readings = []
    for end in range(1, x.shape[1] // HOP_SAMPLES + 1):
        start = max(0, end - window_hops)
        window = x[:, start * HOP_SAMPLES : end * HOP_SAMPLES]
        readings.append(student(window)[0, -1])
    return torch.stack(readings).numpy()


def torch_vs_onnx(
    student: AudioStudent, model: AffectModel, clip: Clip, max_hops: int
) -> dict[str, Any]:
    pcm = clip.pcm[: max_hops * HOP_SAMPLES]
    window_hops = model.contract.window_samples // HOP_SAMPLES
    reference = run_torch(student, pcm, model.contract.mode, window_hops)
    got = run_onnx(model, pcm)
    error = np.abs(reference - got)
    return {
        "audio": clip.source,
        "hops": int(got.shape[0]),
        "max_abs_error": float(error.max()),
        "mean_abs_error": float(error.mean()),
    }


def fp32_vs_int8(fp32: AffectModel, int8: AffectModel, clip: Clip) -> dict[str, Any]:
    error = np.abs(run_onnx(fp32, clip.pcm) - run_onnx(int8, clip.pcm))
    return {
        "audio": clip.source,
        "max_abs_error": float(error.max()),
        "mean_abs_error": float(error.mean()),
    }


def dev_predictions(
    models: dict[str, AffectModel], corpus: AvecCorpus, max_s: float | None
) -> dict[str, Any]:
    """Run every model over the labelled dev sessions; CCC each, and the pairwise errors."""
    predictions: dict[str, list[np.ndarray]] = {name: [] for name in models}
    golds = []
    sessions = [s for s in corpus.split("dev") if corpus.has_labels(s)]
    for session in sessions:
        labels = corpus.labels(session)
        n = labels.shape[0] if max_s is None else min(labels.shape[0], int(max_s * 25))
        pcm = to_int16(pcm_for_labels(corpus, session, n).numpy())
        golds.append(labels[:n])
        for name, model in models.items():
            predictions[name].append(run_onnx(model, pcm))
    gold = np.concatenate(golds)
    joined = {name: np.concatenate(p) for name, p in predictions.items()}
    out: dict[str, Any] = {
        "sessions": len(sessions),
        "hops": int(gold.shape[0]),
        "seconds_per_session_cap": max_s,
        "ccc": {
            name: {k: round(v, 6) for k, v in ccc_per_dimension(p, gold).items()}
            for name, p in joined.items()
        },
    }
    if "fp32" in joined and "int8" in joined:
        error = np.abs(joined["fp32"] - joined["int8"])
        out["fp32_vs_int8"] = {
            "max_abs_error": float(error.max()),
            "mean_abs_error": float(error.mean()),
            "ccc_drop": {
                k: round(out["ccc"]["fp32"][k] - out["ccc"]["int8"][k], 6) for k in LABEL_NAMES
            },
        }
    return out


def latency(model: AffectModel, pcm: np.ndarray, hops: int, warmup: int = 20) -> dict[str, float]:
    """Per-hop wall time of ``ModelStream.step`` (the session's thread count as loaded)."""
    all_hops = pcm.reshape(-1, HOP_SAMPLES)
    stream = model.stream()
    for hop in all_hops[:warmup]:
        stream.step(hop)
    times = []
    for i in range(hops):
        hop = all_hops[i % all_hops.shape[0]]
        start = time.perf_counter()
        stream.step(hop)
        times.append(time.perf_counter() - start)
    us = np.asarray(times) * 1e6
    return {
        "hops": hops,
        "p50_us": round(float(np.percentile(us, 50)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
        "mean_us": round(float(us.mean()), 1),
    }


def file_figures(path: Path) -> dict[str, Any]:
    model = onnx.load(str(path))
    hop = hop_graph(model)
    weights = weight_bytes(hop) if hop is model.graph else _sum(weight_bytes(hop), model.graph)
    total = sum(weights.values())
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "weight_bytes": weights,
        "int8_weight_share": round(weights["int8"] / total, 4) if total else 0.0,
        "ops": sorted({n.op_type for n in [*model.graph.node, *hop.node]}),
    }


def _sum(hop: dict[str, int], outer: onnx.GraphProto) -> dict[str, int]:
    return {k: v + weight_bytes(outer)[k] for k, v in hop.items()}
