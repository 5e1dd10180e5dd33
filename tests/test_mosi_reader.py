"""CMU-MOSI readers: .csd slicing and alignment, folds, pickles, and malformed files."""

import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from edge_affect.errors import DataFormatError, EdgeAffectError, MissingDataError
from edge_affect_train.data.mosi import (
    average_onto,
    is_mosi_source,
    on_grid,
    open_mosi,
    resolve,
    standard_folds,
)
from tests.mosi_synth import NAMES, Sequence, SynthMosi, write_csd

VIDEO = "2iD-tVS8NPw"  # a train video of the standard folds


def _hand_folder(folder: Path, video: str = VIDEO) -> Path:
    """Two segments, 100 Hz frames whose value is their index, six words around them."""
    folder.mkdir()
    labels = Sequence(np.array([[1.4], [-0.6]]), np.array([[1.0, 2.0], [2.5, 3.25]]))
    k = np.arange(400)
    values = np.column_stack([k, -k]).astype(np.float32)
    values[150, 1], values[50, 1] = -np.inf, np.nan  # one inside a segment, one outside
    audio = Sequence(values, np.column_stack([k, k + 1]) / 100)
    word_times = [(0.9, 1.05), (1.05, 1.5), (1.5, 2.1), (1.95, 2.2), (2.6, 3.0), (3.1, 3.5)]
    words = Sequence(np.arange(6.0)[:, None].repeat(3, axis=1), np.array(word_times))
    for name, seq in (
        ("CMU_MOSI_Opinion_Labels", labels),
        ("CMU_MOSI_COVAREP", audio),
        ("CMU_MOSI_TimestampedWordVectors", words),
    ):
        write_csd(folder / f"{name}.csd", name, {video: seq}, {"root name": name})
    return folder


def test_segments_hold_exactly_the_frames_and_words_inside_their_interval(
    tmp_path: Path,
) -> None:
    source = open_mosi(_hand_folder(tmp_path / "hand"))
    assert [(s.segment_id, s.split, s.label) for s in source.segments] == [
        (f"{VIDEO}[0]", "train", pytest.approx(1.4)),
        (f"{VIDEO}[1]", "train", pytest.approx(-0.6)),
    ]
    loaded = source.load(("CMU_MOSI_TimestampedWordVectors", "CMU_MOSI_COVAREP"))
    first, second = loaded.items
    # frame k spans [k/100, (k+1)/100): midpoints in [1.0, 2.0) are frames 100..199
    np.testing.assert_array_equal(first.features["CMU_MOSI_COVAREP"][:, 0], np.arange(100, 200))
    np.testing.assert_array_equal(second.features["CMU_MOSI_COVAREP"][:, 0], np.arange(250, 325))
    # words by midpoint: 0.975 and 2.075 fall outside the first segment, 3.3 the second
    np.testing.assert_array_equal(first.features["CMU_MOSI_TimestampedWordVectors"][:, 0], [1, 2])
    np.testing.assert_array_equal(second.features["CMU_MOSI_TimestampedWordVectors"][:, 0], [4])
    # on the word grid: the mean of the segment's frames inside each word
    text, audio = on_grid(first, ("CMU_MOSI_TimestampedWordVectors", "CMU_MOSI_COVAREP"),
                          "CMU_MOSI_TimestampedWordVectors")  # fmt: skip
    assert text.shape == (2, 3)
    np.testing.assert_allclose(audio[:, 0], [np.mean(range(105, 150)), np.mean(range(150, 200))])
    np.testing.assert_allclose(audio[0, 1], -audio[0, 0])
    # -inf at frame 150 is read as 0 and counted; the NaN at frame 50 is in no segment
    assert first.features["CMU_MOSI_COVAREP"][50, 1] == 0.0
    assert loaded.nonfinite == {"CMU_MOSI_TimestampedWordVectors": 0, "CMU_MOSI_COVAREP": 1}
    assert source.nonfinite_totals()["CMU_MOSI_COVAREP"] == 2  # the whole file (describe)


def test_averaging_onto_a_grid_takes_the_nearest_frame_for_an_empty_step() -> None:
    values = np.arange(10.0)[:, None]
    intervals = np.column_stack([np.arange(10), np.arange(1, 11)]) / 10
    grid = np.array([[0.0, 0.3], [0.31, 0.32], [0.95, 1.2]])
    out = average_onto(values, intervals, grid)
    # midpoints 0.05, 0.15, 0.25 -> mean 1; [0.31, 0.32) holds none -> nearest is 0.35 (frame 3)
    np.testing.assert_allclose(out[:, 0], [1.0, 3.0, 9.0])


def test_synthetic_folder_follows_the_standard_folds(mosi_csd: Path, mosi_synth: SynthMosi) -> None:
    assert is_mosi_source(mosi_csd)
    source = open_mosi(mosi_csd)
    assert source.kind == "cmu-mosi-csd" and source.folds_source == "standard"
    for split, videos in mosi_synth.splits.items():
        assert {s.video_id for s in source.segments if s.split == split} == set(videos)
    expected = sum(v.labels.features.shape[0] for v in mosi_synth.videos)
    assert len(source.segments) == expected
    video = mosi_synth.videos[0]
    first = next(s for s in source.segments if s.video_id == video.video_id)
    assert first.segment_id == f"{video.video_id}[0]"
    assert (first.start_s, first.end_s) == tuple(video.labels.intervals[0])
    folds = standard_folds()
    assert [len(folds.videos[s]) for s in ("train", "valid", "test")] == [52, 10, 31]


def test_roles_resolve_to_one_numeric_sequence(mosi_csd: Path) -> None:
    source = open_mosi(mosi_csd)
    assert resolve(source, "text").name == NAMES["text"]
    assert resolve(source, "audio").name == NAMES["audio"]
    assert resolve(source, "CMU_MOSI_Visual_Facet_41").role == "vision"
    with pytest.raises(DataFormatError, match="non-numeric features"):
        resolve(source, NAMES["words"])
    with pytest.raises(EdgeAffectError, match="no modality 'physio'"):
        resolve(source, "physio")


def test_a_second_sequence_of_a_role_must_be_named(mosi_csd_copy: Path) -> None:
    with h5py.File(mosi_csd_copy / "CMU_MOSI_COVAREP.csd", "r") as src:
        data = {v: Sequence(g["features"][()], g["intervals"][()]) for v, g in
                src["CMU_MOSI_COVAREP"]["data"].items()}  # fmt: skip
    write_csd(mosi_csd_copy / "opensmile.csd", "CMU_MOSI_openSMILE_IS09", data, {})
    source = open_mosi(mosi_csd_copy)
    with pytest.raises(EdgeAffectError, match="several audio sequences"):
        resolve(source, "audio")
    assert resolve(source, "opensmile").name == "CMU_MOSI_openSMILE_IS09"  # by file stem


def test_videos_in_no_fold(tmp_path: Path) -> None:
    folder = _hand_folder(tmp_path / "odd", video="not-a-mosi-id")
    with pytest.raises(
        DataFormatError, match=r"1 video\(s\) are in no standard fold \(not-a-mosi-id\)"
    ):
        open_mosi(folder)
    dropped = open_mosi(folder, unassigned="drop")
    assert dropped.segments == () and dropped.unassigned_videos == ("not-a-mosi-id",)
    assert {s.split for s in open_mosi(folder, unassigned="test").segments} == {"test"}
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps({"train": [], "valid": ["not-a-mosi-id"], "test": []}))
    source = open_mosi(folder, folds=folds)
    assert source.folds_source == "folds.json"
    assert {s.split for s in source.segments} == {"valid"}
    with pytest.raises(EdgeAffectError, match="unknown unassigned-video policy 'keep'"):
        open_mosi(folder, unassigned="keep")
    folds.write_text(json.dumps({"train": ["a"], "valid": ["a"], "test": []}))
    with pytest.raises(DataFormatError, match="'a' is in both train and valid"):
        open_mosi(folder, folds=folds)


def test_a_video_missing_from_one_sequence_leaves_its_segments_out(mosi_csd_copy: Path) -> None:
    source = open_mosi(mosi_csd_copy)
    video = source.segments[0].video_id
    n = sum(s.video_id == video for s in source.segments)
    with h5py.File(mosi_csd_copy / "CMU_MOSI_COVAREP.csd", "a") as handle:
        del handle[f"CMU_MOSI_COVAREP/data/{video}"]
    loaded = open_mosi(mosi_csd_copy).load(("CMU_MOSI_TimestampedWordVectors", "CMU_MOSI_COVAREP"))
    assert loaded.dropped == {"CMU_MOSI_COVAREP: video absent": n}
    assert video not in {i.segment.video_id for i in loaded.items}


@pytest.mark.parametrize("flavour", ["mult", "mmsa"])
def test_aligned_pickles(
    flavour: str, mosi_pickles: dict[str, Path], mosi_synth: SynthMosi
) -> None:
    source = open_mosi(mosi_pickles[flavour])
    assert source.kind == f"{flavour}-pickle"
    assert {s: sum(x.split == s for x in source.segments) for s in ("train", "valid", "test")} == {
        s: sum(v.labels.features.shape[0] for v in mosi_synth.videos if v.video_id in ids)
        for s, ids in mosi_synth.splits.items()
    }
    video = mosi_synth.videos[0]
    first = source.segments[0]
    assert (first.segment_id, first.video_id) == (f"{video.video_id}[0]", video.video_id)
    assert first.label == pytest.approx(float(video.labels.features[0, 0]))
    dims = {"text": 300 if flavour == "mult" else 768, "audio": 5, "vision": 20}
    assert {m: i.dimension for m, i in source.sequences.items()} == dims
    loaded = source.load(("text", "audio"))
    assert loaded.nonfinite["audio"] > 0  # -inf in the audio, as in MulT's release
    item = loaded.items[0]
    # zero padding (front for MulT, back for MMSA) is cut: one step per word of the segment
    a, b = video.labels.intervals[0]
    mids = video.text.intervals.mean(axis=1)
    words = int(np.sum((mids >= a) & (mids < b)))
    assert item.features["text"].shape == (words, dims["text"])
    assert bool(np.isfinite(item.features["audio"]).all())


def test_pickle_errors(tmp_path: Path, mosi_pickles: dict[str, Path]) -> None:
    with mosi_pickles["mult"].open("rb") as handle:
        data = pickle.load(handle)
    del data["valid"]["audio"]
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(pickle.dumps(data))
    with pytest.raises(DataFormatError, match=r"\['valid'\] has no 'audio' entry"):
        open_mosi(broken)
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(DataFormatError, match="not a readable pickle"):
        open_mosi(junk)
    with pytest.raises(EdgeAffectError, match=r"folds options apply to \.csd folders"):
        open_mosi(mosi_pickles["mult"], unassigned="drop")
    with pytest.raises(MissingDataError, match="no such file"):
        open_mosi(tmp_path / "none.pkl")


def _break(folder: Path, how: str) -> None:
    path = folder / "CMU_MOSI_COVAREP.csd"
    if how == "not hdf5":
        path.write_bytes(b"plain text")
        return
    with h5py.File(path, "a") as handle:
        root = handle["CMU_MOSI_COVAREP"]
        video = next(iter(root["data"]))
        if how == "no data group":
            del root["data"]
        elif how == "no intervals":
            del root[f"data/{video}/intervals"]
        elif how == "length mismatch":
            intervals = root[f"data/{video}/intervals"][()]
            del root[f"data/{video}/intervals"]
            root[f"data/{video}"].create_dataset("intervals", data=intervals[:-3])


MALFORMED = {
    "not hdf5": "not an HDF5 computational sequence",
    "no data group": "no 'data' group under /CMU_MOSI_COVAREP",
    "no intervals": "has no 'intervals' dataset",
    "length mismatch": "feature rows but",
}


@pytest.mark.parametrize("how", list(MALFORMED))
def test_malformed_sequences_are_clear_errors(mosi_csd_copy: Path, how: str) -> None:
    _break(mosi_csd_copy, how)
    with pytest.raises(DataFormatError, match=MALFORMED[how]):
        open_mosi(mosi_csd_copy).load((NAMES["text"], NAMES["audio"]))


def test_labels_sequence_problems(mosi_csd_copy: Path, tmp_path: Path) -> None:
    labels = mosi_csd_copy / "CMU_MOSI_Opinion_Labels.csd"
    with h5py.File(labels, "a") as handle:
        group = handle["CMU_MOSI_Opinion_Labels/data"]
        video = next(iter(group))
        values = group[video]["features"][()]
        values[0, 0] = 7.0
        group[video]["features"][...] = values
    with pytest.raises(DataFormatError, match=r"sentiment 7.0 is outside \[-3, 3\]"):
        open_mosi(mosi_csd_copy)
    labels.unlink()
    with pytest.raises(DataFormatError, match="expected one labels sequence"):
        open_mosi(mosi_csd_copy)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match=r"no \.csd computational sequences"):
        open_mosi(tmp_path / "empty")
    with pytest.raises(DataFormatError, match="give the folder"):
        open_mosi(mosi_csd_copy / "CMU_MOSI_COVAREP.csd")
