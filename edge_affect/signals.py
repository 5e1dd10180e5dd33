"""SIGTERM and SIGHUP stop a run the way Ctrl-C does.

A service manager stops a process with SIGTERM (systemd, docker, ``kill``) and a closed
terminal sends SIGHUP. :func:`install` makes both, and SIGINT, raise :class:`StopRequested` (a
``KeyboardInterrupt``) in the main thread, so every command has one way to stop: a run stops
between hops, closes its log (fsync'ed), prints the summary and exits 0; during start-up the
command exits 128 + the signal number with one line. Only the first signal raises: once a
stop is under way, or a run's stream has ended, further signals are counted and ignored for the
rest of the command, so a second Ctrl-C cannot cut the summary or the log's last lines short
(closing is bounded; see ``MicSource.close``).

Python runs a signal handler between any two bytecodes, also inside code whose exceptions it
drops and prints as "Exception ignored in ..." (a weakref callback such as the import system's
module-lock clean-up, a ``__del__``). A stop raised there would be lost and the command would
go on running. :func:`install` therefore also wraps ``sys.unraisablehook``: a dropped
:class:`StopRequested` is not printed; the handler is re-armed and the same signal is sent again
from a short-lived thread, so that it lands at the main thread's next safe point (should it land
while the hook itself still runs, the handler sees the hook on the stack and sends it again).
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

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
    if _in_hook(frame):  # an exception raised here would be dropped: send the signal again
        _send_later(number)
        return
    _state.armed = False
    _state.fired = signal.Signals(number).name
    raise StopRequested(_state.fired)


def _send_later(number: int) -> None:
    # a bare thread: ``threading.Thread.start`` waits in Python code, where the signal could
    # land before this function returns
    _thread.start_new_thread(os.kill, (os.getpid(), number))


def _unraisable_hook(unraisable: Any) -> None:
    stop = unraisable.exc_value
    if not isinstance(stop, StopRequested) or sys.is_finalizing():
        _previous_hook(unraisable)
        return
    _state.armed = True
    _state.fired = None
    _send_later(signal.Signals[stop.signal_name].value)


_previous_hook = sys.unraisablehook
_HOOK_CODES = frozenset({_unraisable_hook.__code__, _send_later.__code__})


def _in_hook(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code in _HOOK_CODES:
            return True
        frame = frame.f_back
    return False


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP to :class:`StopRequested` (main thread only)."""
    global _previous_hook  # noqa: PLW0603 - the hook this module replaced, kept once
    if threading.current_thread() is not threading.main_thread():
        return
    _state.armed = True
    if sys.unraisablehook is not _unraisable_hook:
        _previous_hook = sys.unraisablehook
        sys.unraisablehook = _unraisable_hook
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
