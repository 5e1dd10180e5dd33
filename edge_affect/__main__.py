"""``python -m edge_affect`` and the ``edge-affect`` console script.

Stop signals are routed before the command line is imported, so Ctrl-C (or SIGTERM) in the
first moments of start-up ends with one line and exit status 128 + the signal number, never a
traceback; names that are not valid UTF-8 print with ``\\xNN`` escapes instead of failing.
"""

from __future__ import annotations

import signal
import sys

from edge_affect import signals


def entry() -> None:
    signals.install()
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        from edge_affect.cli import main  # noqa: PLC0415 - after the handlers, on purpose
    except (KeyboardInterrupt, ImportError):
        # an interrupt inside a compiled module's initialisation becomes an ImportError
        name = signals.fired()
        if name is None:
            raise
        print(f"interrupted ({name}) during start-up", file=sys.stderr)
        sys.exit(128 + signal.Signals[name].value)
    main()


if __name__ == "__main__":
    entry()
