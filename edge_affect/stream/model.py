"""An exported model on the device: the stateless session and the per-stream state.

:class:`AffectModel` opens an ONNX file with onnxruntime, reads its contract and checks it
against this runtime and against the graph's real inputs and outputs; a mismatch raises
:class:`~edge_affect.stream.contract.ContractError` naming what differs. :meth:`AffectModel.stream`
returns an independent :class:`ModelStream` whose state (recurrent state and PCM tail in
stream mode, the last W seconds of PCM in window mode) is explicit and resettable: one model,
many streams (sherpa-onnx ``OnlineRecognizer`` / ``OnlineStream``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edge_affect.arrays import Float32Array, Int16Array
from edge_affect.audio import HOP_SAMPLES
from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect.stream.contract import Contract, ContractError

_ORT_TYPES = {"float32": "tensor(float)", "int16": "tensor(int16)", "int64": "tensor(int64)"}
_NUMPY_TYPES = {"float32": np.float32, "int16": np.int16, "int64": np.int64}


def session_options(threads: int = 1) -> ort.SessionOptions:
    """One intra-op thread by default: a 40 ms hop is far too small to split across cores."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return options


class AffectModel:
    """An exported student: the onnxruntime session and its checked contract."""

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise MissingDataError(f"{self.path}: is a folder, expected an .onnx model file")
        if not self.path.is_file():
            raise MissingDataError(f"{self.path}: no such model file")
        try:
            self.session = ort.InferenceSession(
                str(self.path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped exceptions
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DataFormatError(f"{self.path}: not a loadable ONNX model ({message})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        self.contract = Contract.from_metadata(props, str(self.path))
        self.contract.check_runtime(str(self.path))
        check_graph(self.contract, self.session, str(self.path))

    @property
    def mode(self) -> str:
        return self.contract.mode

    def stream(self) -> ModelStream:
        """A new, independent stream starting from the initial state; the contract's mode
        picks its kind once, here."""
        if self.contract.mode == "window":
            return WindowStream(self)
        return StateStream(self)


class ModelStream(ABC):
    """Per-stream state over an :class:`AffectModel`: feed 640-sample int16 hops, get readings.

    :meth:`AffectModel.stream` returns the kind the model's mode needs: a
    :class:`StateStream` carries the graph's state tensors, a :class:`WindowStream` keeps the
    last W seconds of PCM. Callers use this interface only and never ask for the mode.
    """

    def __init__(self, model: AffectModel) -> None:
        self.model = model
        contract = model.contract
        self._run = model.session.run
        self._pcm_name = contract.pcm_input
        self._outputs = [contract.output, *(s.output for s in contract.states)]
        self._state_inputs = tuple(s.input for s in contract.states)
        self._feed: dict[str, Any] = {}

    @abstractmethod
    def reset(self) -> None:
        """Back to the initial state (silence before the first sample)."""

    def state(self) -> dict[str, Any]:
        """A copy of the carried state tensors (stream mode), keyed by graph input name."""
        return {spec.input: self._feed[spec.input].copy() for spec in self.model.contract.states}

    def restore(self, state: dict[str, Any]) -> None:
        """Set the carried state tensors (from :meth:`state`)."""
        for name in self._state_inputs:
            self._feed[name] = state[name].copy()

    @property
    def chunked(self) -> bool:
        """Whether one graph call advances many hops (see :meth:`step_chunk`)."""
        return self.model.contract.chunked

    def step(self, hop: Int16Array) -> Float32Array:
        """One hop of int16 PCM (``HOP_SAMPLES`` samples) -> ``[arousal, valence]`` float32."""
        if hop.shape != (HOP_SAMPLES,) or hop.dtype != np.int16:
            raise ValueError(f"expected {HOP_SAMPLES} int16 samples, got {hop.shape} {hop.dtype}")
        return self._step(hop)

    @abstractmethod
    def _step(self, hop: Int16Array) -> Float32Array:
        """One checked hop through the graph."""

    def step_chunk(self, hops: Int16Array) -> Float32Array:
        """``n`` hops (``[n, HOP_SAMPLES]`` int16) -> ``[n, 2]``: the readings, and the state,
        of ``n`` calls of :meth:`step`. A chunked model advances them in one graph call (the
        same nodes per hop, so the same numbers); a single-hop model is called ``n`` times."""
        if hops.ndim != 2 or hops.shape[1] != HOP_SAMPLES or hops.dtype != np.int16:
            raise ValueError(
                f"expected [n, {HOP_SAMPLES}] int16 hops, got {hops.shape} {hops.dtype}"
            )
        if not self.chunked:
            return np.stack([self.step(hop) for hop in hops]).astype(np.float32, copy=False)
        feed = self._feed
        feed[self._pcm_name] = hops.reshape(1, -1)
        outputs = self._run(self._outputs, feed)
        feed.update(zip(self._state_inputs, outputs[1:], strict=True))
        readings: Float32Array = outputs[0][0]  # [1, n, 2] -> [n, 2]
        return readings

    @abstractmethod
    def push(self, hop: Int16Array) -> None:
        """A hop the model does not run on (gated silence): a window keeps it, carried state
        does not advance."""


class StateStream(ModelStream):
    """Stream mode: the graph takes one hop and its state tensors, returns the next state."""

    def __init__(self, model: AffectModel) -> None:
        super().__init__(model)
        self.reset()

    def reset(self) -> None:
        for spec in self.model.contract.states:
            self._feed[spec.input] = np.zeros(spec.shape, dtype=_NUMPY_TYPES[spec.dtype])

    def _step(self, hop: Int16Array) -> Float32Array:
        feed = self._feed
        feed[self._pcm_name] = hop.reshape(1, HOP_SAMPLES)
        outputs = self._run(self._outputs, feed)
        feed.update(zip(self._state_inputs, outputs[1:], strict=True))
        # [1, 2] float32 -> [2]; a chunked graph gives [1, 1, 2]
        prediction: Float32Array = outputs[0].reshape(-1)
        return prediction

    def push(self, hop: Int16Array) -> None:
        return None


class WindowStream(ModelStream):
    """Window mode: the last W seconds of PCM, the graph re-run on what it has (fewer than W
    seconds at the start, so the first readings equal those of a stream that began at the
    same sample)."""

    def __init__(self, model: AffectModel) -> None:
        super().__init__(model)
        self._window = np.zeros(max(model.contract.window_samples, HOP_SAMPLES), dtype=np.int16)
        self._filled = 0
        self.reset()

    def reset(self) -> None:
        self._window[:] = 0
        self._filled = 0

    def push(self, hop: Int16Array) -> None:
        window = self._window
        size = window.shape[0]
        window[:-HOP_SAMPLES] = window[HOP_SAMPLES:]
        window[-HOP_SAMPLES:] = hop
        self._filled = min(self._filled + HOP_SAMPLES, size)

    def _step(self, hop: Int16Array) -> Float32Array:
        self.push(hop)
        window = self._window
        size = window.shape[0]
        pcm = window[size - self._filled :].reshape(1, self._filled)
        outputs = self._run([self._outputs[0]], {self._pcm_name: pcm})
        return np.asarray(outputs[0][0, -1], dtype=np.float32)


def _shape(value: Any) -> list[int | str | None]:
    return list(value) if value is not None else []


def check_graph(contract: Contract, session: ort.InferenceSession, origin: str) -> None:
    """The graph's inputs and outputs must be exactly those the contract names."""
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    problems: list[str] = []
    want_inputs = {contract.pcm_input: ("int16", _pcm_shape(contract))}
    want_outputs = {contract.output: ("float32", _output_shape(contract))}
    for spec in contract.states:
        want_inputs[spec.input] = (spec.dtype, list(spec.shape))
        want_outputs[spec.output] = (spec.dtype, list(spec.shape))
    for kind, have, want in (("input", inputs, want_inputs), ("output", outputs, want_outputs)):
        for name in sorted(set(have) - set(want)):
            problems.append(f"the graph has an {kind} {name!r} the contract does not name")
        for name, (dtype, shape) in want.items():
            if name not in have:
                problems.append(f"the contract names an {kind} {name!r} the graph lacks")
                continue
            got_type, got_shape = have[name].type, _shape(have[name].shape)
            if got_type != _ORT_TYPES.get(dtype):
                problems.append(
                    f"{kind} {name!r} is {got_type} in the graph, {dtype} in the contract"
                )
            if not _shape_matches(got_shape, shape):
                problems.append(
                    f"{kind} {name!r} has shape {got_shape} in the graph, {shape} in the contract"
                )
    if problems:
        raise ContractError(f"{origin}: contract mismatch: " + "; ".join(problems))


def _pcm_shape(contract: Contract) -> list[int | None]:
    single = contract.mode == "stream" and not contract.chunked
    return [1, contract.hop_samples] if single else [1, None]


def _output_shape(contract: Contract) -> list[int | None]:
    n = len(contract.labels)
    single = contract.mode == "stream" and not contract.chunked
    return [1, n] if single else [1, None, n]


def _shape_matches(graph: list[int | str | None], contract: list[int] | list[int | None]) -> bool:
    """``None`` in the contract accepts any dimension; a named graph dimension needs ``None``."""
    if len(graph) != len(contract):
        return False
    return all(want is None or got == want for got, want in zip(graph, contract, strict=True))


__all__ = ["AffectModel", "ContractError", "ModelStream", "check_graph", "session_options"]
