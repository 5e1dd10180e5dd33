import numpy as np
import pytest

from edge_affect.errors import DataFormatError
from edge_affect.formats.timegrid import (
    check_grid,
    frame_times,
    n_frames_for_duration,
    shift_frames,
)


def test_a_recola_session_has_7501_frames() -> None:
    assert n_frames_for_duration(300.0) == 7501
    times = frame_times(7501)
    assert times[0] == 0.0 and times[-1] == 300.0
    assert check_grid(times, source="t") == 0


def test_grid_offset_is_returned_for_a_late_start() -> None:
    assert check_grid(frame_times(10) + 0.08, source="t") == 2


@pytest.mark.parametrize(
    ("times", "message"),
    [
        (np.array([0.0, 0.04, 0.04, 0.08]), "not increasing at row 3"),
        (np.array([0.0, 0.04, 0.02]), "not increasing"),
        (np.array([0.0, 0.01, 0.02]), "frame step is 10.0 ms"),
        (np.array([0.0, 0.04, 0.09]), "frame step is 50.0 ms"),
        (np.array([0.02, 0.06, 0.10]), "not on the 40 ms grid"),
        (np.array([0.0, np.nan]), "non-finite"),
        (np.array([]), "no frames"),
    ],
)
def test_grid_violations_are_refused_with_the_place(times: np.ndarray, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        check_grid(times, source="file.arff")


def test_shift_frames_compensates_delay_and_keeps_length() -> None:
    x = np.arange(10, dtype=float)
    shifted = shift_frames(x, 0.08)  # two frames
    assert shifted.tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 9, 9]
    assert shift_frames(x, -0.04).tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert shift_frames(x, 0.0).tolist() == x.tolist()
    two_d = np.column_stack([x, -x])
    assert shift_frames(two_d, 0.04)[0].tolist() == [1.0, -1.0]
