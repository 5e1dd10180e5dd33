"""The self-describing part of a log: its header, the format names and the errors.

The header (``LogHeader``) is JSON: the first line of a JSONL log, a ``%`` comment at the top
of an ARFF log (a CSV log carries none). :data:`LOG_FORMAT` is bumped on a breaking change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.errors import DataFormatError, EdgeAffectError
from edge_affect.stream.contract import PREFIX, Contract
from edge_affect.version import __version__

#: The ``format`` value of JSONL headers (and ARFF header comments); bumped on a breaking change.
LOG_FORMAT = "edge-affect-log/1"
#: Format names, and the file suffixes they are inferred from.
FORMATS = ("csv", "jsonl", "arff")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".arff": "arff"}
#: ``--out -``: the log goes to standard output (descriptor 1), written as it is.
STDOUT = Path("-")


class SinkError(EdgeAffectError):
    """A log cannot be opened, written or closed (the message names the file and OS reason)."""


def utc_now_iso() -> str:
    """The current UTC time as ISO-8601 with seconds, e.g. ``2025-01-31T12:00:00+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LogHeader:
    """What makes a log self-describing; every value must be JSON-able.

    ``source``: a description (``"USB Mic @ 48000 Hz"``, a file name) or a dict such as
    ``{"device": "USB Mic", "native_rate_hz": 48000}``;
    ``model``: see :func:`model_info`; ``settings``: gate, silence policy, VAD mode, ...;
    ``calibration``: ``{"seconds": S, "hops": N}`` for a run with ``--calibrate S`` (its rows
    then carry ``arousal_rel`` and ``valence_rel``), ``None`` otherwise (and absent in the JSON).
    """

    started: str
    source: str | dict[str, Any]
    model: dict[str, Any]
    edge_affect_version: str = __version__
    settings: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None

    @classmethod
    def now(
        cls,
        source: str | Mapping[str, Any],
        model: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None,
    ) -> LogHeader:
        """A header stamped with the current UTC time and this package's version."""
        described = source if isinstance(source, str) else dict(source)
        return cls(utc_now_iso(), described, dict(model), __version__, dict(settings or {}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "source": self.source,
            "model": self.model,
            "edge_affect_version": self.edge_affect_version,
            "settings": self.settings,
            **({} if self.calibration is None else {"calibration": self.calibration}),
        }


def model_info(file_name: str, contract: Contract) -> dict[str, Any]:
    """``{"file": file_name, "contract": {...}}`` for :attr:`LogHeader.model`.

    The contract is :meth:`Contract.to_metadata` without the ``edge_affect.`` prefix; values
    that are JSON objects, lists or ``null`` there are parsed, the others stay strings.
    """
    parsed: dict[str, Any] = {}
    for key, value in contract.to_metadata().items():
        name = key.removeprefix(PREFIX)
        parsed[name] = json.loads(value) if value[:1] in ("{", "[") or value == "null" else value
    return {"file": file_name, "contract": parsed}


def json_default(value: object) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable in a log header/summary")


def dumps(value: Any) -> str:
    return json.dumps(value, default=json_default)


def check_header(header: Any, source: str) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("type") != "header":
        raise DataFormatError(f"{source}: expected the edge-affect log header")
    if header.get("format") != LOG_FORMAT:
        raise DataFormatError(
            f"{source}: log format {header.get('format')!r}, this version reads {LOG_FORMAT!r}"
        )
    return header


def infer_format(path: Path, fmt: str | None = None) -> str:
    """``fmt`` checked, or the format named by ``path``'s suffix; :class:`SinkError` otherwise."""
    if fmt is not None:
        name = fmt.lower().lstrip(".")
        if name not in FORMATS:
            raise SinkError(f"unknown log format {fmt!r} (expected {', '.join(FORMATS)})")
        return name
    suffix = path.suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise SinkError(
            f"{path}: cannot tell the log format from the suffix {suffix or '(none)'!r}; "
            f"use {', '.join(SUFFIX_FORMATS)} or name the format"
        )
    return SUFFIX_FORMATS[suffix]
