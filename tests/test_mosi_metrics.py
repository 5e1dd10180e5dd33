"""CMU-MOSI metrics on hand-computed examples."""

import pytest

from edge_affect_train.mosi_metrics import METRICS, pearson, sentiment_metrics, weighted_f1

PRED = [-1.2, 0.0, 0.4, 2.6, -0.2, 1.0]
GOLD = [-2.0, 0.0, -0.4, 3.0, 0.0, 1.4]


def test_both_binary_conventions_by_hand() -> None:
    m = sentiment_metrics(PRED, GOLD)
    assert set(m) == set(METRICS)
    # has0: >= 0 vs < 0 on all six: wrong on -0.4 (pred 0.4) and 0.0 (pred -0.2)
    assert m["acc2_has0"] == pytest.approx(4 / 6)
    # class True (4 gold): tp 3, fp 1, fn 1 -> 0.75; class False (2): tp 1, fp 1, fn 1 -> 0.5
    assert m["f1_has0"] == pytest.approx((4 * 0.75 + 2 * 0.5) / 6)
    # non0: the two 0-labelled segments leave; wrong only on -0.4 (pred 0.4)
    assert m["acc2_non0"] == pytest.approx(3 / 4)
    # class True (2): tp 2, fp 1 -> 0.8; class False (2): tp 1, fn 1 -> 2/3
    assert m["f1_non0"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_seven_class_accuracy_mae_and_correlation_by_hand() -> None:
    m = sentiment_metrics(PRED, GOLD)
    # rounded: pred -1 0 0 3 0 1, gold -2 0 0 3 0 1 -> only the first differs
    assert m["acc7"] == pytest.approx(5 / 6)
    assert m["mae"] == pytest.approx((0.8 + 0 + 0.8 + 0.4 + 0.2 + 0.4) / 6)
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([3, 2, 1], [2, 4, 6]) == pytest.approx(-1.0)
    assert pearson([1, 1, 1], [2, 4, 6]) == 0.0  # constant: no association, not NaN


def test_clipping_rounding_and_zero_predictions() -> None:
    # 4.2 clips to 3 (correct for gold 3); 2.5 rounds half to even -> 2 (correct for gold 2)
    assert sentiment_metrics([4.2, 2.5], [3.0, 2.0])["acc7"] == 1.0
    # under non0 a prediction of exactly 0 is not positive; under has0 it is non-negative
    m = sentiment_metrics([0.0, 0.0], [1.0, -1.0])
    assert m["acc2_non0"] == 0.5 and m["acc2_has0"] == 0.5
    assert sentiment_metrics([0.0], [1.0])["acc2_non0"] == 0.0
    assert sentiment_metrics([0.0], [1.0])["acc2_has0"] == 1.0


def test_weighted_f1_and_bad_input() -> None:
    assert weighted_f1([1, 1, 0, 0], [1, 1, 0, 0]) == 1.0
    # all predicted positive: class 1 F1 = 2*2/(4+2) = 2/3, class 0 F1 = 0
    assert weighted_f1([1, 1, 1, 1], [1, 1, 0, 0]) == pytest.approx((2 * 2 / 3 + 0) / 4)
    with pytest.raises(ValueError, match="equal length"):
        sentiment_metrics([1.0, 2.0], [1.0])
