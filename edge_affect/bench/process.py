"""Whole-process and per-call figures of ``edge-affect bench``.

* ``run`` as a user starts it (a fresh ``python -m edge_affect run`` on the clip's WAV): wall
  time with start-up, RTF, peak RSS and CPU time, from the child's own resource usage;
* openSMILE eGeMAPSv02 LLD extraction of the same WAV as a whole process (``python -c``),
  next to its in-process time (:func:`edge_affect.bench.opensmile_reference`);
* one hop per call against chunks: ``ModelStream.step`` hop by hop against
  ``ModelStream.step_chunk`` on chunks of ``CHUNK_HOPS``, per hop, with the readings compared;
* the CPU share of one core that a ``listen``-equivalent process takes, paced in real time,
  in gated silence and with the model on every hop (continuous speech).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE
from edge_affect.errors import EdgeAffectError
from edge_affect.stream.model import AffectModel

CHUNK_HOPS = 250  # run's default for a file
CPU_SHARE_S = 10.0  # seconds of real-time streaming per CPU-share figure

_OPENSMILE = (
    "import sys, opensmile\n"
    "smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,"
    " feature_level=opensmile.FeatureLevel.LowLevelDescriptors)\n"
    "print(len(smile.process_file(sys.argv[1])))\n"
)


#: Runs argv[1:] as a child of this small process and prints its usage as JSON. Measured from
#: here, not from the benchmark itself: Linux keeps a child's peak RSS across ``exec``, so a
#: child forked straight from the (large) benchmark process would report the benchmark's size.
_LAUNCHER = (
    "import json, os, sys, time\n"
    "started = time.perf_counter()\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execv(sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "wall = time.perf_counter() - started\n"
    "print(json.dumps({'wall_s': wall, 'status': os.waitstatus_to_exitcode(status),\n"
    "    'peak_rss_kb': usage.ru_maxrss, 'cpu_s': usage.ru_utime + usage.ru_stime}),\n"
    "    file=sys.stderr)\n"
)


def _usage_of(args: list[str], timeout_s: float = 600.0) -> dict[str, Any]:
    """Run ``args`` (``args[0]`` an executable path); its output, wall time, peak RSS and CPU
    time (user + system), measured by a small launcher process."""
    try:
        result = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise EdgeAffectError(f"{' '.join(args[:4])}: no result in {timeout_s:.0f} s") from None
    lines = result.stderr.strip().splitlines()
    usage = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if result.returncode != 0 or usage.get("status") != 0:
        raise EdgeAffectError(f"{' '.join(args[:4])} failed: {result.stderr.strip()[-500:]}")
    return {
        "wall_s": round(usage["wall_s"], 3),
        "peak_rss_mb": round(usage["peak_rss_kb"] / 1024, 1),
        "cpu_s": round(usage["cpu_s"], 3),
        "stdout": result.stdout,
    }


def run_process(model: Path, wav: Path, seconds: float, work: Path) -> dict[str, Any]:
    """``edge-affect run`` on the WAV as a whole process (start-up included)."""
    log = work / "run_process.csv"
    args = [sys.executable, "-m", "edge_affect", "run", str(wav), "--model", str(model)]
    args += ["--out", str(log), "--overwrite", "--quiet"]
    usage = _usage_of(args)
    usage.pop("stdout")
    return {**usage, "rtf": round(usage["wall_s"] / seconds, 6), "model": model.name}


def opensmile_process(wav: Path, seconds: float) -> dict[str, Any] | None:
    """openSMILE eGeMAPSv02 LLDs of the WAV as a whole process; ``None`` without openSMILE."""
    try:
        usage = _usage_of([sys.executable, "-c", _OPENSMILE, str(wav)])
    except EdgeAffectError as error:
        if "No module named 'opensmile'" in str(error):
            return None
        raise
    frames = int(usage.pop("stdout").strip().splitlines()[-1])
    return {**usage, "rtf": round(usage["wall_s"] / seconds, 6), "frames": frames}


def chunk_vs_hop(model_path: Path, pcm: np.ndarray) -> dict[str, Any] | None:
    """The model alone: per hop, one call per hop against chunks of ``CHUNK_HOPS``; ``None``
    for a model that is not chunked."""
    model = AffectModel(model_path, threads=1)
    if not model.contract.chunked:
        return None
    hops = pcm.reshape(-1, HOP_SAMPLES)
    warm = model.stream()
    for hop in hops[:50]:
        warm.step(hop)
    single = model.stream()
    started = time.perf_counter()
    stepped = [single.step(hop) for hop in hops]
    hop_s = time.perf_counter() - started
    chunked = model.stream()
    started = time.perf_counter()
    parts = [chunked.step_chunk(hops[i : i + CHUNK_HOPS]) for i in range(0, len(hops), CHUNK_HOPS)]
    chunk_s = time.perf_counter() - started
    same = bool(np.array_equal(np.concatenate(parts), np.stack(stepped)))
    n = hops.shape[0]
    return {
        "model": model_path.name,
        "chunk_hops": CHUNK_HOPS,
        "hop_call_us": round(hop_s / n * 1e6, 1),
        "chunk_call_us_per_hop": round(chunk_s / n * 1e6, 1),
        "speedup": round(hop_s / chunk_s, 2),
        "readings_identical": same,
    }


def cpu_share(
    model: Path, pcm: np.ndarray, work: Path, seconds: float = CPU_SHARE_S
) -> dict[str, Any]:
    """Share of one core a ``listen``-equivalent process takes, paced in real time: gated
    silence, and the model on every hop (continuous speech: the speech with the gate off)."""
    n = round(seconds * SAMPLE_RATE)
    silence = work / "silence.wav"
    soundfile.write(silence, np.zeros(n, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    speech = work / "continuous.wav"
    soundfile.write(speech, np.resize(pcm, n), SAMPLE_RATE, subtype="PCM_16")
    out = {}
    for name, wav, extra in (("silence_gated", silence, []), ("speech", speech, ["--no-gate"])):
        args = [sys.executable, "-m", "edge_affect.bench.child", str(model), str(wav)]
        args += [str(seconds), str(work / "cpu.csv"), "--cpu", *extra]
        result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise EdgeAffectError(f"the CPU-share process failed: {result.stderr.strip()}")
        payload = json.loads(result.stdout.strip().splitlines()[-1])
        out[name] = round(payload["cpu_share"], 4)
    return {"model": model.name, "seconds": seconds, **out}
