"""``edge-affect bench``: speed, memory and stability of the device pipeline, with references
measured in the same run.

Everything runs on one core (onnxruntime intra/inter-op threads = 1) on real speech (an audio
file, or espeak-ng speech generated on the spot):

* streaming: per-hop latency (p50/p99) and RTF of VAD + in-graph frontend + model + CSV sink,
  per model, with the model on every hop (``--no-gate``, the worst case) and gated;
* file mode: the RTF of ``run`` (decode + the same pipeline, gate on);
* file mode in ``run``'s chunks and hop by hop; the model alone, one call per hop against
  chunks (:mod:`edge_affect.bench.process`), with the readings compared;
* a ``listen``-equivalent process (:mod:`edge_affect.cli.listen_child`): start-up time to the
  first reading and peak RSS, next to the RSS of its imports alone (the floor), and its CPU share
  of one core in gated silence and with the model on every hop;
* ``run`` as a whole process: wall time with start-up, peak RSS;
* references: openSMILE eGeMAPSv02 low-level descriptors on the same audio, in-process and as a
  whole process (when the ``opensmile`` package is installed), the torch student on CPU (when
  torch and the ``export`` package are there), and int8 against fp32, each as a ratio;
* ``--soak S``: S seconds of audio (the file re-read in a loop, as fast as possible) with RSS
  growth, latency drift, dropped hops and rows logged.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from edge_affect.arrays import Int16Array
from edge_affect.audio import HOP_S, HOP_SAMPLES, SAMPLE_RATE
from edge_affect.bench.process import (
    CPU_SHARE_S,
    chunk_vs_hop,
    cpu_share,
    opensmile_process,
    run_process,
)
from edge_affect.errors import EdgeAffectError, ToolMissingError
from edge_affect.logs.header import LogHeader
from edge_affect.logs.writer import open_sink
from edge_affect.pcm import int16_to_float
from edge_affect.runtime.options import FILE_CHUNK_HOPS
from edge_affect.stream.feed import SourceStats
from edge_affect.stream.model import AffectModel
from edge_affect.stream.pipeline import Pipeline, PipelineSettings, run_stream
from edge_affect.stream.sources import FileSource

SPEECH = (
    ("en-us", "the weather was warm and the market was full of people this morning"),
    ("en-gb", "I am not sure that we will finish the work before the evening, but we can try"),
    ("en-us+f3", "what a wonderful surprise to see you here after all these years"),
    ("en-gb+m3", "please stop shouting, I can hear you perfectly well from here"),
)
WARMUP_HOPS = 50
TARGETS = {
    "stream_p50_us": 100.0,
    "stream_p99_us": 1000.0,
    "stream_rtf": 0.0025,
    "file_rtf": 0.0005,
    "opensmile_ratio": 12.0,
    "run_rss_mb": 60.0,
    "listen_rss_mb": 80.0,
    "startup_s": 0.3,
    "soak_rss_growth_mb": 2.0,
}


@dataclass(frozen=True)
class BenchOptions:
    models: tuple[Path, ...]
    audio: Path | None = None
    seconds: float = 60.0
    soak_s: float | None = None
    process: bool = True  # the listen-equivalent child process
    references: bool = True
    work: Path | None = None  # where temporary logs and audio go (default: a temp folder)
    cpu_share_s: float = CPU_SHARE_S  # real-time seconds per CPU-share figure


@dataclass
class Clip:
    pcm: Int16Array  # whole hops
    description: str
    path: Path  # a 16 kHz int16 WAV of ``pcm`` (for the file-mode and child runs)

    @property
    def seconds(self) -> float:
        return float(self.pcm.shape[0]) / SAMPLE_RATE


# --- audio ---------------------------------------------------------------------------------


def _espeak_speech(work: Path) -> tuple[Int16Array, str]:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise ToolMissingError(
            "no --audio given and espeak-ng is not installed (apt-get install espeak-ng)"
        )
    parts = []
    for voice, text in SPEECH:
        wav = work / "phrase.wav"
        subprocess.run([espeak, "-v", voice, "-w", str(wav), text], check=True, timeout=60)
        parts.append(np.concatenate(list(FileSource(wav).hops())))
        parts.append(np.zeros(SAMPLE_RATE // 2, dtype=np.int16))  # a pause between phrases
    return np.concatenate(parts), "espeak-ng speech (4 voices)"


def load_clip(audio: Path | None, seconds: float, work: Path) -> Clip:
    """``seconds`` of speech as int16 hops (a file or espeak-ng, looped to length)."""
    if audio is not None:
        pcm = np.concatenate(list(FileSource(audio).hops()))
        description = audio.name
    else:
        pcm, description = _espeak_speech(work)
    n_hops = max(1, round(seconds / HOP_S))
    repeats = -(-n_hops * HOP_SAMPLES // pcm.shape[0])
    looped = np.tile(pcm, repeats)[: n_hops * HOP_SAMPLES]
    path = work / "bench_speech.wav"
    soundfile.write(path, looped, SAMPLE_RATE, subtype="PCM_16")
    return Clip(looped, f"{description}, {n_hops * HOP_S:.0f} s", path)


# --- measurements --------------------------------------------------------------------------


def _percentiles(latencies_s: list[float]) -> dict[str, float]:
    us = np.asarray(latencies_s) * 1e6
    return {
        "p50_us": round(float(np.percentile(us, 50)), 1),
        "p99_us": round(float(np.percentile(us, 99)), 1),
        "mean_us": round(float(us.mean()), 1),
        "max_us": round(float(us.max()), 1),
    }


def streaming(model_path: Path, clip: Clip, gate: bool, work: Path) -> dict[str, Any]:
    """Per-hop latency of pipeline + CSV sink, one hop at a time, and the loop's RTF."""
    model = AffectModel(model_path, threads=1)
    pipeline = Pipeline(model, PipelineSettings(gate=gate))
    hops = clip.pcm.reshape(-1, HOP_SAMPLES)
    for hop in hops[:WARMUP_HOPS]:
        pipeline.process(hop)
    pipeline.reset()
    sink = open_sink(work / "stream.csv", "csv", LogHeader.now("bench", {}), overwrite=True)
    latencies: list[float] = []
    clock = time.perf_counter
    started = clock()
    for hop in hops:
        t0 = clock()
        sink.write(pipeline.process(hop))
        latencies.append(clock() - t0)
    wall = clock() - started
    sink.close()
    return {
        "model": model_path.name,
        "mode": model.contract.mode,
        "precision": model.contract.precision,
        "gate": gate,
        "hops": int(hops.shape[0]),
        "rtf": round(wall / clip.seconds, 6),
        **_percentiles(latencies),
    }


def _file_rtf(model: AffectModel, clip: Clip, work: Path, chunk_hops: int) -> tuple[float, int]:
    source = FileSource(clip.path)
    sink = open_sink(work / "file.csv", "csv", LogHeader.now("bench", {}), overwrite=True)
    summary = run_stream(source, Pipeline(model), [sink], chunk_hops=chunk_hops)
    sink.close()
    return summary.rtf, summary.hops


def file_mode(model_path: Path, clip: Clip, work: Path) -> dict[str, Any]:
    """``run`` on the clip's WAV: decode + the pipeline (gate on) + CSV, as fast as possible,
    in ``run``'s chunks and hop by hop."""
    model = AffectModel(model_path, threads=1)
    rtf, hops = _file_rtf(model, clip, work, FILE_CHUNK_HOPS)
    rtf_hop, _ = _file_rtf(model, clip, work, 1)
    return {
        "model": model_path.name,
        "chunked": model.contract.chunked,
        "chunk_hops": FILE_CHUNK_HOPS,
        "rtf": round(rtf, 6),
        "rtf_hop_by_hop": round(rtf_hop, 6),
        "hops": hops,
    }


def _child(model: Path, clip: Clip, work: Path, imports_only: bool) -> dict[str, Any]:
    seconds = min(clip.seconds, 3.0)
    args = [
        sys.executable,
        "-m",
        "edge_affect.cli.listen_child",  # the child, after the command line's imports
        str(model),
        str(clip.path),
        str(seconds),
        str(work / "child.csv"),
    ]
    started = time.time()
    result = subprocess.run(
        [*args, "--imports-only"] if imports_only else args,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise EdgeAffectError(f"the listen-equivalent process failed: {result.stderr.strip()}")
    payload: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if not imports_only and payload.get("first_reading_wall"):
        payload["startup_s"] = round(payload["first_reading_wall"] - started, 3)
    return payload


def listen_process(model: Path, clip: Clip, work: Path) -> dict[str, Any]:
    floor = _child(model, clip, work, imports_only=True)
    run = _child(model, clip, work, imports_only=False)
    return {
        "model": model.name,
        "startup_s": run.get("startup_s"),
        "peak_rss_mb": round(run["peak_rss_kb"] / 1024, 1) if run.get("peak_rss_kb") else None,
        "imports_rss_mb": round(floor["imports_rss_kb"] / 1024, 1)
        if floor.get("imports_rss_kb")
        else None,
        "portaudio": run["portaudio"],
    }


def opensmile_reference(clip: Clip) -> dict[str, Any] | None:
    """openSMILE eGeMAPSv02 low-level descriptors on the same audio (optional package)."""
    try:
        import opensmile  # noqa: PLC0415 - optional, research-only licence
    except ImportError:
        return None
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
    )
    signal = int16_to_float(clip.pcm)
    smile.process_signal(signal[:SAMPLE_RATE], SAMPLE_RATE)  # warm-up
    started = time.perf_counter()
    frames = smile.process_signal(signal, SAMPLE_RATE)
    wall = time.perf_counter() - started
    return {
        "rtf": round(wall / clip.seconds, 6),
        "frames": len(frames),
        "version": opensmile.__version__,
    }


#: The torch reference runs in its own process, from the export package (host only).
TORCH_REFERENCE_MODULE = "edge_affect_export.bench_torch"
TORCH_TIMEOUT_S = 600.0


def torch_reference(clip: Clip, work: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The torch student (default size) stepped hop by hop on one CPU thread, in a child
    process: ``python -m edge_affect_export.bench_torch HOPS.npy`` prints one JSON object.

    Returns the figures, or ``None`` and why not (the child's last stderr line): torch or the
    export package missing (the device install), or the child failing.
    """
    hops_path = work / "torch_hops.npy"
    np.save(hops_path, clip.pcm.reshape(-1, HOP_SAMPLES))
    command = [sys.executable, "-m", TORCH_REFERENCE_MODULE, str(hops_path)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TORCH_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"{TORCH_REFERENCE_MODULE} ran longer than {TORCH_TIMEOUT_S:.0f} s"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return None, lines[-1] if lines else f"{TORCH_REFERENCE_MODULE}: exit {done.returncode}"
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        return None, f"{TORCH_REFERENCE_MODULE} printed no JSON object"
    if not isinstance(result, dict):
        return None, f"{TORCH_REFERENCE_MODULE} printed no JSON object"
    return result, None


def machine() -> dict[str, Any]:
    import onnxruntime  # noqa: PLC0415

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            names = [
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
    }


# --- soak ----------------------------------------------------------------------------------


class LoopingFile:
    """The file source, re-opened whenever it ends, until ``total_hops`` hops were given."""

    description = "looping file"

    def __init__(self, path: Path, total_hops: int) -> None:
        self.path = path
        self.total_hops = total_hops
        self.stats = SourceStats()
        self.given = 0

    def hops(self) -> Iterator[Int16Array]:
        while self.given < self.total_hops:
            source = FileSource(self.path)
            try:
                for hop in source.hops():
                    if self.given >= self.total_hops:
                        return
                    self.given += 1
                    yield hop
            finally:
                source.close()

    def close(self) -> None:
        pass


@dataclass
class SoakProbe:
    """Samples RSS and the latency median once per minute of audio."""

    hops_per_sample: int = round(60 / HOP_S)
    rss_mb: list[float] = field(default_factory=list)
    medians_us: list[float] = field(default_factory=list)
    _window: list[float] = field(default_factory=list)

    def write(self, reading: Any) -> None:
        self._window.append(reading.latency_s)
        if len(self._window) >= self.hops_per_sample:
            self.medians_us.append(float(np.median(self._window)) * 1e6)
            self._window.clear()
            self.rss_mb.append(_rss_mb())


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak(model_path: Path, clip: Clip, seconds: float, work: Path) -> dict[str, Any]:
    """``seconds`` of audio through the pipeline (gate on) into a CSV log, as fast as possible."""
    total_hops = round(seconds / HOP_S)
    source = LoopingFile(clip.path, total_hops)
    probe = SoakProbe()
    sink = open_sink(work / "soak.csv", "csv", LogHeader.now("soak", {}), overwrite=True)
    summary = run_stream(source, Pipeline(AffectModel(model_path, threads=1)), [sink, probe])
    sink.close()
    rss, medians = probe.rss_mb, probe.medians_us
    return {
        "model": model_path.name,
        "audio_s": round(summary.audio_s, 1),
        "wall_s": round(summary.wall_s, 1),
        "hops": summary.hops,
        "rows_logged": sink.rows_written,
        "dropped_hops": source.given - summary.hops,
        "rss_first_minute_mb": round(rss[0], 1) if rss else None,
        "rss_growth_mb": round(max(rss) - rss[0], 2) if rss else None,
        "latency_p50_first_minute_us": round(medians[0], 1) if medians else None,
        "latency_p50_last_minute_us": round(medians[-1], 1) if medians else None,
        "latency_drift": round(medians[-1] / medians[0], 3) if medians else None,
        "minutes": len(medians),
    }


# --- the run -------------------------------------------------------------------------------


def run_bench(options: BenchOptions) -> dict[str, Any]:
    if not options.models:
        raise EdgeAffectError("no model to benchmark: pass --model (or install a bundled model)")
    for model in options.models:
        AffectModel(model)  # a missing file or a wrong contract fails before any measurement
    with tempfile.TemporaryDirectory(prefix="edge-affect-bench-") as tmp:
        work = options.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        clip = load_clip(options.audio, options.seconds, work)
        report: dict[str, Any] = {
            "audio": clip.description,
            "seconds": round(clip.seconds, 2),
            "machine": machine(),
            "sizes": {m.name: m.stat().st_size for m in options.models},
            "streaming": [
                streaming(m, clip, gate, work) for m in options.models for gate in (False, True)
            ],
            "file_mode": [file_mode(m, clip, work) for m in options.models],
        }
        report["chunked"] = [c for m in options.models if (c := chunk_vs_hop(m, clip.pcm))]
        primary = options.models[0]
        if options.process:
            report["listen_process"] = listen_process(primary, clip, work)
            report["run_process"] = run_process(primary, clip.path, clip.seconds, work)
            report["cpu_share"] = cpu_share(primary, clip.pcm, work, options.cpu_share_s)
        if options.soak_s:  # before the references load torch / openSMILE into this process
            report["soak"] = soak(primary, clip, options.soak_s, work)
        if options.references:
            report["opensmile"] = opensmile_reference(clip)
            if report["opensmile"] is not None and options.process:
                report["opensmile"]["process"] = opensmile_process(clip.path, clip.seconds)
            report["torch"], reason = torch_reference(clip, work)
            if reason is not None:
                report["torch_unavailable"] = reason
        report["targets"] = check_targets(report)
    return report


def _primary_stream(report: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in report["streaming"] if not s["gate"])


def _checks(report: dict[str, Any]) -> dict[str, tuple[float, float]]:
    stream = _primary_stream(report)
    checks = {
        "streaming p50 per hop <= 100 us": (stream["p50_us"], TARGETS["stream_p50_us"]),
        "streaming p99 per hop <= 1 ms": (stream["p99_us"], TARGETS["stream_p99_us"]),
        "streaming RTF <= 0.0025": (stream["rtf"], TARGETS["stream_rtf"]),
        "file mode RTF <= 0.0005": (report["file_mode"][0]["rtf"], TARGETS["file_rtf"]),
    }
    smile, run = report.get("opensmile"), report.get("run_process")
    if smile and run:
        ratio = smile["rtf"] / run["rtf"]
        checks["run process vs openSMILE LLDs >= 12x"] = (ratio, TARGETS["opensmile_ratio"])
    if run:
        checks["run peak RSS <= 60 MB"] = (run["peak_rss_mb"], TARGETS["run_rss_mb"])
    process = report.get("listen_process")
    if process and process.get("peak_rss_mb"):
        checks["listen peak RSS <= 80 MB"] = (process["peak_rss_mb"], TARGETS["listen_rss_mb"])
        checks["first reading <= 0.3 s"] = (process["startup_s"], TARGETS["startup_s"])
    soaked = report.get("soak")
    if soaked and soaked["rss_growth_mb"] is not None:
        checks["soak RSS growth < 2 MB"] = (soaked["rss_growth_mb"], TARGETS["soak_rss_growth_mb"])
        checks["soak dropped hops == 0"] = (soaked["dropped_hops"], 0)
        checks["soak rows logged == hops"] = (soaked["hops"] - soaked["rows_logged"], 0)
    return checks


def check_targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The targets for the first model: measured value and met/missed."""
    out = {}
    for name, (value, limit) in _checks(report).items():
        met = value >= limit if ">=" in name else value <= limit
        out[name] = {"value": value, "limit": limit, "met": bool(met)}
    return out


def format_bench(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"edge-affect bench: {report['audio']}; {m['cpu']} ({m['cores']} cores), "
        f"onnxruntime {m['onnxruntime']}, 1 thread",
        "",
        f"{'streaming (VAD + model + CSV)':34s} {'mode':7s} {'gate':5s} {'p50':>8s} {'p99':>8s} "
        f"{'RTF':>9s}",
    ]
    for s in report["streaming"]:
        lines.append(
            f"{s['model']:34s} {s['mode']:7s} {'on' if s['gate'] else 'off':5s} "
            f"{s['p50_us']:>6.0f}us {s['p99_us']:>6.0f}us {s['rtf']:>9.5f}"
        )
    lines.append("")
    for f in report["file_mode"]:
        size = report["sizes"][f["model"]] / 1000
        chunks = f"chunks of {f['chunk_hops']}" if f["chunked"] else "single-hop model"
        lines.append(
            f"file mode (run) {f['model']}: RTF {f['rtf']:.5f} ({chunks}; hop by hop "
            f"{f['rtf_hop_by_hop']:.5f}); file {size:.1f} KB"
        )
    lines += _process_lines(report) + _reference_lines(report)
    soaked = report.get("soak")
    if soaked:
        lines.append(
            f"soak: {soaked['audio_s']:.0f} s of audio in {soaked['wall_s']:.0f} s; RSS growth "
            f"{soaked['rss_growth_mb']} MB; p50 first/last minute "
            f"{soaked['latency_p50_first_minute_us']}/{soaked['latency_p50_last_minute_us']} us; "
            f"dropped {soaked['dropped_hops']}; rows {soaked['rows_logged']} of {soaked['hops']}"
        )
    lines += ["", "targets:"]
    for name, check in report["targets"].items():
        lines.append(f"  {name:40s} {check['value']:<10.4g} {'met' if check['met'] else 'MISSED'}")
    return "\n".join(lines)


def _process_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for c in report.get("chunked", []):
        lines.append(
            f"model alone, {c['model']}: {c['hop_call_us']:.1f} us per hop one call per hop, "
            f"{c['chunk_call_us_per_hop']:.1f} us per hop in chunks of {c['chunk_hops']} "
            f"({c['speedup']:.2f}x; readings identical: {c['readings_identical']})"
        )
    process = report.get("listen_process")
    if process:
        lines.append(
            f"listen-equivalent process: first reading {process['startup_s']} s, peak RSS "
            f"{process['peak_rss_mb']} MB (imports alone: {process['imports_rss_mb']} MB)"
        )
    run = report.get("run_process")
    if run:
        lines.append(
            f"run as a whole process: {run['wall_s']:.2f} s wall (RTF {run['rtf']:.5f} with "
            f"start-up), CPU {run['cpu_s']:.2f} s, peak RSS {run['peak_rss_mb']} MB"
        )
    share = report.get("cpu_share")
    if share:
        lines.append(
            f"listen-equivalent CPU, share of one core: {share['silence_gated']:.2%} in gated "
            f"silence, {share['speech']:.2%} with the model on every hop (continuous speech)"
        )
    return lines


def _reference_lines(report: dict[str, Any]) -> list[str]:
    stream = _primary_stream(report)
    lines = _precision_lines(report)
    smile = report.get("opensmile")
    if smile:
        lines.append(
            f"reference openSMILE {smile['version']} eGeMAPSv02 LLDs in-process: RTF "
            f"{smile['rtf']:.5f} ({smile['rtf'] / stream['rtf']:.1f}x the streaming RTF, "
            f"{smile['rtf'] / report['file_mode'][0]['rtf']:.1f}x file mode)"
        )
        whole, run = smile.get("process"), report.get("run_process")
        if whole and run:
            lines.append(
                f"reference openSMILE as a whole process: {whole['wall_s']:.2f} s, peak RSS "
                f"{whole['peak_rss_mb']} MB; run's whole process is "
                f"{whole['wall_s'] / run['wall_s']:.1f}x faster ({smile['rtf'] / run['rtf']:.1f}x"
                f" openSMILE's extraction alone)"
            )
    elif "opensmile" in report:
        lines.append("reference openSMILE: not installed (pip install 'edge-affect[bench]')")
    torch_ref = report.get("torch")
    if torch_ref:
        lines.append(
            f"reference torch {torch_ref['torch']} student step (1 thread): p50 "
            f"{torch_ref['p50_us']:.0f} us ({torch_ref['p50_us'] / stream['p50_us']:.1f}x the "
            f"ONNX pipeline's p50)"
        )
    elif "torch" in report:
        lines.append("reference torch: not installed (host only)")
    return lines


def _precision_lines(report: dict[str, Any]) -> list[str]:
    """int8 against fp32 of the same mode, gate off, where both were measured."""
    off = [s for s in report["streaming"] if not s["gate"]]
    lines = []
    for s in off:
        if s["precision"] == "fp32":
            continue
        fp32 = [f for f in off if f["precision"] == "fp32" and f["mode"] == s["mode"]]
        if fp32:
            lines.append(
                f"{s['model']} vs {fp32[0]['model']}: p50 {s['p50_us']:.0f} vs "
                f"{fp32[0]['p50_us']:.0f} us per hop ({s['p50_us'] / fp32[0]['p50_us']:.2f}x)"
            )
    return lines
