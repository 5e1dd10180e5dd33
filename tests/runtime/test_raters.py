from pathlib import Path

import numpy as np
import pytest

from edge_affect.errors import DataFormatError
from edge_affect.formats.raters import format_ratings, parse_ratings, read_ratings, write_ratings
from edge_affect.formats.timegrid import frame_times

RECOLA_NAMES = ("FM1 ", "FM2 ", "FM3 ", "FF1 ", "FF2 ", "FF3 ")


def test_round_trip_strips_the_trailing_spaces_of_rater_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = np.round(rng.uniform(-1, 1, (30, 6)), 6)
    path = tmp_path / "arousal" / "train_1.csv"
    write_ratings(path, frame_times(30), RECOLA_NAMES, values)
    assert path.read_text().splitlines()[0] == "time;FM1 ;FM2 ;FM3 ;FF1 ;FF2 ;FF3 "
    ratings = read_ratings(path)
    assert ratings.raters == ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")
    np.testing.assert_allclose(ratings.values, values, atol=5e-7)
    np.testing.assert_allclose(ratings.mean(), values.mean(axis=1), atol=1e-6)


def test_comma_separated_files_are_accepted() -> None:
    ratings = parse_ratings("time,A,B\n0.00,0.1,0.2\n0.04,0.3,0.4\n")
    assert ratings.raters == ("A", "B")
    assert ratings.values[1].tolist() == [0.3, 0.4]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("frame;A\n0;1\n", "expected a header 'time"),
        ("time;A;B\n0.00;0.1\n", "2 columns, expected 3"),
        ("time;A\n0.00;x\n", "non-numeric"),
        ("time;A\n0.00;0.1\n0.10;0.2\n", "frame step is 100.0 ms"),
        ("time;A\n", "no data rows"),
        ("timeA\n0\n", "no ';' separated columns"),
    ],
)
def test_malformed_rater_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        parse_ratings(text, source="r.csv")


def test_format_refuses_a_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="do not match"):
        format_ratings(frame_times(3), ("A",), np.zeros((3, 2)))
