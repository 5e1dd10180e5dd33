"""Plain-text layout shared by the corpus descriptions (``edge-affect data describe``)."""

from __future__ import annotations


def section(title: str, rows: list[tuple[str, str]]) -> list[str]:
    """``title``, then one indented ``key  value`` line per row (keys padded), then a blank."""
    width = max((len(k) for k, _ in rows), default=0)
    return [title, *(f"  {k.ljust(width)}  {v}" for k, v in rows), ""]
