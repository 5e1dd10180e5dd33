"""Write the small ONNX models the runtime tests run, into ``tests/models/``.

    python -m tests.make_models [OUT_DIR]       # default tests/models

A random-init causal student (GRU 64, torch seed 0, fixed feature statistics) exported by the
real export path as ``stream.onnx`` (fp32), ``stream.int8.onnx`` (the default int8 scheme),
both chunked (any number of hops per call), ``stream.single.onnx`` (fp32, one hop per call:
what files exported before chunked graphs are) and ``window.onnx`` (fp32, W = 6 s). The
files are committed so that the runtime tests need neither torch nor onnx (they run in a
device-only install, on x86 and in the arm64 rootfs); ``tests/test_export.py`` re-exports
them and checks that the committed files still give the same readings, so a change of the
export code that changes them fails until they are re-generated with this script. Needs the
host extras and espeak-ng (the export's parity clip).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

from edge_affect_export.exporter import ExportOptions, export_student, int8_path
from edge_affect_train.checkpoint import save_checkpoint
from edge_affect_train.models import AudioStudent, EncoderConfig, StudentConfig

FILES = ("stream.onnx", "stream.int8.onnx", "stream.single.onnx", "window.onnx")


def write_checkpoint(path: Path) -> None:
    torch.manual_seed(0)
    student = AudioStudent(StudentConfig(encoder=EncoderConfig(kind="gru", hidden=64))).eval()
    student.norm.set_statistics(torch.full((64,), -6.0), torch.full((64,), 3.0))
    save_checkpoint(
        path,
        {
            "kind": "student",
            "model_config": student.config.to_dict(),
            "state_dict": student.state_dict(),
            "train_args": {"chunk_s": 6.0},
        },
    )


def make_test_models(out: Path) -> dict[str, Path]:
    """Export the four models into ``out``; return them by role."""
    out.mkdir(parents=True, exist_ok=True)
    quick = {"parity_hops": 50, "latency_hops": 10}
    with tempfile.TemporaryDirectory() as work:
        checkpoint = Path(work) / "checkpoint.pt"
        write_checkpoint(checkpoint)
        stream, window = Path(work) / "stream.onnx", Path(work) / "window.onnx"
        single = Path(work) / "stream.single.onnx"
        export_student(checkpoint, stream, ExportOptions(int8=True, **quick))
        export_student(checkpoint, single, ExportOptions(chunked=False, **quick))
        export_student(checkpoint, window, ExportOptions(mode="window", **quick))
        for source in (stream, int8_path(stream), single, window):
            (out / source.name).write_bytes(source.read_bytes())
    return {
        "stream": out / "stream.onnx",
        "stream_int8": out / "stream.int8.onnx",
        "stream_single": out / "stream.single.onnx",
        "window": out / "window.onnx",
    }


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tests/models")
    for role, path in make_test_models(target).items():
        print(f"{role:12s} {path} ({path.stat().st_size} bytes)")
