"""The torch reference of ``edge-affect bench``: the default-size student stepped on CPU.

The cost of a step does not depend on the weights, so a random-init student of the default
size (gru, hidden 64) stands in for the trained one; one intra-op thread, as the ONNX side.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from edge_affect_train.models import AudioStudent, StudentConfig

WARMUP_HOPS = 50


@torch.no_grad()
def step_latency(hops: np.ndarray) -> dict[str, Any]:
    """Per-hop latency of ``AudioStudent.step`` over int16 hops ``[n, 640]``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        student = AudioStudent(StudentConfig()).eval()
        x = torch.from_numpy(hops.astype(np.float32) / 32768.0)
        state = student.initial_state(1)
        for hop in x[:WARMUP_HOPS]:
            _, state = student.step(hop[None], state)
        state = student.initial_state(1)
        times = []
        for hop in x:
            started = time.perf_counter()
            _, state = student.step(hop[None], state)
            times.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    us = np.asarray(times) * 1e6
    return {
        "torch": torch.__version__,
        "p50_us": round(float(np.percentile(us, 50)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
    }
