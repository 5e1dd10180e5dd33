"""File formats shared by the device and the host: AVEC 2016 ARFF and rater CSV."""

from edge_affect.formats.arff import (
    FrameTable,
    format_arff,
    gold_standard_table,
    parse_arff,
    read_arff,
    read_gold_standard,
    write_arff,
)
from edge_affect.formats.raters import Ratings, read_ratings, write_ratings

__all__ = [
    "FrameTable",
    "Ratings",
    "format_arff",
    "gold_standard_table",
    "parse_arff",
    "read_arff",
    "read_gold_standard",
    "read_ratings",
    "write_arff",
    "write_ratings",
]
