"""int8 quantization with onnxruntime, the frontend always left in float.

A :class:`Scheme` names how the ``MatMul`` weights are stored and how activations are
quantized. Only ``MatMul`` nodes with a constant right operand are quantized
(``MatMulConstBOnly``); the explicit GRU cell of the stream graph is made of such MatMuls, so
the recurrent weights are int8 too. The frontend's nodes are excluded by the tensors they read
(:func:`.onnx_graph.frontend_nodes`): quantizing the DFT/mel matrices wrecks the log-mel.

Why the weight type matters (``docs/export.md`` has the measured table): onnxruntime's
uint8-activation x int8-weight kernel (U8S8) on x86-64 with AVX2 or AVX-512 but *without*
VNNI multiplies with ``VPMADDUBSW``, whose 16-bit intermediate sum saturates; the same file is
exact on VNNI x86 and on ARM. uint8 weights (U8U8) take a kernel that does not saturate, so
one file gives the same answer on every CPU class. The default, ``u8u8-per-channel``, had the
smallest error against fp32 on all four CPU classes measured (x86 VNNI, x86 AVX2 without VNNI,
arm64 with and without dot product), the same error on each.

* dynamic schemes: weights quantized once, activations quantized on the fly per call
  (``DynamicQuantizeLinear`` + ``MatMulInteger``);
* static schemes: QDQ with activation ranges calibrated (min/max) on real audio; the
  calibration feeds are the fp32 graph's own inputs while it streams the audio, states
  included.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

from edge_affect.audio import HOP_SAMPLES
from edge_affect.errors import EdgeAffectError
from edge_affect.stream.model import AffectModel
from edge_affect_export.onnx_graph import frontend_nodes

QUANTIZED_OPS = ["MatMul"]

_TYPES = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}


@dataclass(frozen=True)
class Scheme:
    """One way of quantizing the student's MatMuls; recorded in the contract."""

    name: str
    weights: str  # "uint8" or "int8"
    per_channel: bool = False
    reduce_range: bool = False
    static: bool = False
    activations: str = "uint8"

    @property
    def precision(self) -> str:
        return "int8-static" if self.static else "int8-dynamic"

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``quantization`` entry."""
        return {
            "scheme": self.name,
            "activations": self.activations,
            "weights": self.weights,
            "granularity": "per-channel" if self.per_channel else "per-tensor",
            "reduce_range": self.reduce_range,
            "calibration": "static min/max (QDQ)" if self.static else "dynamic (per call)",
            "ops": QUANTIZED_OPS,
            "float": "frontend (DFT, mel, log)",
        }


SCHEMES = {
    s.name: s
    for s in (
        Scheme("u8u8", weights="uint8"),
        Scheme("u8u8-per-channel", weights="uint8", per_channel=True),
        Scheme("u8s8", weights="int8"),
        Scheme("u8s8-reduce-range", weights="int8", reduce_range=True),
        Scheme(
            "u8s8-per-channel-reduce-range", weights="int8", per_channel=True, reduce_range=True
        ),
        Scheme("static-u8u8", weights="uint8", static=True),
        Scheme("static-u8s8", weights="int8", static=True),
    )
}
#: Chosen by measurement on parity across CPU classes, size and hop latency (docs/export.md).
DEFAULT_SCHEME = "u8u8-per-channel"
DEFAULT_STATIC_SCHEME = "static-u8u8"


def scheme_named(name: str) -> Scheme:
    if name not in SCHEMES:
        raise EdgeAffectError(f"unknown int8 scheme {name!r}; choose one of {', '.join(SCHEMES)}")
    return SCHEMES[name]


class StreamFeeds(CalibrationDataReader):  # type: ignore[misc]
    """The fp32 graph's inputs, hop by hop, while it streams the calibration audio."""

    def __init__(self, fp32: AffectModel, clips: list[np.ndarray], window_hops: int) -> None:
        self._feeds = iter(self._generate(fp32, clips, window_hops))

    @staticmethod
    def _generate(
        fp32: AffectModel, clips: list[np.ndarray], window_hops: int
    ) -> Iterator[dict[str, Any]]:
        contract = fp32.contract
        for pcm in clips:
            hops = pcm.reshape(-1, HOP_SAMPLES)
            if contract.mode == "window":
                # one full window every half window: the ranges the device will see
                for end in range(window_hops, hops.shape[0] + 1, max(1, window_hops // 2)):
                    start = (end - window_hops) * HOP_SAMPLES
                    yield {contract.pcm_input: pcm[start : end * HOP_SAMPLES][None]}
                continue
            stream = fp32.stream()
            for hop in hops:
                yield {contract.pcm_input: hop[None], **stream.state()}
                stream.step(hop)

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)


def quantize(
    fp32_path: Path,
    int8_path: Path,
    scheme: Scheme,
    calibration: list[np.ndarray] | None = None,
) -> None:
    """Write ``int8_path`` from ``fp32_path`` with ``scheme`` (static needs ``calibration``)."""
    if scheme.static and not calibration:
        raise EdgeAffectError(f"int8 scheme {scheme.name} needs calibration audio")
    exclude = frontend_nodes(onnx.load(str(fp32_path)))
    # the quantizer logs a pre-processing hint on the root logger; the graph is already clean
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        _quantize(fp32_path, int8_path, scheme, calibration, exclude)
    finally:
        root.setLevel(level)


def _quantize(
    fp32_path: Path,
    int8_path: Path,
    scheme: Scheme,
    calibration: list[np.ndarray] | None,
    exclude: list[str],
) -> None:
    common: dict[str, Any] = {
        "weight_type": _TYPES[scheme.weights],
        "per_channel": scheme.per_channel,
        "reduce_range": scheme.reduce_range,
        "op_types_to_quantize": QUANTIZED_OPS,
        "nodes_to_exclude": exclude,
        "extra_options": {"MatMulConstBOnly": True},
    }
    if not scheme.static:
        quantize_dynamic(fp32_path, int8_path, **common)
        return
    assert calibration is not None
    fp32 = AffectModel(fp32_path)
    window_hops = fp32.contract.window_samples // HOP_SAMPLES
    quantize_static(
        fp32_path,
        int8_path,
        StreamFeeds(fp32, calibration, window_hops),
        quant_format=QuantFormat.QDQ,
        activation_type=_TYPES[scheme.activations],
        **common,
    )
