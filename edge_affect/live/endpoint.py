"""``HOST:PORT`` and ``[HOST:]PORT`` arguments of the live outputs."""

from __future__ import annotations

from dataclasses import dataclass

from edge_affect.errors import EdgeAffectError

LOOPBACK = "127.0.0.1"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return self.host in _LOOPBACK_NAMES or self.host.startswith("127.")

    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def __str__(self) -> str:
        return f"{self.url_host()}:{self.port}"


def parse_endpoint(text: str, option: str, *, default_host: str | None = None) -> Endpoint:
    """``host:port``, ``[v6 address]:port``, or (with ``default_host``) a bare ``port``."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        if default_host is None:
            raise EdgeAffectError(f"{option} {text}: expected HOST:PORT")
        host = default_host
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or (":" in host and not text.strip().startswith("[")):
        raise EdgeAffectError(f"{option} {text}: expected HOST:PORT (IPv6 as [ADDRESS]:PORT)")
    try:
        port = int(port_text)
    except ValueError:
        raise EdgeAffectError(f"{option} {text}: the port must be a number") from None
    if not 0 <= port <= 65535:
        raise EdgeAffectError(f"{option} {text}: the port must be between 0 and 65535")
    return Endpoint(host, port)
