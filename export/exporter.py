"""``edge-affect export``: a student checkpoint -> ONNX fp32 (+ int8) with contract and report.

Steps: rebuild the student from its checkpoint; trace :class:`~.graphs.StreamGraph` or
:class:`~.graphs.WindowGraph` (dynamo exporter, opset 18, one self-contained file);
rewrite ``Gemm`` as ``MatMul`` and the frontend constants as compact generators
(:mod:`.onnx_graph`); write the contract; quantize (:mod:`.quantize`); measure the
parity report (:mod:`.parity`) and store the measured dev CCC in each file's contract.
"""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import time
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from edge_affect.audio import HOP_SAMPLES, LABEL_RATE_HZ, SAMPLE_RATE
from edge_affect.cpu import describe_cpu
from edge_affect.errors import EdgeAffectError
from edge_affect.stream.contract import Contract, Mode, StateSpec
from edge_affect.stream.model import AffectModel
from edge_affect_export import parity
from edge_affect_export.chunk import chunk_graph
from edge_affect_export.graphs import StreamGraph, WindowGraph, example_window
from edge_affect_export.onnx_graph import (
    compact_frontend,
    compact_names,
    gemm_to_matmul,
    name_constants,
    set_metadata,
    strip_debug_info,
)
from edge_affect_export.quantize import (
    DEFAULT_SCHEME,
    DEFAULT_STATIC_SCHEME,
    Scheme,
    quantize,
    scheme_named,
)
from edge_affect_export.report import check_targets, write_report
from edge_affect_train.checkpoint import build_student, load_checkpoint
from edge_affect_train.data.avec import AvecCorpus
from edge_affect_train.models import AudioStudent

OPSET = 20  # Gelu is an ONNX op from opset 20 (one node instead of five)
LEGACY_OPSET = 17  # the TorchScript exporter (window graphs of GRU students)
STATE_NAMES = (("tail", "tail_out"), ("gru_state", "gru_state_out"))


@dataclass(frozen=True)
class ExportOptions:
    mode: Mode | None = None  # None: stream for a causal student, else window
    window_s: float | None = None  # window mode; None: the training chunk length
    int8: bool = False
    data: Path | None = None  # corpus whose dev split the report scores
    calibration: Path | None = None  # corpus for static int8 (implies --int8)
    int8_scheme: str | None = None  # None: u8u8 (static-u8u8 with calibration); see quantize
    parity_hops: int = 750  # 30 s of speech for torch vs ONNX
    latency_hops: int = 1000
    dev_max_s: float | None = None  # cap per dev session (window mode is O(W) per hop)
    chunked: bool = True  # stream mode: any number of hops per call (export.chunk)


def int8_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".onnx") + ".int8.onnx")


def report_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".onnx") + ".report.json")


def _resolve_mode(student: AudioStudent, options: ExportOptions) -> Mode:
    causal = student.config.encoder.causal
    mode = options.mode or ("stream" if causal else "window")
    if mode == "stream" and not causal:
        raise EdgeAffectError(
            f"a {student.config.encoder.kind} student is not causal and cannot stream; "
            "export it with --mode window"
        )
    return mode


def _window_samples(checkpoint: dict[str, Any], mode: Mode, options: ExportOptions) -> int:
    if mode == "stream":
        return 0
    window_s = options.window_s or float(checkpoint.get("train_args", {}).get("chunk_s", 8.0))
    hops = round(window_s * LABEL_RATE_HZ)
    if hops < 1:
        raise EdgeAffectError(f"--window-s {window_s} is shorter than one 40 ms hop")
    return hops * HOP_SAMPLES


def _quiet() -> contextlib.ExitStack:
    """Silence the exporters' progress lines and warnings."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    logging.getLogger("torch.export").setLevel(logging.CRITICAL)
    return stack


def _trace_stream(student: AudioStudent) -> onnx.ModelProto:
    tail, h = student.initial_state(1)
    pcm = torch.zeros(1, HOP_SAMPLES, dtype=torch.int16)
    inputs = ["pcm", *(s[0] for s in STATE_NAMES)]
    outputs = ["affect", *(s[1] for s in STATE_NAMES)]
    with _quiet():
        return _dynamo_export(StreamGraph(student).eval(), (pcm, tail, h), inputs, outputs)


def _dynamo_export(
    graph: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    inputs: list[str],
    outputs: list[str],
    dynamic_shapes: dict[str, Any] | None = None,
) -> onnx.ModelProto:
    """``graph`` traced by the dynamo exporter (opset :data:`OPSET`, weights inside)."""
    program = torch.onnx.export(
        graph,
        example,
        dynamo=True,
        external_data=False,
        opset_version=OPSET,
        verbose=False,
        dynamic_shapes=dynamic_shapes,
        input_names=inputs,
        output_names=outputs,
    )
    assert program is not None
    model: onnx.ModelProto = program.model_proto
    return model


def _trace_window(student: AudioStudent) -> onnx.ModelProto:
    """Dynamo for Transformers; TorchScript for GRUs (the dynamo exporter of torch 2.13
    unrolls ``nn.GRU`` to the example length or fails on it with a dynamic length)."""
    graph = WindowGraph(student).eval()
    example = (example_window(10),)
    inputs, outputs = ["pcm"], ["affect"]
    with _quiet():
        if student.encoder.gru is None:
            hops = torch.export.Dim("hops", min=1, max=100_000)
            dynamic = {"pcm": {1: HOP_SAMPLES * hops}}
            return _dynamo_export(graph, example, inputs, outputs, dynamic)
        buffer = io.BytesIO()
        torch.onnx.export(
            graph,
            example,
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a buffer
            dynamo=False,
            opset_version=LEGACY_OPSET,
            dynamic_axes={"pcm": {1: "samples"}, "affect": {1: "hops"}},
            input_names=inputs,
            output_names=outputs,
        )
    model = onnx.load_from_string(buffer.getvalue())
    # the TorchScript exporter leaves the batch dimension of the output symbolic
    dims = model.graph.output[0].type.tensor_type.shape.dim
    dims[0].Clear()
    dims[0].dim_value = 1
    frontend = student.frontend
    name_constants(
        model,
        {
            f"student.frontend.{name}": getattr(frontend, name).numpy()
            for name in ("dft_basis", "mel_weights")
        },
    )
    return model


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _source_commit() -> str:
    """The commit of the export code, ``+dirty`` when the tree has changes; else ``unknown``."""
    commit = _git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "unknown"
    return commit + ("+dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")


def _contract(
    checkpoint: dict[str, Any], student: AudioStudent, mode: Mode, window_samples: int
) -> Contract:
    config = student.config
    encoder = config.encoder
    states: tuple[StateSpec, ...] = ()
    if mode == "stream":
        tail, h = student.initial_state(1)
        states = (
            StateSpec(STATE_NAMES[0][0], STATE_NAMES[0][1], tuple(tail.shape)),
            StateSpec(STATE_NAMES[1][0], STATE_NAMES[1][1], tuple(h.shape)),
        )
    corpus = dict(checkpoint.get("corpus") or {})
    corpus.pop("sessions", None)
    transfer = checkpoint.get("transfer") or {}
    return Contract(
        mode=mode,
        precision="fp32",
        window_samples=window_samples,
        states=states,
        frontend=config.frontend.to_dict(),
        model={
            "encoder": encoder.kind,
            "hidden": encoder.hidden,
            "layers": encoder.layers,
            "z_dim": config.z_dim,
            "parameters": sum(p.numel() for p in student.parameters()),
        },
        training={
            "corpus": corpus,
            "method": transfer.get("method"),
            "transfer": transfer,
            "train_args": checkpoint.get("train_args", {}),
        },
        dev_ccc=_checkpoint_dev_ccc(checkpoint),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        source_commit=_source_commit(),
    )


def _checkpoint_dev_ccc(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    dev = (checkpoint.get("metrics") or {}).get("ccc", {}).get("dev")
    return {**dev, "source": "checkpoint (torch, training corpus dev split)"} if dev else None


def _save(model: onnx.ModelProto, contract: Contract, path: Path) -> None:
    strip_debug_info(model)
    set_metadata(model, contract.to_metadata())
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _calibration_clips(root: Path, max_s: float = 120.0, sessions: int = 4) -> list[np.ndarray]:
    corpus = AvecCorpus(root)
    chosen = corpus.split("train")[:sessions]
    if not chosen:
        raise EdgeAffectError(f"{root}: no train sessions to calibrate on")
    per = max_s / len(chosen)
    return [parity.to_int16(corpus.audio(s).samples[: int(per * SAMPLE_RATE)]) for s in chosen]


def export_student(checkpoint_path: Path, out: Path, options: ExportOptions) -> dict[str, Any]:
    """Write ``out`` (fp32), ``*.int8.onnx`` when asked, and ``*.report.json``; return it."""
    if out.suffix != ".onnx":
        raise EdgeAffectError(f"--out {out}: the model file name must end in .onnx")
    started = time.perf_counter()
    scheme = scheme_named(options.int8_scheme or _default_scheme(options))
    if scheme.static and not options.calibration:
        raise EdgeAffectError(f"--int8-scheme {scheme.name} needs --calibration CORPUS")
    # open the corpora first: a wrong path fails before anything is written
    corpus = AvecCorpus(options.data) if options.data else None
    clips = _calibration_clips(options.calibration) if options.calibration else None
    checkpoint = load_checkpoint(checkpoint_path, kind="student")
    student = build_student(checkpoint)
    mode = _resolve_mode(student, options)
    window_samples = _window_samples(checkpoint, mode, options)
    model = _trace_stream(student) if mode == "stream" else _trace_window(student)
    gemm_to_matmul(model)
    compact_frontend(model, student.config.frontend)
    onnx.checker.check_model(model)
    contract = _contract(checkpoint, student, mode, window_samples)
    files = _write_files(model, contract, out, options, scheme, clips)
    export_s = time.perf_counter() - started
    report = _measure(student, files, options, corpus)
    report["export_s"] = round(export_s, 2)
    if "int8" in files:
        report["int8_scheme"] = scheme.to_dict()
    report["checkpoint"] = checkpoint_path.name
    _store_dev_ccc(files, report)
    report["targets"] = check_targets(report)
    report["total_s"] = round(time.perf_counter() - started, 2)
    write_report(report, report_path(out))
    return report


def _write_files(
    model: onnx.ModelProto,
    contract: Contract,
    out: Path,
    options: ExportOptions,
    scheme: Scheme,
    clips: list[np.ndarray] | None,
) -> dict[str, Path]:
    """Write the fp32 file (and the int8 one); quantization reads the single-hop fp32 file,
    and a chunked stream model is the single-hop graph wrapped afterwards (export.chunk)."""
    _save(model, contract, out)
    files = {"fp32": out}
    chunk = options.chunked and contract.mode == "stream"
    if options.int8 or options.calibration or options.int8_scheme:
        files["int8"] = int8_path(out)
        quantize(out, files["int8"], scheme, clips if scheme.static else None)
        quantized = onnx.load(str(files["int8"]))
        compact_names(quantized)
        int8_contract = replace(
            contract, precision=scheme.precision, quantization=scheme.to_dict(), chunked=chunk
        )
        _save(chunk_graph(quantized) if chunk else quantized, int8_contract, files["int8"])
    if chunk:
        _save(chunk_graph(model), replace(contract, chunked=True), out)
    return files


def _default_scheme(options: ExportOptions) -> str:
    return DEFAULT_STATIC_SCHEME if options.calibration else DEFAULT_SCHEME


def _measure(
    student: AudioStudent,
    files: dict[str, Path],
    options: ExportOptions,
    corpus: AvecCorpus | None,
) -> dict[str, Any]:
    models = {name: AffectModel(path, threads=1) for name, path in files.items()}
    fp32 = models["fp32"]
    clip = parity.corpus_clip(corpus, 60.0) if corpus else parity.espeak_clip()
    window_hops = fp32.contract.window_samples // HOP_SAMPLES
    parity_hops = min(options.parity_hops, 300) if window_hops else options.parity_hops
    report: dict[str, Any] = {
        "mode": fp32.contract.mode,
        "window_s": fp32.contract.window_s,
        "torch_vs_fp32": parity.torch_vs_onnx(student, fp32, clip, parity_hops),
        "files": {name: parity.file_figures(path) for name, path in files.items()},
        "latency": {
            name: parity.latency(m, clip.pcm, options.latency_hops, warmup=max(20, window_hops))
            for name, m in models.items()
        },
        "latency_audio": clip.source,
        "threads": 1,
        "cpu": describe_cpu(),
    }
    if "int8" in models:
        sizes = report["files"]
        report["int8_size_ratio"] = round(sizes["int8"]["bytes"] / sizes["fp32"]["bytes"], 4)
        report["fp32_vs_int8_speech"] = parity.fp32_vs_int8(fp32, models["int8"], clip)
    if corpus is not None:
        report["dev"] = parity.dev_predictions(models, corpus, options.dev_max_s)
        report["dev_corpus"] = corpus.root.name
    return report


def _store_dev_ccc(files: dict[str, Path], report: dict[str, Any]) -> None:
    dev = report.get("dev")
    if not dev:
        return
    for name, path in files.items():
        model = onnx.load(str(path))
        props = {p.key: p.value for p in model.metadata_props}
        contract = Contract.from_metadata(props, str(path))
        measured = {
            **dev["ccc"][name],
            "source": f"this ONNX file, {dev['sessions']} dev sessions of {report['dev_corpus']}",
        }
        onnx_contract = replace(contract, dev_ccc=measured)
        set_metadata(model, onnx_contract.to_metadata())
        onnx.save(model, str(path))
