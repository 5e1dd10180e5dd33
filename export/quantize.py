"""int8 quantization with onnxruntime, the frontend always left in float.

* ``dynamic`` (default): weights of every ``MatMul`` with a constant right operand become
  int8 (``MatMulConstBOnly``), activations are quantized on the fly per call. The explicit
  GRU cell of the stream graph is made of such MatMuls, so the recurrent weights are int8.
* ``static``: QDQ with activation ranges calibrated (min/max) on real audio; the calibration
  feeds are the fp32 graph's own inputs while it streams the audio, states included.

The frontend's nodes are excluded by the tensors they read
(:func:`export.onnx_graph.frontend_nodes`): quantizing the DFT/mel matrices wrecks the
log-mel (DESIGN section 2).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
from edge_affect.model import AffectModel
from export.onnx_graph import frontend_nodes

QUANTIZED_OPS = ["MatMul"]
OPTIONS = {"MatMulConstBOnly": True}


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


def quantize(fp32_path: Path, int8_path: Path, calibration: list[np.ndarray] | None = None) -> str:
    """Write ``int8_path``; return the precision name for the contract."""
    exclude = frontend_nodes(onnx.load(str(fp32_path)))
    # the quantizer logs a pre-processing hint on the root logger; the graph is already clean
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        return _quantize(fp32_path, int8_path, calibration, exclude)
    finally:
        root.setLevel(level)


def _quantize(
    fp32_path: Path, int8_path: Path, calibration: list[np.ndarray] | None, exclude: list[str]
) -> str:
    if calibration is None:
        quantize_dynamic(
            fp32_path,
            int8_path,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=QUANTIZED_OPS,
            nodes_to_exclude=exclude,
            extra_options=OPTIONS,
        )
        return "int8-dynamic"
    fp32 = AffectModel(fp32_path)
    window_hops = fp32.contract.window_samples // HOP_SAMPLES
    quantize_static(
        fp32_path,
        int8_path,
        StreamFeeds(fp32, calibration, window_hops),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=QUANTIZED_OPS,
        nodes_to_exclude=exclude,
        extra_options=OPTIONS,
    )
    return "int8-static"
