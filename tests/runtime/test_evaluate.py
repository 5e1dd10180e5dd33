"""``evaluate``: CCC of a predictions log against AVEC gold standards, with a delay search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect.formats.arff import gold_standard_table, write_arff
from edge_affect.logs.header import LogHeader
from edge_affect.logs.reader import LogTable, read_log
from edge_affect.logs.writer import open_sink
from edge_affect.scoring.evaluate import (
    EvaluationError,
    evaluate,
    format_evaluation,
    load_corpus_gold,
    load_gold,
)
from edge_affect.stream.reading import Reading

HEADER = LogHeader("2025-01-31T12:00:00+00:00", {"file": "dev_1.wav"}, {"file": "m.onnx"})


def write_gold(root: Path, session: str, **dimensions: np.ndarray) -> list[Path]:
    """AVEC layout: ``root/ratings_gold_standard/<dim>/<session>.arff``."""
    paths = []
    for dimension, values in dimensions.items():
        path = root / "ratings_gold_standard" / dimension / f"{session}.arff"
        write_arff(path, gold_standard_table(session, dimension, values))
        paths.append(path)
    return paths


def write_predictions(
    path: Path, arousal: np.ndarray, valence: np.ndarray, speech: np.ndarray | None = None
) -> LogTable:
    """A predictions log written through the real sink, read back."""
    flags = np.ones(arousal.shape[0], dtype=bool) if speech is None else speech
    with open_sink(path, None, HEADER) as sink:
        for i, (a, v, s) in enumerate(zip(arousal, valence, flags, strict=True)):
            sink.write(Reading(i, float(a), float(v), bool(s), "model", 0.001, 0.0))
    return read_log(path)


def smooth_signal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A slowly varying trajectory like an annotation (moving average of noise)."""
    noise = rng.standard_normal(n + 200)
    kernel = np.hanning(51)
    return np.convolve(noise, kernel / kernel.sum(), mode="valid")[:n] * 0.5


def test_hand_checked_ccc(tmp_path: Path) -> None:
    # prediction 1,2,3,4 vs gold 2,3,4,5: cov 1.25, variances 1.25, mean gap 1
    # CCC = 2 * 1.25 / (1.25 + 1.25 + 1) = 5/7
    gold = load_gold(write_gold(tmp_path, "dev_1", arousal=np.array([2.0, 3.0, 4.0, 5.0])))
    pred = write_predictions(tmp_path / "p.csv", np.array([1.0, 2, 3, 4]), np.zeros(4))
    result = evaluate(pred, gold)
    row = result["dimensions"]["arousal"]
    assert row["ccc"] == pytest.approx(5 / 7, abs=1e-9)
    assert row["n_frames"] == 4 and result["n_frames"] == 4
    assert row["best_delay_s"] == 0.0 and row["best_ccc"] == row["ccc"]
    assert list(result["dimensions"]) == ["arousal"]  # only the dimensions with gold
    json.dumps(result)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "arff"])
def test_delay_search_finds_the_annotation_lag(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(0)
    n, lag = 1500, 50  # 60 s of frames; gold lags the predictions by 50 frames = 2.00 s
    arousal, valence = smooth_signal(rng, n + lag), smooth_signal(rng, n + lag)
    gold = load_gold(write_gold(tmp_path, "dev_1", arousal=arousal[:n], valence=valence[:n]))
    # the prediction at t equals the gold at t + 2 s (plus a little noise)
    pred_a = arousal[lag : lag + n] + 0.01 * rng.standard_normal(n)
    pred_v = valence[lag : lag + n] + 0.01 * rng.standard_normal(n)
    speech = rng.random(n) < 0.6
    pred = write_predictions(tmp_path / f"p.{fmt}", pred_a, pred_v, speech)

    result = evaluate(pred, gold, delay_search_s=4.0)
    assert result["delay_search_s"] == 4.0 and result["n_frames"] == n
    for dimension in ("arousal", "valence"):
        row = result["dimensions"][dimension]
        assert row["best_delay_s"] == pytest.approx(2.0, abs=0.04 + 1e-9)
        assert row["best_ccc"] > 0.98
        assert row["ccc"] < row["best_ccc"] - 0.1
        assert row["best_n_frames"] == n - round(row["best_delay_s"] / 0.04)
        assert row["speech_n_frames"] == int(speech.sum())
        assert row["speech_best_ccc"] > 0.98
    # without a search: the delay-0 numbers only
    plain = evaluate(pred, gold)
    assert plain["dimensions"]["arousal"]["ccc"] == result["dimensions"]["arousal"]["ccc"]
    assert plain["dimensions"]["arousal"]["best_delay_s"] == 0.0
    table = format_evaluation(result)
    assert "best delay" in table and "2.00 s" in table
    assert "gold at t + d vs prediction at t" in table
    assert "best delay" not in format_evaluation(plain)


def test_the_search_direction_is_gold_later_than_predictions(tmp_path: Path) -> None:
    """Predictions that *lag* the gold cannot be helped by moving them later."""
    rng = np.random.default_rng(1)
    n, lag = 1000, 50
    signal = smooth_signal(rng, n + lag)
    gold = {"arousal": signal[lag : lag + n]}
    pred = write_predictions(tmp_path / "p.csv", signal[:n], np.zeros(n))
    row = evaluate(pred, gold, delay_search_s=4.0)["dimensions"]["arousal"]
    assert row["best_ccc"] < 0.5  # the true alignment (-2 s) is outside the searched range


def test_speech_row_uses_speech_hops_only(tmp_path: Path) -> None:
    n = 200
    gold_values = np.sin(np.arange(n) / 10.0)
    pred_values = gold_values.copy()
    speech = np.arange(n) % 2 == 0
    pred_values[~speech] = 5.0  # way off in the pauses only
    pred = write_predictions(tmp_path / "p.jsonl", pred_values, np.zeros(n), speech)
    row = evaluate(pred, {"arousal": gold_values})["dimensions"]["arousal"]
    assert row["speech_n_frames"] == n // 2
    assert row["speech_ccc"] == pytest.approx(1.0, abs=1e-5)
    assert row["ccc"] < 0.5


def test_predictions_with_gaps_and_partial_overlap(tmp_path: Path) -> None:
    """Rows missing from the log are skipped; only frames on both grids are compared."""
    times = np.array([0.0, 0.04, 0.12, 0.16, 0.2])  # 0.08 is missing
    values = np.array([1.0, 2.0, 4.0, 5.0, 9.0])
    pred = LogTable(times, values, values, np.ones(5, dtype=bool), paths=(Path("p.csv"),))
    result = evaluate(pred, {"arousal": np.array([1.0, 2.0, 3.0, 4.0, 5.0])})  # 0.00-0.16 s
    assert result["n_frames"] == 4 and result["overlap_s"] == [0.0, 0.16]
    assert result["dimensions"]["arousal"]["ccc"] == pytest.approx(1.0)


def test_gold_of_different_lengths_compares_the_common_length(tmp_path: Path) -> None:
    paths = write_gold(tmp_path, "dev_2", arousal=np.arange(10.0), valence=np.arange(8.0))
    gold = load_gold(paths)
    assert gold["arousal"].shape == (10,) and gold["valence"].shape == (8,)
    pred = write_predictions(tmp_path / "p.csv", np.arange(12.0), np.arange(12.0))
    result = evaluate(pred, gold)
    assert result["gold_frames"] == 8 and result["n_frames"] == 8
    assert result["dimensions"]["arousal"]["n_frames"] == 8
    assert result["dimensions"]["valence"]["ccc"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------- gold loading


def test_load_corpus_gold_reads_the_dimensions_present(tmp_path: Path) -> None:
    write_gold(tmp_path, "dev_1", arousal=np.linspace(0, 1, 20), valence=np.linspace(1, 0, 20))
    write_gold(tmp_path, "dev_3", valence=np.zeros(5))
    both = load_corpus_gold(tmp_path, "dev_1")
    assert sorted(both) == ["arousal", "valence"]
    np.testing.assert_allclose(both["valence"], np.linspace(1, 0, 20), atol=1e-6)
    assert sorted(load_corpus_gold(tmp_path, "dev_3.arff")) == ["valence"]
    with pytest.raises(MissingDataError, match="no gold standard for session 'dev_9'"):
        load_corpus_gold(tmp_path, "dev_9")
    with pytest.raises(MissingDataError, match="no ratings_gold_standard folder"):
        load_corpus_gold(tmp_path / "ratings_gold_standard", "dev_1")
    with pytest.raises(MissingDataError, match="no such corpus folder"):
        load_corpus_gold(tmp_path / "nowhere", "dev_1")


def test_gold_dimension_from_the_relation_when_the_folder_does_not_say(tmp_path: Path) -> None:
    path = tmp_path / "flat" / "a.arff"
    write_arff(path, gold_standard_table("dev_1", "valence", np.ones(4)))
    assert list(load_gold([path])) == ["valence"]
    odd = tmp_path / "flat" / "b.arff"
    write_arff(odd, gold_standard_table("dev_1", "dominance", np.ones(4)))
    with pytest.raises(DataFormatError, match=r"b\.arff: cannot tell the dimension"):
        load_gold([odd])
    clash = tmp_path / "arousal" / "dev_1.arff"
    write_arff(clash, gold_standard_table("dev_1", "valence", np.ones(4)))
    with pytest.raises(DataFormatError, match="folder says arousal but the relation says valence"):
        load_gold([clash])


def test_gold_files_must_be_one_session_one_file_per_dimension(tmp_path: Path) -> None:
    first = write_gold(tmp_path / "a", "dev_1", arousal=np.ones(4))
    second = write_gold(tmp_path / "b", "dev_2", valence=np.ones(4))
    again = write_gold(tmp_path / "c", "dev_1", arousal=np.ones(4))
    with pytest.raises(DataFormatError, match="session 'dev_2', but the other gold file"):
        load_gold(first + second)
    with pytest.raises(DataFormatError, match="a second arousal gold standard"):
        load_gold(first + again)
    with pytest.raises(MissingDataError, match="no gold-standard files"):
        load_gold([])


def test_malformed_gold_is_a_clear_error(tmp_path: Path) -> None:
    path = write_gold(tmp_path, "dev_1", arousal=np.ones(4))[0]
    path.write_text(path.read_text().replace("dev_1,0.04,1.000000", "dev_1,0.04,high"))
    with pytest.raises(DataFormatError, match=r"dev_1\.arff:\d+: GoldStandard is 'high'"):
        load_gold([path])


# ---------------------------------------------------------------------------- bad inputs


def test_predictions_off_the_grid_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("time,arousal,valence,speech\n0.00,0,0,1\n0.05,0,0,1\n")
    with pytest.raises(DataFormatError, match=r"odd\.csv: row 2 has time 0\.0500 s, not on the"):
        evaluate(read_log(path), {"arousal": np.zeros(10)})
    path.write_text("time,arousal,valence,speech\n0.04,0,0,1\n0.00,0,0,1\n")
    with pytest.raises(DataFormatError, match="time does not increase at row 2"):
        evaluate(read_log(path), {"arousal": np.zeros(10)})


UNSCORABLE = {
    "no overlap": ({"arousal": np.arange(10.0)}, 0.0, 10.0, "share 0 frame"),
    "negative delay": ({"arousal": np.arange(10.0)}, -1.0, 0.0, "delay search must be >= 0"),
    "delay too long": ({"arousal": np.arange(10.0)}, 1.0, 0.0, "leaves too few frames"),
    "unknown dimension": ({"dominance": np.arange(10.0)}, 0.0, 0.0, "'dominance' is not one"),
    "no dimension": ({}, 0.0, 0.0, "no gold-standard dimension"),
}


@pytest.mark.parametrize("case", sorted(UNSCORABLE))
def test_unscorable_combinations_are_refused(tmp_path: Path, case: str) -> None:
    gold, delay_search_s, shift_s, message = UNSCORABLE[case]
    pred = write_predictions(tmp_path / "p.csv", np.arange(10.0), np.arange(10.0))
    shifted = LogTable(pred.times + shift_s, pred.arousal, pred.valence, pred.speech)
    with pytest.raises(EvaluationError, match=message):
        evaluate(shifted, gold, delay_search_s=delay_search_s)


def test_an_empty_log_is_not_scored(tmp_path: Path) -> None:
    empty_path = tmp_path / "empty.jsonl"
    open_sink(empty_path, None, HEADER).close()
    with pytest.raises(EvaluationError, match="no rows to evaluate"):
        evaluate(read_log(empty_path), {"arousal": np.arange(10.0)})
