"""Per-hop cost of stream models, A/B, interleaved in one process (one thread).

    python scripts/hop_ab.py A.onnx B.onnx [...] [--rounds 15] [--hops 500] [--profile]

Each round runs the same speech (espeak-ng, as ``edge-affect bench`` makes it) through every
model in turn, from a fresh stream: ``ModelStream.step`` per hop (what ``listen`` does) and
``step_chunk`` over the whole clip (what ``run`` does). Per model and round the median step
time and the chunk time per hop are kept; the report gives the median over rounds and each
model's ratio to the first one, and whether the chunked readings equal the per-hop ones.
``--profile`` adds onnxruntime's per-node profile of each model's hop graph (shares by op
type; the profiler inflates absolute times). Timings move with the machine: compare only
figures of one run.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_affect.audio import HOP_SAMPLES
from edge_affect.bench.measure import load_clip
from edge_affect.stream.model import AffectModel, session_options


def _speech(hops: int, work: Path) -> np.ndarray:
    clip = load_clip(None, hops * HOP_SAMPLES / 16_000, work)
    return clip.pcm.reshape(-1, HOP_SAMPLES)


def _round(model: AffectModel, hops: np.ndarray) -> tuple[float, float, bool]:
    stream = model.stream()
    clock = time.perf_counter
    times, readings = [], []
    for hop in hops:
        t0 = clock()
        readings.append(stream.step(hop))
        times.append(clock() - t0)
    stream = model.stream()
    t0 = clock()
    chunked = stream.step_chunk(hops)
    chunk_s = clock() - t0
    same = bool(np.array_equal(np.stack(readings), chunked))
    return float(np.median(times)) * 1e6, chunk_s / len(hops) * 1e6, same


def profile(path: Path, hops: np.ndarray) -> dict[str, float]:
    """Share of the summed node time per op type (the hop's nodes, a chunked model's
    ``Scan`` aside: its body's nodes are counted), and the number of nodes run."""
    options = session_options(1)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as work:
        options.profile_file_prefix = str(Path(work) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model = AffectModel(path)
        model.session = session
        stream = model.stream()
        for hop in hops:
            stream.step(hop)
        events = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = collections.defaultdict(float)
    nodes = set()
    for event in events:
        op = event.get("args", {}).get("op_name")
        # a Scan's time holds its body's nodes, which are listed too
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and op != "Scan":
            by_op[op] += event["dur"]
            nodes.add(event["name"])
    total = sum(by_op.values())
    shares = {op: round(t / total, 3) for op, t in sorted(by_op.items(), key=lambda x: -x[1])}
    return {"nodes": len(nodes), **shares}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--hops", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        hops = _speech(args.hops, Path(work))
    models = {str(p): AffectModel(p) for p in args.models}
    step: dict[str, list[float]] = {k: [] for k in models}
    chunk: dict[str, list[float]] = {k: [] for k in models}
    identical = dict.fromkeys(models, True)
    for _ in range(args.rounds):
        for name, model in models.items():
            s, c, same = _round(model, hops)
            step[name].append(s)
            chunk[name].append(c)
            identical[name] &= same
    first = str(args.models[0])
    base_step, base_chunk = np.median(step[first]), np.median(chunk[first])
    print(f"{len(hops)} hops x {args.rounds} rounds, interleaved; pid {os.getpid()}")
    print(f"{'model':40s} {'step p50':>9s} {'ratio':>6s} {'chunk/hop':>10s} {'ratio':>6s}  same")
    for name in models:
        s, c = np.median(step[name]), np.median(chunk[name])
        print(
            f"{name[-40:]:40s} {s:8.1f}us {s / base_step:6.3f} {c:9.1f}us {c / base_chunk:6.3f}"
            f"  {identical[name]}"
        )
    if args.profile:
        for path in args.models:
            print(path, profile(path, hops))


if __name__ == "__main__":
    main()
