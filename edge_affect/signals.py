"""SIGTERM and SIGHUP stop a run the way Ctrl-C does.

A service manager stops a process with SIGTERM (systemd, docker, ``kill``) and a closed
terminal sends SIGHUP. :func:`install` makes both, and SIGINT, raise :class:`StopRequested` (a
``KeyboardInterrupt``) in the main thread, so every command has one way to stop: a run stops
between hops, closes its log (fsync'ed), prints the summary and exits 0; during start-up the
command exits 128 + the signal number with one line. Only the first signal raises: once a
stop is under way, or a run's stream has ended, further signals are counted and ignored for the
rest of the command, so a second Ctrl-C cannot cut the summary or the log's last lines short
(closing is bounded; see ``MicSource.close``).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequested(KeyboardInterrupt):
    """A stop signal arrived; ``signal_name`` says which (``SIGTERM``...)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class _State:
    armed = True
    ignored = 0
    fired: str | None = None  # the signal that raised StopRequested


_state = _State()


def _handler(number: int, frame: FrameType | None) -> None:
    if not _state.armed:
        _state.ignored += 1
        return
    _state.armed = False
    _state.fired = signal.Signals(number).name
    raise StopRequested(_state.fired)


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP to :class:`StopRequested` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    _state.armed = True
    for number in STOP_SIGNALS:
        signal.signal(number, _handler)


def hold() -> None:
    """From now on stop signals are ignored: the run is already shutting down cleanly."""
    _state.armed = False


def fired() -> str | None:
    """The stop signal this process received (``SIGTERM``...), or None."""
    return _state.fired


def signal_name(interrupt: KeyboardInterrupt) -> str:
    """The signal behind ``interrupt`` (a plain ``KeyboardInterrupt`` is SIGINT)."""
    return interrupt.signal_name if isinstance(interrupt, StopRequested) else "SIGINT"
