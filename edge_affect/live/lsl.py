"""``--lsl [NAME]``: the readings as a Lab Streaming Layer outlet (extra ``[lsl]``: pylsl).

One outlet of type ``Affect`` with three float32 channels, ``arousal``, ``valence`` and
``speech`` (the VAD gate's 0/1), at a nominal 25 Hz. Its ``source_id`` is built from the
model file, the host name and the input (device or file), so a recorder that loses the stream
(a restart, a network glitch) finds the same stream again. The description XML carries the
channel labels and units, the model file and its contract, the input, the settings and this
package's version.

Time stamps are in LSL's clock (``pylsl.local_clock()``), back-dated to when the hop's last
sample was captured: the reading's ``capture_time`` (a microphone's ADC time; for a file, the
pipeline's time from the stream's start) carried over from ``time.monotonic()`` with the
offset between the two clocks measured at open. Never Unix time: LabRecorder synchronises
streams by their LSL clocks.

pylsl's x86-64 and macOS wheels bundle liblsl; its aarch64 (Raspberry Pi) wheel does not, and
a missing liblsl is reported as a :class:`ToolMissingError` that says what to install.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from edge_affect.audio import LABEL_RATE_HZ
from edge_affect.errors import EdgeAffectError, ToolMissingError
from edge_affect.live import RunInfo
from edge_affect.stream.reading import Reading

STREAM_TYPE = "Affect"
CHANNELS = (
    # label, unit, meaning
    ("arousal", "AVEC scale [-1, 1]", "predicted arousal (RECOLA / AVEC 2016 scale)"),
    ("valence", "AVEC scale [-1, 1]", "predicted valence (RECOLA / AVEC 2016 scale)"),
    ("speech", "boolean (0 or 1)", "the VAD gate's decision for this 40 ms hop"),
)
CLOSE_LINGER_S = 0.3  # liblsl sends asynchronously; an outlet dropped at once can lose the tail
LIBLSL_HINT = (
    "pylsl's aarch64 and 32-bit ARM wheels do not bundle liblsl: install it (the liblsl "
    "package for your OS from the liblsl releases, e.g. liblsl-1.16.2-bookworm_arm64.deb, "
    "or `conda install -c conda-forge liblsl`) or point PYLSL_LIB at liblsl.so"
)


def _pylsl() -> Any:
    try:
        import pylsl  # noqa: PLC0415 - optional extra, loaded only for --lsl
    except ImportError:
        raise ToolMissingError("--lsl needs pylsl: pip install 'edge-affect[lsl]'") from None
    except RuntimeError as error:  # pylsl raises this when it cannot load liblsl
        first = str(error).strip().splitlines()[0] if str(error).strip() else "not found"
        raise ToolMissingError(
            f"--lsl: liblsl could not be loaded ({first}); {LIBLSL_HINT}"
        ) from None
    return pylsl


def source_id(info: RunInfo) -> str:
    """Stable across runs of the same model on the same host and input."""
    return f"edge-affect:{info.model.get('file', '?')}@{socket.gethostname()}:{info.source}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def describe(stream_info: Any, info: RunInfo) -> None:
    """Fill the stream's description XML (channels, model, contract, settings)."""
    desc = stream_info.desc()
    channels = desc.append_child("channels")
    for label, unit, meaning in CHANNELS:
        channel = channels.append_child("channel")
        channel.append_child_value("label", label)
        channel.append_child_value("unit", unit)
        channel.append_child_value("type", label.capitalize())
        channel.append_child_value("description", meaning)
    acquisition = desc.append_child("acquisition")
    acquisition.append_child_value("manufacturer", "edge-affect")
    acquisition.append_child_value("software_version", info.version)
    desc.append_child_value("source", info.source)
    desc.append_child_value("started_utc", info.started)
    desc.append_child_value("hop_ms", "40")
    desc.append_child_value("timestamps", "LSL clock when the hop's last sample was captured")
    model = desc.append_child("model")
    model.append_child_value("file", str(info.model.get("file", "")))
    contract = model.append_child("contract")
    for key, value in dict(info.model.get("contract", {})).items():
        contract.append_child_value(key, _text(value))
    settings = desc.append_child("settings")
    for key, value in info.settings.items():
        settings.append_child_value(key, _text(value))


class LslOutlet:
    """Pushes one sample per reading, stamped with its capture time in LSL's clock."""

    def __init__(
        self,
        name: str,
        info: RunInfo,
        announce: Callable[[str], None] = print,
        wait_s: float = 0.0,
    ) -> None:
        pylsl = _pylsl()
        if not name.strip():
            raise EdgeAffectError("--lsl: the stream name is empty")
        stream_info = pylsl.StreamInfo(
            name, STREAM_TYPE, len(CHANNELS), LABEL_RATE_HZ, pylsl.cf_float32, source_id(info)
        )
        describe(stream_info, info)
        self.outlet: Any = pylsl.StreamOutlet(stream_info)
        self._local_clock = pylsl.local_clock
        # LSL's clock minus time.monotonic(): constant (both steady), measured once
        self.offset_s: float = pylsl.local_clock() - time.monotonic()
        self.name = name
        self.pushed = 0
        announce(
            f"lsl: outlet {name!r} (type {STREAM_TYPE}, arousal/valence/speech at "
            f"{LABEL_RATE_HZ} Hz, source_id {stream_info.source_id()!r})"
        )
        if wait_s > 0:
            announce(f"lsl: waiting up to {wait_s:g} s for a consumer (e.g. LabRecorder)")
            found = self.outlet.wait_for_consumers(wait_s)
            announce("lsl: consumer connected" if found else "lsl: no consumer; streaming anyway")

    def timestamp(self, reading: Reading) -> float:
        if reading.capture_time is None:
            return float(self._local_clock())
        return float(reading.capture_time + self.offset_s)

    def write(self, reading: Reading) -> None:
        if self.outlet is None:
            raise ValueError("write to a closed LSL outlet")
        sample = [reading.arousal, reading.valence, 1.0 if reading.speech else 0.0]
        self.outlet.push_sample(sample, self.timestamp(reading))
        self.pushed += 1

    def close(self, summary: Mapping[str, Any] | None = None) -> None:
        """Give connected inlets a moment to take the last samples, then drop the outlet."""
        if self.outlet is None:
            return
        if self.outlet.have_consumers():
            time.sleep(CLOSE_LINGER_S)
        self.outlet = None  # liblsl closes the outlet with its last reference

    def status(self) -> str:
        return f"lsl: {self.pushed} samples pushed to {self.name!r}"
