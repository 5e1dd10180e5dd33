import numpy as np
import pytest

from edge_affect.scoring.metrics import ccc, ccc_per_dimension


def _reference_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC written from its definition with population moments."""
    sxy = np.sum((x - x.mean()) * (y - y.mean())) / x.size
    return float(2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))


def test_identical_sequences_score_one_and_opposite_minus_one() -> None:
    x = np.sin(np.linspace(0, 10, 500))
    x -= x.mean()  # with a non-zero mean, -x is also shifted and CCC > -1
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, -x) == pytest.approx(-1.0)


def test_an_offset_or_scale_lowers_ccc_but_not_correlation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    assert ccc(x, x + 0.5) == pytest.approx(_reference_ccc(x, x + 0.5))
    assert ccc(x, x + 0.5) < 0.9
    assert ccc(x, 2 * x) < 0.85
    assert np.corrcoef(x, 2 * x)[0, 1] == pytest.approx(1.0)


def test_matches_the_definition_on_random_data() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    y = 0.6 * x + rng.normal(scale=0.5, size=300) + 0.2
    assert ccc(x, y) == pytest.approx(_reference_ccc(x, y), abs=1e-12)


def test_nan_pairs_are_ignored_and_lengths_checked() -> None:
    x = np.array([0.0, 1.0, np.nan, 3.0])
    y = np.array([0.0, 1.0, 5.0, 3.0])
    assert ccc(x, y) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="length mismatch"):
        ccc([1.0, 2.0], [1.0])


def test_per_dimension_keys_follow_the_label_names() -> None:
    rng = np.random.default_rng(2)
    gold = rng.normal(size=(200, 2))
    gold -= gold.mean(axis=0)
    scores = ccc_per_dimension(gold * [1.0, -1.0], gold)
    assert scores["arousal"] == pytest.approx(1.0)
    assert scores["valence"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="expected two"):
        ccc_per_dimension(gold[:, :1], gold[:, :1])
