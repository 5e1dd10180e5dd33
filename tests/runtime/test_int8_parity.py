"""int8 against fp32 on the CPU running the tests, and the CPU's int8 kernel class.

The bounds and why they are what they are:

* ``MAX_ABS_DIFFERENCE = 0.02`` between the bundled int8 and fp32 readings over the demo clip.
  The int8 scheme stores uint8 weights per output channel and quantizes activations to uint8
  per call; no CPU class's kernel saturates on uint8 x uint8, so the difference is rounding
  only. Measured with ``scripts/int8_schemes.py`` (docs/export.md) on the bundled
  network: 0.0086 / 0.0074 (arousal / valence) on x86 with VNNI (natively) and without it
  (AVX2, under qemu), 0.0086 / 0.0087 on Cortex-A72 and A76 (under qemu); 0.0062 at worst on
  the previous network. The failure this guards against, int8 weights on an x86 CPU without
  VNNI (a saturating 16-bit intermediate), measured 0.36 / 0.29 (0.38 / 0.31 on the previous
  network). 0.02 is a little over twice the rounding and eighteen times below that failure;
  a reading's scale is [-1, 1].
* ``MIN_TRACE_CCC = 0.995``: the two traces must move together (rounding: 0.99997 or more;
  the saturating failure: 0.907 / 0.922).
* ``MAX_CCC_CHANGE = 0.005``: the demo's score against its gold standard must not depend on
  the precision, the figure the model card promises.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_affect.audio import LABEL_NAMES
from edge_affect.cli import app
from edge_affect.cpu import cpu_line, describe_cpu, int8_warning, kernel_class
from edge_affect.paths import BUNDLED_MODELS, DEFAULT_MODEL, DEMO_AUDIO, DEMO_GOLD
from edge_affect.scoring.evaluate import load_gold
from edge_affect.scoring.metrics import ccc
from edge_affect.stream.model import AffectModel
from edge_affect.stream.sources import FileSource

MAX_ABS_DIFFERENCE = 0.02
MIN_TRACE_CCC = 0.995
MAX_CCC_CHANGE = 0.005

runner = CliRunner()


def _readings(model: Path) -> np.ndarray:
    source = FileSource(DEMO_AUDIO)
    stream = AffectModel(model).stream()
    try:
        return np.stack([stream.step(hop) for hop in source.hops()])
    finally:
        source.close()


@pytest.fixture(scope="module")
def demo_readings() -> dict[str, np.ndarray]:
    return {
        "fp32": _readings(BUNDLED_MODELS / "default.onnx"),
        "int8": _readings(BUNDLED_MODELS / DEFAULT_MODEL),
    }


def test_bundled_int8_follows_fp32_on_this_cpu(demo_readings: dict[str, np.ndarray]) -> None:
    fp32, int8 = demo_readings["fp32"], demo_readings["int8"]
    assert fp32.shape == int8.shape and fp32.shape[0] >= 700
    where = cpu_line(describe_cpu())
    for i, name in enumerate(LABEL_NAMES):
        worst = float(np.abs(int8[:, i] - fp32[:, i]).max())
        assert worst <= MAX_ABS_DIFFERENCE, f"{name}: int8 - fp32 up to {worst:.4f} on {where}"
        together = ccc(int8[:, i], fp32[:, i])
        assert together >= MIN_TRACE_CCC, f"{name}: trace CCC {together:.4f} on {where}"


def test_the_demo_scores_the_same_in_fp32_and_int8(demo_readings: dict[str, np.ndarray]) -> None:
    gold = load_gold(DEMO_GOLD)
    for i, name in enumerate(LABEL_NAMES):
        n = min(gold[name].shape[0], demo_readings["fp32"].shape[0])
        scores = {p: ccc(r[:n, i], gold[name][:n]) for p, r in demo_readings.items()}
        assert abs(scores["fp32"] - scores["int8"]) <= MAX_CCC_CHANGE, (name, scores)


def test_the_bundled_int8_model_records_a_scheme_that_does_not_saturate() -> None:
    contract = AffectModel(BUNDLED_MODELS / DEFAULT_MODEL).contract
    scheme = contract.quantization or {}
    assert scheme.get("weights") == "uint8"  # U8U8: no kernel class saturates on it
    assert scheme.get("activations") == "uint8"
    saturating = {**describe_cpu(), "int8_kernel": "x86-avx2", "u8s8_saturates": True}
    assert int8_warning(contract.precision, contract.quantization, saturating) == ""


@pytest.mark.parametrize(
    ("machine", "flags", "expected"),
    [
        ("x86_64", {"AVX2", "AVX512BW", "AVX512VNNI"}, "x86-vnni"),  # Zen 4, Ice Lake server
        ("x86_64", {"AVX2", "AVX_VNNI"}, "x86-vnni"),  # Alder Lake
        ("x86_64", {"AVX2", "AVX512BW"}, "x86-avx512bw"),  # Skylake-SP
        ("x86_64", {"AVX2"}, "x86-avx2"),  # Zen 1-3, Haswell to Comet Lake
        ("x86_64", {"SSE41"}, "x86-sse"),
        ("aarch64", {"ASIMD", "ASIMDDP"}, "arm64-dotprod"),  # Pi 5 (Cortex-A76)
        ("aarch64", {"ASIMD"}, "arm64-neon"),  # Pi 4 (Cortex-A72)
    ],
)
def test_kernel_class(machine: str, flags: set[str], expected: str) -> None:
    assert kernel_class(machine, flags) == expected


def test_int8_weights_warn_only_where_they_can_saturate() -> None:
    cpu = describe_cpu()
    u8s8 = {"weights": "int8", "activations": "uint8"}
    avx2 = {**cpu, "int8_kernel": "x86-avx2", "u8s8_saturates": True}
    vnni = {**cpu, "int8_kernel": "x86-vnni", "u8s8_saturates": False}
    assert "saturate" in int8_warning("int8-dynamic", u8s8, avx2)
    assert "unrecorded" in int8_warning("int8-dynamic", None, avx2)  # older files
    assert int8_warning("int8-dynamic", u8s8, vnni) == ""
    assert int8_warning("fp32", None, avx2) == ""


def test_this_cpu_is_described() -> None:
    cpu = describe_cpu()
    assert cpu["machine"] and cpu["model"]
    assert cpu["int8_kernel"] == kernel_class(cpu["machine"], {f.upper() for f in cpu["flags"]})


def test_info_shows_the_scheme_and_this_cpu() -> None:
    result = runner.invoke(app, ["info", str(BUNDLED_MODELS / DEFAULT_MODEL)])
    assert result.exit_code == 0, result.output
    assert "int8 scheme    u8u8-per-channel: uint8 activations x uint8 weights" in result.output
    assert f"this CPU       {cpu_line(describe_cpu())}" in result.output
