"""``python -m edge_affect_export.bench_torch HOPS.npy``: the torch reference as a program."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from edge_affect.audio import HOP_SAMPLES


def test_bench_torch_prints_one_json_object(tmp_path: Path) -> None:
    hops = np.random.default_rng(0).integers(-3000, 3000, (60, HOP_SAMPLES), dtype=np.int16)
    np.save(tmp_path / "hops.npy", hops)
    command = [sys.executable, "-m", "edge_affect_export.bench_torch"]
    result = subprocess.run(
        [*command, str(tmp_path / "hops.npy")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    measured = json.loads(line)
    assert set(measured) == {"torch", "p50_us", "p99_us"}
    assert 0 < measured["p50_us"] <= measured["p99_us"]
    np.save(tmp_path / "floats.npy", hops.astype(np.float32))
    for bad, fragment in (
        (tmp_path / "floats.npy", "expected int16 hops [n, 640], got float32 [60, 640]"),
        (tmp_path / "none.npy", "no such file"),
    ):
        refused = subprocess.run(
            [*command, str(bad)], check=False, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 2 and refused.stdout == ""
        [error] = refused.stderr.splitlines()
        assert error.startswith("error: ") and fragment in error
    blocked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; sys.modules['torch'] = None; sys.argv[0] = 'bench_torch'; "
            "runpy.run_module('edge_affect_export.bench_torch', run_name='__main__')",
            str(tmp_path / "hops.npy"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert blocked.returncode == 3 and blocked.stdout == ""
    assert blocked.stderr.splitlines() == [
        "error: this command needs the [train] extra (torch is not installed): "
        "pip install 'edge-affect[train]'"
    ]
