"""Helpers the tests share (``conftest.py`` holds the fixtures only).

Runtime-only: ``tests/runtime/`` runs in a device install without torch, onnx or the host
packages, so nothing here imports them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest
import soundfile
import soxr

from edge_affect.arrays import Float32Array
from edge_affect.audio import SAMPLE_RATE

IN_CI = bool(os.environ.get("CI"))

#: The repository's ``scripts/`` folder (not a package: its scripts are loaded by path).
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

#: Committed by ``python -m tests.make_models``; ``tests/test_export.py`` checks they are current.
TEST_MODELS = Path(__file__).parent / "models"


def unavailable(reason: str) -> NoReturn:
    """A system dependency is missing: skip on a developer machine; fail in CI, where
    ``.ci/run`` installs it, so a missing one is a broken set-up, not a reason to skip."""
    if IN_CI:
        pytest.fail(f"{reason}; CI installs it, so this is a broken set-up", pytrace=False)
    pytest.skip(reason)


def require(available: bool, reason: str) -> None:
    if not available:
        unavailable(reason)


def require_program(name: str, install_hint: str) -> None:
    require(shutil.which(name) is not None, f"{name} is not installed ({install_hint})")


def read_speech(path: Path) -> Float32Array:
    """A WAV file as mono float32 at 16 kHz: libsndfile's float conversion, the channels
    averaged, soxr's high-quality resampler (what the training code reads, too)."""
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if int(rate) == SAMPLE_RATE:
        return np.asarray(mono, dtype=np.float32)
    resampled = soxr.resample(mono, int(rate), SAMPLE_RATE, quality="HQ")
    return np.asarray(resampled, dtype=np.float32)


def run_script(name: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``python scripts/NAME.py ARGS`` from the repository root, its output captured."""
    return subprocess.run(
        [sys.executable, str(SCRIPTS / f"{name}.py"), *args],
        cwd=SCRIPTS.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def load_script(name: str) -> Any:
    """``scripts/NAME.py`` as a module, to call its functions in the test's process."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
