"""The one exception type the library raises for problems a user can fix.

The CLI turns an :class:`EdgeAffectError` into a one-line message and a non-zero
exit code; anything else is a bug and keeps its traceback.
"""


class EdgeAffectError(Exception):
    """A user-facing error: bad input, a missing file, a contract mismatch."""

    exit_code: int = 2


class DataFormatError(EdgeAffectError):
    """A file exists but its content does not follow the expected format."""


class MissingDataError(EdgeAffectError):
    """A file or folder the operation needs is absent."""


class ToolMissingError(EdgeAffectError):
    """An external program or an optional extra the command needs is not installed."""

    exit_code = 3
