"""edge-affect: streaming audio arousal/valence recognition for the edge.

The runtime package. It depends on numpy, onnxruntime, sounddevice, webrtcvad,
soundfile, soxr and typer only; training (``edge_affect_train``) and export
(``edge_affect_export``) live in sibling packages that import this one, never the other way
round.

The names below are the library's public API. They load on first use (PEP 562), so
``import edge_affect`` (and the command line's start-up, which imports
``edge_affect.signals`` first) stays cheap: onnxruntime loads with :class:`AffectModel`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge_affect.version import __version__

__all__ = [
    "AffectModel",
    "ContractError",
    "DataFormatError",
    "DeviceError",
    "EdgeAffectError",
    "FileSink",
    "FileSource",
    "LogHeader",
    "LogTable",
    "MissingDataError",
    "ModelStream",
    "Pipeline",
    "PipelineSettings",
    "Reading",
    "Sink",
    "SinkError",
    "ToolMissingError",
    "__version__",
    "open_sink",
    "read_log",
]

if TYPE_CHECKING:
    from edge_affect.errors import (
        DataFormatError,
        EdgeAffectError,
        MissingDataError,
        ToolMissingError,
    )
    from edge_affect.logs.header import LogHeader, SinkError
    from edge_affect.logs.reader import LogTable, read_log
    from edge_affect.logs.writer import FileSink, Sink, open_sink
    from edge_affect.stream.contract import ContractError
    from edge_affect.stream.model import AffectModel, ModelStream
    from edge_affect.stream.pipeline import Pipeline, PipelineSettings
    from edge_affect.stream.reading import Reading
    from edge_affect.stream.sources import DeviceError, FileSource


def _errors() -> dict[str, Any]:
    from edge_affect.errors import (  # noqa: PLC0415
        DataFormatError,
        EdgeAffectError,
        MissingDataError,
        ToolMissingError,
    )

    return {
        "DataFormatError": DataFormatError,
        "EdgeAffectError": EdgeAffectError,
        "MissingDataError": MissingDataError,
        "ToolMissingError": ToolMissingError,
    }


def _stream() -> dict[str, Any]:
    from edge_affect.stream.contract import ContractError  # noqa: PLC0415
    from edge_affect.stream.model import AffectModel, ModelStream  # noqa: PLC0415
    from edge_affect.stream.pipeline import Pipeline, PipelineSettings  # noqa: PLC0415
    from edge_affect.stream.reading import Reading  # noqa: PLC0415
    from edge_affect.stream.sources import DeviceError, FileSource  # noqa: PLC0415

    return {
        "AffectModel": AffectModel,
        "ContractError": ContractError,
        "DeviceError": DeviceError,
        "FileSource": FileSource,
        "ModelStream": ModelStream,
        "Pipeline": Pipeline,
        "PipelineSettings": PipelineSettings,
        "Reading": Reading,
    }


def _logs() -> dict[str, Any]:
    from edge_affect.logs.header import LogHeader, SinkError  # noqa: PLC0415
    from edge_affect.logs.reader import LogTable, read_log  # noqa: PLC0415
    from edge_affect.logs.writer import FileSink, Sink, open_sink  # noqa: PLC0415

    return {
        "FileSink": FileSink,
        "LogHeader": LogHeader,
        "LogTable": LogTable,
        "Sink": Sink,
        "SinkError": SinkError,
        "open_sink": open_sink,
        "read_log": read_log,
    }


_GROUPS = (
    (_errors, ("DataFormatError", "EdgeAffectError", "MissingDataError", "ToolMissingError")),
    (
        _stream,
        (
            "AffectModel",
            "ContractError",
            "DeviceError",
            "FileSource",
            "ModelStream",
            "Pipeline",
            "PipelineSettings",
            "Reading",
        ),
    ),
    (_logs, ("FileSink", "LogHeader", "LogTable", "Sink", "SinkError", "open_sink", "read_log")),
)


def __getattr__(name: str) -> Any:
    for load, names in _GROUPS:
        if name in names:
            value = load()[name]
            globals()[name] = value  # the next lookup is a plain attribute
            return value
    raise AttributeError(f"module 'edge_affect' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
