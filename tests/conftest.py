"""Shared fixtures: a tiny synthetic corpus (real espeak-ng speech) built once per run, and a
small synthetic CMU-MOSI-like dataset in the SDK's ``.csd`` and the pickle layouts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

from edge_affect.audio import HOP_SAMPLES
from edge_affect.audio_io import read_audio
from tests.mosi_synth import SynthMosi, make_dataset, write_csd_folder, write_pickle
from train.synth import generate_corpus

IN_CI = bool(os.environ.get("CI"))


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


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``synth --preset tiny --seed 0`` at 16 kHz, shared read-only by the tests."""
    require_program("espeak-ng", "apt-get install espeak-ng")
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
    clip = read_audio(wav)
    n = clip.samples.shape[0] // HOP_SAMPLES * HOP_SAMPLES
    return np.asarray(clip.samples[:n], dtype=np.float32)


@pytest.fixture(scope="session")
def mosi_synth() -> SynthMosi:
    """A small synthetic CMU-MOSI-like dataset (10 videos from the standard folds)."""
    return make_dataset(seed=0)


@pytest.fixture(scope="session")
def mosi_csd(mosi_synth: SynthMosi, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic dataset as a folder of SDK ``.csd`` files, shared read-only."""
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
    folder = tmp_path_factory.mktemp("mosi_pkl")
    return {
        "mult": write_pickle(folder / "mosi_data.pkl", mosi_synth, "mult"),
        "mmsa": write_pickle(folder / "aligned_50.pkl", mosi_synth, "mmsa"),
    }


@pytest.fixture(scope="session")
def exported_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A random-init causal student (gru 64) exported as ``stream`` (fp32), ``stream_int8``
    and ``window`` (fp32, W = 6 s): real ONNX files for the runtime tests."""
    require_program("espeak-ng", "apt-get install espeak-ng")  # the export's parity speech
    import torch  # noqa: PLC0415 - host-only imports, kept out of the runtime tests' imports

    from export.exporter import ExportOptions, export_student, int8_path  # noqa: PLC0415
    from train.checkpoint import save_checkpoint  # noqa: PLC0415
    from train.models import AudioStudent, EncoderConfig, StudentConfig  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    student = AudioStudent(StudentConfig(encoder=EncoderConfig(kind="gru", hidden=64))).eval()
    student.norm.set_statistics(torch.full((64,), -6.0), torch.full((64,), 3.0))
    checkpoint = folder / "checkpoint.pt"
    save_checkpoint(checkpoint, {
        "kind": "student",
        "model_config": student.config.to_dict(),
        "state_dict": student.state_dict(),
        "train_args": {"chunk_s": 6.0},
    })  # fmt: skip
    quick = {"parity_hops": 50, "latency_hops": 10}
    export_student(checkpoint, folder / "stream.onnx", ExportOptions(int8=True, **quick))
    export_student(checkpoint, folder / "window.onnx", ExportOptions(mode="window", **quick))
    return {
        "stream": folder / "stream.onnx",
        "stream_int8": int8_path(folder / "stream.onnx"),
        "window": folder / "window.onnx",
    }
