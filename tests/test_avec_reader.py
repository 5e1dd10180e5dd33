"""The AVEC 2016-layout reader on a generated corpus, and its errors on damaged ones."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect_train.data import AvecCorpus
from edge_affect_train.synth import generate_corpus
from tests.helpers import require_program

FRAMES_20S = 501  # 0.00 ... 20.00 s on the 40 ms grid


def test_sessions_by_split_and_modalities(tiny_corpus: Path) -> None:
    corpus = AvecCorpus(tiny_corpus)
    assert [s.name for s in corpus.split("train")] == ["train_1", "train_2"]
    assert [s.name for s in corpus.sessions] == [
        "train_1", "train_2", "dev_1", "dev_2", "test_1", "test_2",
    ]  # fmt: skip
    assert corpus.modalities == ("physio", "video_appearance")
    with pytest.raises(DataFormatError, match="unknown split"):
        corpus.split("validation")


def test_labels_features_ratings_and_audio_line_up(tiny_corpus: Path) -> None:
    corpus = AvecCorpus(tiny_corpus)
    session = corpus.session("dev_2")
    labels = corpus.labels(session)
    assert labels.shape == (FRAMES_20S, 2)
    assert np.all(np.abs(labels) <= 1.0)
    assert corpus.features(session, "video_appearance").shape == (FRAMES_20S, 40)
    assert corpus.features(session, "features_physio", "valence").shape == (FRAMES_20S, 6)
    ratings = corpus.ratings(session, "valence")
    assert ratings.raters == ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")
    # the synthetic gold standard is the raters' mean (files round to 6 decimals)
    np.testing.assert_allclose(ratings.mean(), labels[:, 1], atol=2e-6)
    clip = corpus.audio(session)
    assert clip.sample_rate == 16_000 and clip.duration_s == pytest.approx(20.0)


def test_label_delay_shift_moves_labels_earlier(tiny_corpus: Path) -> None:
    plain = AvecCorpus(tiny_corpus)
    shifted = AvecCorpus(tiny_corpus, label_delay_s=2.0)
    session = plain.session("train_1")
    a, b = plain.gold(session, "arousal"), shifted.gold(session, "arousal")
    assert b.shape == a.shape
    np.testing.assert_array_equal(b[: FRAMES_20S - 50], a[50:])
    assert np.all(b[-50:] == a[-1])


def test_a_44k_corpus_is_read_at_16k(tmp_path: Path) -> None:
    require_program("espeak-ng", "apt-get install espeak-ng")
    root = tmp_path / "c44"
    generate_corpus(root, preset="tiny", seed=3, sample_rate=44_100, jobs=1)
    corpus = AvecCorpus(root)
    session = corpus.session("test_1")
    assert corpus.audio_info(session)[0] == 44_100
    clip = corpus.audio(session)
    assert clip.source_rate == 44_100 and clip.sample_rate == 16_000
    assert clip.samples.size == pytest.approx(20 * 16_000, abs=2)


def test_missing_root_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="no such corpus folder"):
        AvecCorpus(tmp_path / "absent")
    with pytest.raises(MissingDataError, match="no sessions found"):
        AvecCorpus(tmp_path)


def test_missing_gold_standard_and_modality(corpus_copy: Path) -> None:
    (corpus_copy / "ratings_gold_standard" / "valence" / "test_2.arff").unlink()
    corpus = AvecCorpus(corpus_copy)
    session = corpus.session("test_2")
    assert not corpus.has_labels(session)
    with pytest.raises(MissingDataError, match="no gold standard for test_2"):
        corpus.labels(session)
    with pytest.raises(MissingDataError, match="no modality 'video_geometric'"):
        corpus.features(corpus.session("train_1"), "video_geometric")


def test_length_mismatches_are_errors(corpus_copy: Path) -> None:
    ratings = corpus_copy / "ratings_individual" / "arousal" / "dev_1.csv"
    ratings.write_text("\n".join(ratings.read_text().splitlines()[:-10]) + "\n")
    features = corpus_copy / "features_physio" / "arousal" / "dev_1.arff"
    features.write_text("\n".join(features.read_text().splitlines()[:-3]) + "\n")
    corpus = AvecCorpus(corpus_copy)
    session = corpus.session("dev_1")
    with pytest.raises(DataFormatError, match="491 frames, the gold standard has 501"):
        corpus.ratings(session, "arousal")
    with pytest.raises(
        DataFormatError, match=r"features cover frames 0\.\.497, the labels need 0\.\.500"
    ):
        corpus.features(session, "physio")


def test_valence_and_arousal_of_different_length(corpus_copy: Path) -> None:
    gold = corpus_copy / "ratings_gold_standard" / "valence" / "train_2.arff"
    gold.write_text("\n".join(gold.read_text().splitlines()[:-1]) + "\n")
    corpus = AvecCorpus(corpus_copy)
    with pytest.raises(DataFormatError, match="arousal has 501 frames, valence 500"):
        corpus.labels(corpus.session("train_2"))


def test_wrong_step_in_gold_standard_names_the_file(corpus_copy: Path) -> None:
    gold = corpus_copy / "ratings_gold_standard" / "arousal" / "train_1.arff"
    text = gold.read_text().replace("train_1,0.04,", "train_1,0.05,")
    gold.write_text(text)
    with pytest.raises(DataFormatError, match=r"train_1\.arff: frame step is 50\.0 ms"):
        AvecCorpus(corpus_copy).labels(AvecCorpus(corpus_copy).session("train_1"))


def test_audio_shorter_than_labels(corpus_copy: Path) -> None:
    wav = corpus_copy / "recordings_audio" / "test_1.wav"
    samples, rate = soundfile.read(wav, dtype="int16")
    soundfile.write(wav, samples[: rate * 15], rate, subtype="PCM_16")
    corpus = AvecCorpus(corpus_copy)
    with pytest.raises(
        DataFormatError, match=r"audio lasts 15\.00 s but the labels run to 20\.00 s"
    ):
        corpus.audio(corpus.session("test_1"))
