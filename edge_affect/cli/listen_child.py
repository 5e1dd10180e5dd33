"""The ``listen``-equivalent process of ``edge-affect bench``, with the command line's share.

``python -m edge_affect.cli.listen_child MODEL AUDIO SECONDS LOG [...]`` (the arguments of
:mod:`edge_affect.bench.child`) first imports the command line and parses ``listen --quiet``
as ``edge-affect listen`` does, without running it: typer builds its parameter coercion
there, which imports pydantic (about 12 MB on this project's machines). Then it is
:mod:`edge_affect.bench.child`, so its RSS figures are those of a real ``listen``.
"""

from __future__ import annotations

import sys

import typer.main

from edge_affect.bench import child
from edge_affect.cli import app


def parse_listen_options() -> None:
    """Parse ``edge-affect listen --quiet`` with the real app, running nothing."""
    command = typer.main.get_command(app)
    with command.make_context("edge-affect", ["listen", "--quiet"], resilient_parsing=True) as ctx:
        listen = ctx.command.get_command(ctx, "listen")  # type: ignore[attr-defined]
        if listen is None:
            raise RuntimeError("the app has no listen command")
        listen.make_context("listen", ["--quiet"], parent=ctx)


if __name__ == "__main__":
    parse_listen_options()
    child.main(sys.argv[1:])
