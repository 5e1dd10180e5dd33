"""``--osc HOST:PORT``: one OSC message per reading over UDP (extra ``[osc]``: python-osc).

Address space (``PREFIX`` is ``--osc-prefix``, default ``/edge-affect``):

``PREFIX/reading  i f f i``
    every 40 ms: stream time in milliseconds (int32: exact on the 40 ms grid), arousal,
    valence (float32), speech (int32, 0 or 1).
``PREFIX/end  i f``
    once, when the stream ends: the number of readings and the speech share (0..1).

Only OSC 1.0's required types (``i``, ``f``) are used, so every receiver parses them. UDP
does not wait for a receiver: a missing one costs nothing, a failed send is counted
(:attr:`OscSender.send_errors`) and never stops the run.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping
from typing import Any

from edge_affect.audio import HOP_MS
from edge_affect.errors import EdgeAffectError, ToolMissingError
from edge_affect.live.endpoint import Endpoint
from edge_affect.stream.reading import Reading

#: OSC address characters: printable ASCII without space and the pattern characters # * , ? [ ] { }
_ADDRESS = re.compile(r"^/[!-~]+$")
_PATTERN_CHARS = set("#*,?[]{} ")


def check_prefix(prefix: str) -> str:
    """``/a/b`` (no trailing ``/``, no OSC pattern characters); :class:`EdgeAffectError` else."""
    cleaned = prefix.rstrip("/")
    if not cleaned.startswith("/") or not _ADDRESS.match(cleaned) or "//" in cleaned:
        raise EdgeAffectError(f"--osc-prefix {prefix!r}: expected an OSC address like /edge-affect")
    if _PATTERN_CHARS & set(cleaned):
        raise EdgeAffectError(f"--osc-prefix {prefix!r}: no spaces or any of # * , ? [ ] {{ }}")
    return cleaned


def _builder() -> Any:
    try:
        from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: PLC0415
    except ImportError:
        raise ToolMissingError("--osc needs python-osc: pip install 'edge-affect[osc]'") from None
    return OscMessageBuilder


class OscSender:
    """Sends ``PREFIX/reading`` per reading and ``PREFIX/end`` at close to one UDP endpoint."""

    def __init__(
        self,
        endpoint: Endpoint,
        prefix: str = "/edge-affect",
        announce: Callable[[str], None] = print,
    ) -> None:
        self._builder = _builder()
        self.prefix = check_prefix(prefix)
        if endpoint.port == 0:
            raise EdgeAffectError(f"--osc {endpoint}: port 0 cannot receive")
        try:
            family, _, _, _, address = socket.getaddrinfo(
                endpoint.host, endpoint.port, type=socket.SOCK_DGRAM
            )[0]
        except OSError as error:
            raise EdgeAffectError(f"--osc {endpoint}: cannot resolve the host ({error})") from None
        self.address = address
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self.readings = 0
        self.sent = 0  # datagrams handed to the OS
        self.send_errors = 0
        self._speech = 0
        self.endpoint = endpoint
        announce(f"osc: {self.prefix}/reading to {endpoint} (UDP)")

    def _send(self, name: str, args: list[tuple[int | float, str]]) -> None:
        builder = self._builder(f"{self.prefix}/{name}")
        for value, tag in args:
            builder.add_arg(value, tag)
        try:
            self._socket.sendto(builder.build().dgram, self.address)
            self.sent += 1
        except OSError:
            self.send_errors += 1

    def write(self, reading: Reading) -> None:
        self.readings += 1
        self._speech += reading.speech
        self._send(
            "reading",
            [
                (reading.index * HOP_MS, "i"),
                (float(reading.arousal), "f"),
                (float(reading.valence), "f"),
                (int(reading.speech), "i"),
            ],
        )

    def close(self, summary: Mapping[str, Any] | None = None) -> None:
        if self._socket.fileno() < 0:
            return
        share = self._speech / self.readings if self.readings else 0.0
        self._send("end", [(self.readings, "i"), (share, "f")])
        self._socket.close()

    def status(self) -> str:
        return f"osc: {self.sent} messages sent to {self.endpoint}, {self.send_errors} failed"
