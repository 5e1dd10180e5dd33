"""Shared fixtures: a tiny synthetic corpus (real espeak-ng speech) built once per run, a
small synthetic CMU-MOSI-like dataset in the SDK's ``.csd`` and the pickle layouts, and the
committed ONNX models of ``tests/models/``. Helper functions live in ``tests/helpers.py``.

The runtime tests (``tests/runtime/``) run in a device-only install (no torch, no onnx, no
``train``/``export``), so this module imports host code only inside the fixtures that need it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from edge_affect.audio import HOP_SAMPLES
from tests.helpers import TEST_MODELS, read_speech, require_program

if TYPE_CHECKING:
    from tests.mosi_synth import SynthMosi


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``synth --preset tiny --seed 0`` at 16 kHz, shared read-only by the tests."""
    require_program("espeak-ng", "apt-get install espeak-ng")
    from edge_affect_train.synth import generate_corpus  # noqa: PLC0415 - host-only

    root = tmp_path_factory.mktemp("corpus") / "tiny"
    generate_corpus(root, preset="tiny", seed=0, sample_rate=16_000, jobs=2)
    return root


@pytest.fixture
def corpus_copy(tiny_corpus: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny corpus that a test may damage."""
    target = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, target)
    return target


@pytest.fixture(scope="session")
def speech_16k(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """About 4 s of real espeak-ng speech at 16 kHz, float32 in [-1, 1], whole hops long."""
    require_program("espeak-ng", "apt-get install espeak-ng")
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    text = "the weather was warm and the market was full of people this morning"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True, timeout=30)
    samples = read_speech(wav)
    n = samples.shape[0] // HOP_SAMPLES * HOP_SAMPLES
    return np.asarray(samples[:n], dtype=np.float32)


@pytest.fixture(scope="session")
def mosi_synth() -> SynthMosi:
    """A small synthetic CMU-MOSI-like dataset (10 videos from the standard folds)."""
    from tests.mosi_synth import make_dataset  # noqa: PLC0415 - host-only (h5py, torch)

    return make_dataset(seed=0)


@pytest.fixture(scope="session")
def mosi_csd(mosi_synth: SynthMosi, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic dataset as a folder of SDK ``.csd`` files, shared read-only."""
    from tests.mosi_synth import write_csd_folder  # noqa: PLC0415 - host-only

    folder = tmp_path_factory.mktemp("mosi") / "csd"
    write_csd_folder(folder, mosi_synth)
    return folder


@pytest.fixture
def mosi_csd_copy(mosi_csd: Path, tmp_path: Path) -> Path:
    """A private copy of the ``.csd`` folder that a test may damage."""
    target = tmp_path / "csd"
    shutil.copytree(mosi_csd, target)
    return target


@pytest.fixture(scope="session")
def mosi_pickles(
    mosi_synth: SynthMosi, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The synthetic dataset as MulT ``mosi_data.pkl`` and MMSA ``aligned_50.pkl``."""
    from tests.mosi_synth import write_pickle  # noqa: PLC0415 - host-only

    folder = tmp_path_factory.mktemp("mosi_pkl")
    return {
        "mult": write_pickle(folder / "mosi_data.pkl", mosi_synth, "mult"),
        "mmsa": write_pickle(folder / "aligned_50.pkl", mosi_synth, "mmsa"),
    }


@pytest.fixture(scope="session")
def exported_models() -> dict[str, Path]:
    """A random-init causal student (gru 64) exported as ``stream`` (fp32) and ``stream_int8``
    (both chunked), ``stream_single`` (fp32, one hop per call) and ``window`` (fp32, W = 6 s):
    real ONNX files, committed, for the runtime tests."""
    return {
        "stream": TEST_MODELS / "stream.onnx",
        "stream_int8": TEST_MODELS / "stream.int8.onnx",
        "stream_single": TEST_MODELS / "stream.single.onnx",
        "window": TEST_MODELS / "window.onnx",
    }
