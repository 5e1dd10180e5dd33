"""Measure the int8 schemes of ``export/quantize.py`` on the CPU this runs on.

    python scripts/int8_schemes.py make FP32.onnx OUT_DIR          # host: needs onnx
    python scripts/int8_schemes.py measure OUT_DIR AUDIO --json R   # runtime only

``make`` quantizes one fp32 stream model with every scheme (static schemes calibrated on
espeak-ng speech, never on the measured audio) and writes ``OUT_DIR/fp32.onnx`` and
``OUT_DIR/<scheme>.onnx`` with their contracts. ``measure`` streams AUDIO through each file
with :class:`edge_affect.stream.model.ModelStream` and reports, against fp32: max and mean absolute
difference of the readings, the CCC between the fp32 and int8 traces, the file size and, on a
native CPU, the per-hop latency. It needs numpy and onnxruntime only, so it also runs inside
the arm64 rootfs under qemu (``QEMU_CPU`` set there: the report says "emulated", and the
latency of an emulated core is not measured). ``docs/export.md`` holds the measured table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.audio import LABEL_NAMES
from edge_affect.cpu import cpu_line, describe_cpu
from edge_affect.scoring.metrics import ccc
from edge_affect.stream.model import AffectModel
from edge_affect.stream.sources import FileSource


def make(fp32: Path, out: Path) -> None:
    # host-only imports: `measure` runs where only the device install is
    import onnx  # noqa: PLC0415

    from edge_affect_export import parity  # noqa: PLC0415
    from edge_affect_export.chunk import chunk_graph, unchunk  # noqa: PLC0415
    from edge_affect_export.onnx_graph import compact_names, set_metadata  # noqa: PLC0415
    from edge_affect_export.quantize import SCHEMES, quantize  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fp32, out / "fp32.onnx")
    contract = AffectModel(fp32).contract
    calibration = [parity.espeak_clip().pcm]
    with tempfile.TemporaryDirectory() as work:
        # the quantizer works on the hop graph; a chunked model is re-wrapped afterwards
        single = Path(work) / "single.onnx"
        hop_model = unchunk(onnx.load(str(fp32)))
        set_metadata(hop_model, replace(contract, chunked=False).to_metadata())
        onnx.save(hop_model, str(single))
        for scheme in SCHEMES.values():
            target = out / f"{scheme.name}.onnx"
            quantize(single, target, scheme, calibration if scheme.static else None)
            model = onnx.load(str(target))
            compact_names(model)
            quantized = replace(contract, precision=scheme.precision, quantization=scheme.to_dict())
            set_metadata(model, quantized.to_metadata())
            onnx.save(chunk_graph(model) if contract.chunked else model, str(target))
            print(f"wrote {target} ({target.stat().st_size} bytes)", file=sys.stderr)


def _hops(audio: Path) -> np.ndarray:
    source = FileSource(audio)
    try:
        return np.stack(list(source.hops()))
    finally:
        source.close()


def _run(model: AffectModel, hops: np.ndarray) -> tuple[np.ndarray, float]:
    stream = model.stream()
    times = np.empty(hops.shape[0])
    out = np.empty((hops.shape[0], 2))
    for i, hop in enumerate(hops):
        start = time.perf_counter()
        out[i] = stream.step(hop)
        times[i] = time.perf_counter() - start
    return out, float(np.median(times[20:]) * 1e6)


def measure(folder: Path, audio: Path) -> dict[str, Any]:
    cpu = describe_cpu()
    hops = _hops(audio)
    reference, fp32_us = _run(AffectModel(folder / "fp32.onnx"), hops)
    rows: dict[str, Any] = {
        "fp32": {"bytes": (folder / "fp32.onnx").stat().st_size, "p50_us": fp32_us}
    }
    for path in sorted(folder.glob("*.onnx")):
        if path.stem == "fp32":
            continue
        got, p50 = _run(AffectModel(path), hops)
        error = np.abs(got - reference)
        rows[path.stem] = {
            "bytes": path.stat().st_size,
            "p50_us": p50,
            "max_abs": {k: float(error[:, i].max()) for i, k in enumerate(LABEL_NAMES)},
            "mean_abs": {k: float(error[:, i].mean()) for i, k in enumerate(LABEL_NAMES)},
            "trace_ccc": {
                k: float(ccc(got[:, i], reference[:, i])) for i, k in enumerate(LABEL_NAMES)
            },
        }
    if cpu["emulated"]:
        for row in rows.values():
            row["p50_us"] = None  # an emulated core's speed says nothing about the real one
    return {"cpu": cpu, "audio": audio.name, "hops": int(hops.shape[0]), "schemes": rows}


def _print(result: dict[str, Any]) -> None:
    print(f"{cpu_line(result['cpu'])}; {result['hops']} hops of {result['audio']}")
    print(f"{'scheme':32s} {'bytes':>8s} {'max|d| a/v':>15s} {'trace CCC a/v':>15s} {'p50 us':>7s}")
    for name, row in result["schemes"].items():
        err = row.get("max_abs", {"arousal": 0.0, "valence": 0.0})
        tc = row.get("trace_ccc", {"arousal": 1.0, "valence": 1.0})
        p50 = "-" if row["p50_us"] is None else f"{row['p50_us']:.0f}"
        print(
            f"{name:32s} {row['bytes']:>8d} {err['arousal']:>7.4f}/{err['valence']:<7.4f} "
            f"{tc['arousal']:>7.4f}/{tc['valence']:<7.4f} {p50:>7s}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("fp32", type=Path)
    m.add_argument("out", type=Path)
    r = sub.add_parser("measure")
    r.add_argument("folder", type=Path)
    r.add_argument("audio", type=Path)
    r.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.command == "make":
        make(args.fp32, args.out)
        return
    result = measure(args.folder, args.audio)
    result["qemu_cpu"] = os.environ.get("QEMU_CPU")
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
