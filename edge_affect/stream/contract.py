"""The contract an exported model carries in its ONNX ``metadata_props``.

Every key is prefixed ``edge_affect.``; values are strings (JSON where structured). The
export writes it (:meth:`Contract.to_metadata`), the runtime reads it back
(:meth:`Contract.from_metadata`) and checks it against its own constants and against the
graph's real inputs and outputs (:mod:`edge_affect.stream.model`), refusing a mismatch with a
message that names what differs. ``edge-affect info MODEL`` prints it.

Version 1 keys (all required unless marked):

=====================  ==========================================================
``contract``           ``1``
``sample_rate``        ``16000`` (Hz at the model boundary)
``hop_samples``        ``640`` (one reading per hop)
``mode``               ``stream`` (carried state) or ``window`` (re-run on the last W s)
``window_samples``     W in samples (window mode; ``0`` in stream mode)
``pcm_input``          name of the int16 PCM input; ``pcm_dtype`` = ``int16``
``output``             name of the ``[1, 2]`` (stream) / ``[1, n, 2]`` (window) output
``labels``             ``arousal,valence`` (output order)
``states``             JSON list of ``{input, output, shape, dtype}`` (stream mode)
``chunked``            ``true``: a stream graph whose PCM input takes any whole number of
                       hops per call (``[1, 640 n]`` in, ``[1, n, 2]`` out, the states
                       advanced by n hops); ``false`` or absent: one hop per call
                       (``[1, 640]`` in, ``[1, 2]`` out). Optional: older files are single-hop
``precision``          ``fp32``, ``int8-dynamic`` or ``int8-static``
``quantization``       JSON: the int8 scheme (activation and weight types, granularity,
                       reduce_range, calibration, quantized ops); ``null`` for fp32.
                       Optional: files exported before it was recorded read as unknown
``frontend``           JSON of the in-graph log-mel settings
``model``              JSON: encoder kind, sizes, parameter count
``training``           JSON: corpus, transfer method, training options
``dev_ccc``            JSON ``{arousal, valence}`` on the dev split, with its ``source``
``created``            UTC ISO-8601 time of export; ``source_commit``: git commit or ``unknown``
=====================  ==========================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from edge_affect.audio import HOP_SAMPLES, LABEL_NAMES, SAMPLE_RATE
from edge_affect.errors import DataFormatError

CONTRACT_VERSION = 1
PREFIX = "edge_affect."
#: The longest window a window-mode model may ask for (re-run every hop; 60 s is already slow).
MAX_WINDOW_S = 60
Mode = Literal["stream", "window"]
MODES: tuple[Mode, ...] = ("stream", "window")
PRECISIONS = ("fp32", "int8-dynamic", "int8-static")


class ContractError(DataFormatError):
    """A model whose contract is missing, malformed or does not match this runtime or graph."""


@dataclass(frozen=True)
class StateSpec:
    """One carried state tensor: fed as ``input``, returned as ``output``."""

    input: str
    output: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "shape": list(self.shape),
            "dtype": self.dtype,
        }


@dataclass(frozen=True)
class Contract:
    mode: Mode
    precision: str
    window_samples: int = 0
    states: tuple[StateSpec, ...] = ()
    pcm_input: str = "pcm"
    output: str = "affect"
    sample_rate: int = SAMPLE_RATE
    hop_samples: int = HOP_SAMPLES
    labels: tuple[str, ...] = LABEL_NAMES
    pcm_dtype: str = "int16"
    version: int = CONTRACT_VERSION
    frontend: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    dev_ccc: dict[str, Any] | None = None
    quantization: dict[str, Any] | None = None
    chunked: bool = False
    created: str = ""
    source_commit: str = "unknown"

    @property
    def window_s(self) -> float:
        return self.window_samples / self.sample_rate

    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` entries, every value a string."""
        plain = {
            "contract": str(self.version),
            "sample_rate": str(self.sample_rate),
            "hop_samples": str(self.hop_samples),
            "mode": self.mode,
            "window_samples": str(self.window_samples),
            "pcm_input": self.pcm_input,
            "pcm_dtype": self.pcm_dtype,
            "output": self.output,
            "labels": ",".join(self.labels),
            "precision": self.precision,
            "chunked": "true" if self.chunked else "false",
            "created": self.created,
            "source_commit": self.source_commit,
        }
        structured = {
            "states": [s.to_dict() for s in self.states],
            "frontend": self.frontend,
            "model": self.model,
            "training": self.training,
            "dev_ccc": self.dev_ccc,
            "quantization": self.quantization,
        }
        return {
            **{PREFIX + k: v for k, v in plain.items()},
            **{PREFIX + k: json.dumps(v, sort_keys=True) for k, v in structured.items()},
        }

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], origin: str) -> Contract:
        """Parse ``metadata_props``; a missing or malformed key raises :class:`ContractError`."""
        reader = _Reader(props, origin)
        version = reader.integer("contract")
        if version != CONTRACT_VERSION:
            raise ContractError(
                f"{origin}: contract version {version}, this runtime reads version "
                f"{CONTRACT_VERSION}; re-export the model with this edge-affect"
            )
        mode = reader.text("mode")
        if mode not in MODES:
            raise ContractError(f"{origin}: unknown mode {mode!r} (expected stream or window)")
        return cls(
            mode=mode,
            precision=reader.text("precision"),
            window_samples=reader.integer("window_samples"),
            states=tuple(_state(s, origin) for s in reader.json_list("states")),
            pcm_input=reader.text("pcm_input"),
            output=reader.text("output"),
            sample_rate=reader.integer("sample_rate"),
            hop_samples=reader.integer("hop_samples"),
            labels=tuple(reader.text("labels").split(",")),
            pcm_dtype=reader.text("pcm_dtype"),
            version=version,
            frontend=reader.json_dict("frontend"),
            model=reader.json_dict("model"),
            training=reader.json_dict("training"),
            dev_ccc=reader.json_optional_dict("dev_ccc"),
            quantization=reader.json_optional_dict("quantization", missing_ok=True),
            chunked=reader.flag("chunked"),
            created=reader.text("created"),
            source_commit=reader.text("source_commit"),
        )

    def check_runtime(self, origin: str) -> None:
        """Refuse a contract this runtime cannot serve, naming each difference."""
        expected: list[tuple[str, object, object]] = [
            ("sample_rate", self.sample_rate, SAMPLE_RATE),
            ("hop_samples", self.hop_samples, HOP_SAMPLES),
            ("labels", ",".join(self.labels), ",".join(LABEL_NAMES)),
            ("pcm_dtype", self.pcm_dtype, "int16"),
        ]
        differences = [
            f"{key} is {got} in the model, {want} in this runtime"
            for key, got, want in expected
            if got != want
        ]
        if self.mode == "window" and (
            self.window_samples <= 0 or self.window_samples % self.hop_samples
        ):
            differences.append(
                f"window_samples {self.window_samples} is not a positive number of "
                f"{self.hop_samples}-sample hops"
            )
        if self.mode == "window" and self.window_samples > MAX_WINDOW_S * SAMPLE_RATE:
            differences.append(
                f"window_samples {self.window_samples} is longer than the {MAX_WINDOW_S} s "
                "this runtime re-runs per hop"
            )
        if self.chunked and self.mode != "stream":
            differences.append("a window-mode model cannot be chunked")
        if self.mode == "stream" and not self.states:
            differences.append("a stream-mode model declares no state tensors")
        if differences:
            raise ContractError(f"{origin}: contract mismatch: " + "; ".join(differences))

    def summary(self) -> list[tuple[str, str]]:
        """Human-readable ``(field, value)`` rows for ``edge-affect info``."""
        rows = [
            ("contract", str(self.version)),
            ("mode", self.mode + (f" (window {self.window_s:g} s)" if self.window_samples else "")),
            ("precision", self.precision),
            *self._quantization_rows(),
            ("hops per call", "any (chunked)" if self.chunked else "1"),
            (
                "input",
                f"{self.pcm_input}: {self.pcm_dtype} PCM, {self.sample_rate} Hz mono, "
                f"{self.hop_samples} samples per hop",
            ),
            ("output", f"{self.output}: {', '.join(self.labels)}"),
        ]
        rows += [
            ("state", f"{s.input} -> {s.output} {list(s.shape)} {s.dtype}") for s in self.states
        ]
        if self.model:
            rows.append(("model", ", ".join(f"{k} {v}" for k, v in self.model.items())))
        if self.frontend:
            rows.append(("frontend", ", ".join(f"{k} {v}" for k, v in self.frontend.items())))
        corpus = self.training.get("corpus", {})
        if isinstance(corpus, dict) and corpus:
            rows.append(("trained on", f"{corpus.get('name')} ({corpus.get('kind')})"))
        method = self.training.get("method")
        if method:
            rows.append(("method", str(method)))
        if self.dev_ccc:
            rows.append(
                (
                    "dev CCC",
                    ", ".join(
                        f"{k} {self.dev_ccc[k]:.3f}" for k in self.labels if k in self.dev_ccc
                    )
                    + f" ({self.dev_ccc.get('source', 'unknown')})",
                )
            )
        rows += [("created", self.created), ("source commit", self.source_commit)]
        return rows

    def _quantization_rows(self) -> list[tuple[str, str]]:
        if self.precision == "fp32":
            return []
        q = self.quantization
        if not q:
            return [("int8 scheme", "not recorded (exported before schemes were recorded)")]
        text = (
            f"{q.get('scheme')}: {q.get('activations')} activations x {q.get('weights')} "
            f"weights, {q.get('granularity')}, reduce_range {q.get('reduce_range')}, "
            f"{q.get('calibration')}"
        )
        return [("int8 scheme", text)]


class _Reader:
    def __init__(self, props: Mapping[str, str], origin: str) -> None:
        self.props = props
        self.origin = origin

    def text(self, key: str) -> str:
        value = self.props.get(PREFIX + key)
        if value is None:
            if not any(k.startswith(PREFIX) for k in self.props):
                raise ContractError(
                    f"{self.origin}: no edge-affect contract in the model metadata "
                    "(export it with `edge-affect export`)"
                )
            raise ContractError(f"{self.origin}: contract key {PREFIX + key!r} is missing")
        return value

    def integer(self, key: str) -> int:
        value = self.text(key)
        try:
            return int(value)
        except ValueError:
            raise ContractError(
                f"{self.origin}: contract key {PREFIX + key!r} is {value!r}, not an integer"
            ) from None

    def flag(self, key: str) -> bool:
        """An optional ``true``/``false`` key; absent reads as ``false``."""
        if PREFIX + key not in self.props:
            return False
        value = self.text(key)
        if value not in ("true", "false"):
            raise ContractError(
                f"{self.origin}: contract key {PREFIX + key!r} is {value!r}, not true or false"
            )
        return value == "true"

    def _json(self, key: str) -> Any:
        value = self.text(key)
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ContractError(
                f"{self.origin}: contract key {PREFIX + key!r} is not valid JSON"
            ) from None

    def json_list(self, key: str) -> list[Any]:
        value = self._json(key)
        if not isinstance(value, list):
            raise ContractError(f"{self.origin}: contract key {PREFIX + key!r} is not a list")
        return value

    def json_dict(self, key: str) -> dict[str, Any]:
        value = self._json(key)
        if not isinstance(value, dict):
            raise ContractError(f"{self.origin}: contract key {PREFIX + key!r} is not an object")
        return value

    def json_optional_dict(self, key: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        if missing_ok and PREFIX + key not in self.props:
            return None
        value = self._json(key)
        if value is not None and not isinstance(value, dict):
            raise ContractError(f"{self.origin}: contract key {PREFIX + key!r} is not an object")
        return value


def _state(raw: Any, origin: str) -> StateSpec:
    try:
        return StateSpec(
            input=str(raw["input"]),
            output=str(raw["output"]),
            shape=tuple(int(d) for d in raw["shape"]),
            dtype=str(raw.get("dtype", "float32")),
        )
    except (KeyError, TypeError, ValueError):
        raise ContractError(f"{origin}: malformed state entry {raw!r} in the contract") from None
