"""Do the transfer study's pinned numeric paths give the same weights on other instruction sets?

    python scripts/numeric_paths_check.py [--scratch DIR] [--models Haswell,SandyBridge,EPYC-Rome]

The study (``edge_affect_train.transfer_study``) starts every training process with
``PINNED_ENV`` (one OpenMP/MKL thread, ``ATEN_CPU_CAPABILITY=default``, ``MKL_CBWR=COMPATIBLE``)
and calls ``torch.use_deterministic_algorithms(True)``. This script measures what that buys on
CPUs with different instruction sets. It trains a tiny audio baseline student (2 epochs on the
``tiny`` synthetic corpus, made with ``edge-affect synth`` in DIR/corpus if absent) in a child
process per run, natively and under ``qemu-x86_64-static -cpu MODEL`` (user-mode emulation: the
same python and site-packages, a different cpuid, so the libraries' runtime dispatch picks
other kernels). Three configurations, all with one torch thread:

- ``pinned``: ``PINNED_ENV`` and deterministic algorithms, as the study runs;
- ``pinned+onednn``: the same plus ``ONEDNN_MAX_CPU_ISA=SSE41`` (oneDNN, which runs the
  student's GELU, dispatches on cpuid by itself and ignores ``ATEN_CPU_CAPABILITY``);
- ``unpinned``: none of ``PINNED_ENV`` in the environment, default algorithms.

For every run it prints the sha256 of the trained student's state_dict (tensors' bytes in key
order), the max |Δweight| against the native run of the same configuration (which also runs
twice, to show it repeats), what the child saw (torch's CPU capability, numpy's CPU features)
and a fingerprint of ``torch.sqrt`` on a fixed tensor: under these pins torch's float sqrt is
MKL VML code built on the ``rsqrtps`` estimate, whose bits are implementation-specific (an
AMD EPYC's differ from qemu's).

Children run one at a time. Emulation changes which code path cpuid selects, and computes
estimate instructions (``rsqrtps``, ``rcpps``) its own way; it does not show how a real CPU
of the emulated model computes. One host is measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect_train.transfer_study import PINNED_ENV

NATIVE = "native"
NATIVE_AGAIN = "native again"
#: configuration -> (extra environment or None for no pins, deterministic algorithms)
CONFIGS: dict[str, tuple[dict[str, str] | None, bool]] = {
    "pinned": (PINNED_ENV, True),
    "pinned+onednn": ({**PINNED_ENV, "ONEDNN_MAX_CPU_ISA": "SSE41"}, True),
    "unpinned": (None, False),
}
#: cleared from every child's inherited environment before its configuration is applied
CLEARED_ENV = (*PINNED_ENV, "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
#: numpy CPU features worth naming in the report (the ones the dispatchers choose between)
SHOWN_FEATURES = ("SSE42", "AVX", "FMA3", "AVX2", "AVX512F", "AVX512_SKX", "AVX512_ICL")
STUDENT_ARGS: dict[str, Any] = {
    "epochs": 2,
    "batch_size": 4,
    "chunk_s": 4.0,
    "seed": 0,
    "device": "cpu",
    "threads": 1,
    "quiet": True,
    "average_last": 1,
}
SQRT_PROBE_SIZE = 1 << 16


def _state_hash(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in sorted(arrays):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def _numpy_features() -> list[str]:
    from numpy._core._multiarray_umath import __cpu_features__  # noqa: PLC0415

    return [name for name in SHOWN_FEATURES if __cpu_features__.get(name)]


def _sqrt_probe() -> dict[str, Any]:
    """torch.sqrt on a fixed tensor: a fingerprint and how many results are not exact."""
    import torch  # noqa: PLC0415

    x = torch.arange(1, SQRT_PROBE_SIZE + 1, dtype=torch.float32) * 0.37
    got = torch.sqrt(x).numpy()
    exact = np.sqrt(x.numpy().astype(np.float64)).astype(np.float32)
    return {
        "sqrt_sha256": hashlib.sha256(got.tobytes()).hexdigest(),
        "sqrt_inexact": int(np.count_nonzero(got != exact)),
    }


def child(data: Path, out: Path, deterministic: bool) -> None:
    """Train the tiny student in this process (its environment already set) and record it."""
    import torch  # noqa: PLC0415 - after the parent set the environment

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(deterministic)
    from edge_affect_train.commands import student_run  # noqa: PLC0415

    started = time.perf_counter()
    run = student_run(
        data,
        None,
        "baseline",
        out / "run",
        "cca",
        "gru",
        16,
        16,
        (1.0, 1.0),
        STUDENT_ARGS,
        level_tau_s=60.0,
    )
    assert run.task is not None
    state = run.task.student.state_dict()
    arrays = {k: v.detach().cpu().contiguous().numpy() for k, v in state.items()}
    np.savez(out / "weights.npz", **arrays)
    record = {
        "sha256": _state_hash(arrays),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "numpy_features": _numpy_features(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "torch_threads": torch.get_num_threads(),
        "env": {k: os.environ.get(k) for k in CLEARED_ENV},
        "last_train_loss": run.fit.history[-1]["train_loss"],
        "train_s": round(time.perf_counter() - started, 1),
        **_sqrt_probe(),
    }
    (out / "record.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
    print(json.dumps(record), flush=True)


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(extra or {})
    return env


def ensure_corpus(data: Path) -> None:
    manifest = data / "synth.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        if m["preset"]["name"] == "tiny" and m["seed"] == 0:
            return
        raise SystemExit(f"{data}: holds a corpus other than --preset tiny --seed 0")
    cmd = [sys.executable, "-m", "edge_affect", "synth", str(data)]
    subprocess.run([*cmd, "--preset", "tiny", "--seed", "0", "--jobs", "1"], check=True)


def _run_dir(scratch: Path, config: str, model: str) -> Path:
    return scratch / "runs" / f"{config}-{model}".replace(" ", "-").replace("+", "-")


def run_child(
    data: Path, scratch: Path, config: str, model: str, qemu: str, timeout_s: float
) -> dict[str, Any]:
    out = _run_dir(scratch, config, model)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    extra, deterministic = CONFIGS[config]
    python = os.path.realpath(sys.executable)
    prefix = [] if model in (NATIVE, NATIVE_AGAIN) else [qemu, "-cpu", model]
    cmd = [*prefix, python, __file__, "child", str(data), str(out)]
    if deterministic:
        cmd.append("--deterministic")
    started = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=_environment(extra),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    wall_s = time.perf_counter() - started
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).splitlines()[-6:])
        return {"error": f"exit {proc.returncode}: {tail}", "wall_s": wall_s}
    record: dict[str, Any] = json.loads((out / "record.json").read_text(encoding="utf-8"))
    record["wall_s"] = wall_s
    return record


def max_abs_diff(a: Path, b: Path) -> tuple[float, int, int]:
    """Max |a - b| over all tensors, tensors that differ, tensors in all."""
    with np.load(a) as x, np.load(b) as y:
        if sorted(x.files) != sorted(y.files):
            raise SystemExit(f"{a} and {b} hold different tensors")
        diffs = [float(np.max(np.abs(x[k] - y[k]), initial=0.0)) for k in x.files]
    return max(diffs), sum(d > 0 for d in diffs), len(diffs)


def _compare(scratch: Path, a: tuple[str, str], b: tuple[str, str]) -> str:
    worst, differ, total = max_abs_diff(
        _run_dir(scratch, *a) / "weights.npz", _run_dir(scratch, *b) / "weights.npz"
    )
    return f"{worst:.3g} ({differ}/{total} tensors)" if differ else "0 (identical)"


def print_table(scratch: Path, records: dict[tuple[str, str], dict[str, Any]]) -> None:
    print(
        f"\n{'config':14s} {'cpu':12s} {'torch cap':9s} {'numpy features':47s} "
        f"{'sha256':16s} {'sqrt':8s} {'inexact':>7s}  {'max |Δw| vs native':24s} {'wall s':>6s}"
    )
    for (config, model), r in records.items():
        if "error" in r:
            print(f"{config:14s} {model:12s} FAILED {r['error']}")
            continue
        if model == NATIVE:
            versus = "-"
        elif "error" in records[(config, NATIVE)]:
            versus = "no native run"
        else:
            versus = _compare(scratch, (config, NATIVE), (config, model))
        print(
            f"{config:14s} {model:12s} {r['torch_cpu_capability']:9s} "
            f"{' '.join(r['numpy_features']):47s} {r['sha256'][:16]} {r['sqrt_sha256'][:8]} "
            f"{r['sqrt_inexact']:7d}  {versus:24s} {r['wall_s']:6.1f}"
        )
    print()
    models = dict.fromkeys(m for _, m in records if m != NATIVE_AGAIN)
    for config in list(CONFIGS)[1:]:
        for model in models:
            a, b = ("pinned", model), (config, model)
            if all("sha256" in records.get(k, {}) for k in (a, b)):
                print(f"pinned vs {config} on {model}: max |Δw| {_compare(scratch, a, b)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    kid = sub.add_parser("child", help="internal: one training run in this process")
    kid.add_argument("data", type=Path)
    kid.add_argument("out", type=Path)
    kid.add_argument("--deterministic", action="store_true")
    parser.add_argument("--scratch", type=Path, default=Path("build/numeric-paths"))
    parser.add_argument("--models", default="Haswell,SandyBridge,EPYC-Rome", help="qemu -cpu")
    parser.add_argument("--qemu", default="qemu-x86_64-static")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per child")
    args = parser.parse_args()
    if args.mode == "child":
        child(args.data, args.out, args.deterministic)
        return
    if shutil.which(args.qemu) is None:
        raise SystemExit(f"{args.qemu} not found (Debian: apt-get install qemu-user-static)")
    started = time.perf_counter()
    data = args.scratch / "corpus"
    ensure_corpus(data)
    models = [NATIVE, NATIVE_AGAIN, *[m for m in args.models.split(",") if m]]
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for config in CONFIGS:
        for model in models:
            r = run_child(data, args.scratch, config, model, args.qemu, args.timeout)
            records[(config, model)] = r
            found = r.get("sha256", r.get("error"))
            print(f"{config} {model}: {found} ({r['wall_s']:.0f} s)", flush=True)
    print_table(args.scratch, records)
    print(f"\nwall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
