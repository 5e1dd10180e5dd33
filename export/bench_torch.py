"""The torch reference of ``edge-affect bench``: the default-size student stepped on CPU.

The cost of a step does not depend on the weights, so a random-init student of the default
size (gru, hidden 64) stands in for the trained one; one intra-op thread, as the ONNX side.

Run as a program, ``python -m edge_affect_export.bench_torch HOPS.npy`` reads int16 hops
``[n, 640]`` from a ``.npy`` file and prints :func:`step_latency`'s result as one JSON object
on stdout (exit 0); a bad input or a missing torch is one ``error: ...`` line on stderr and a
non-zero exit code.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.audio import HOP_SAMPLES
from edge_affect.errors import DataFormatError, EdgeAffectError
from edge_affect.pcm import int16_to_float
from edge_affect_train.cli import needs_extra

WARMUP_HOPS = 50
USAGE = "usage: python -m edge_affect_export.bench_torch HOPS.npy"


def step_latency(hops: np.ndarray) -> dict[str, Any]:
    """Per-hop latency of ``AudioStudent.step`` over int16 hops ``[n, 640]``."""
    with needs_extra("train"):
        import torch  # noqa: PLC0415 - the runtime's benchmark runs this module without torch

        from edge_affect_train.models import AudioStudent, StudentConfig  # noqa: PLC0415

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            torch.manual_seed(0)
            student = AudioStudent(StudentConfig()).eval()
            x = torch.from_numpy(int16_to_float(hops))
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


def load_hops(path: Path) -> np.ndarray:
    """int16 hops ``[n, 640]`` (n >= 1) from a ``.npy`` file; a clear error otherwise."""
    try:
        hops: np.ndarray = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise EdgeAffectError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise DataFormatError(f"{path}: not a .npy array ({error})") from None
    if (
        hops.dtype != np.int16
        or hops.ndim != 2
        or hops.shape[0] < 1
        or hops.shape[1] != HOP_SAMPLES
    ):
        raise DataFormatError(
            f"{path}: expected int16 hops [n, {HOP_SAMPLES}], got {hops.dtype} {list(hops.shape)}"
        )
    return hops


def main(argv: list[str]) -> int:
    """The program: one JSON line on stdout, or one error line on stderr."""
    if len(argv) != 1 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        result = step_latency(load_hops(Path(argv[0])))
    except EdgeAffectError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
