import numpy as np
import pytest

from edge_affect.scoring.metrics import ccc
from edge_affect_train.postprocess import apply_smoothing, choose_smoothing, smooth


def test_smooth_is_a_centred_moving_average_that_keeps_length() -> None:
    x = np.array([0.0, 0.0, 3.0, 0.0, 0.0])
    assert smooth(x, 1).tolist() == x.tolist()
    assert smooth(x, 3).tolist() == pytest.approx([0.0, 1.0, 1.0, 1.0, 0.0])
    assert smooth(np.arange(4.0), 3)[0] == pytest.approx(1 / 3)  # edge padded with x[0]


def test_dev_chooses_more_smoothing_for_noisier_predictions() -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 20, 2000)
    gold = np.column_stack([np.sin(t), np.sin(8 * t)])  # valence changes fast
    noisy = gold + np.column_stack([rng.normal(0, 0.8, t.size), np.zeros(t.size)])
    windows = choose_smoothing([noisy], [gold])
    assert windows["arousal"] > 1 and windows["valence"] == 1
    smoothed = apply_smoothing([noisy], windows)[0]
    assert ccc(smoothed[:, 0], gold[:, 0]) > ccc(noisy[:, 0], gold[:, 0]) + 0.1
