"""The synthetic corpus: layout, determinism, disjoint subjects, and non-degeneracy."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edge_affect.errors import EdgeAffectError
from edge_affect.formats.arff import read_arff
from edge_affect_train.data import AvecCorpus
from edge_affect_train.data.describe import describe
from edge_affect_train.synth import PRESETS, generate_corpus
from edge_affect_train.synth.corpus import plan_sessions

EXPECTED_FOLDERS = {
    "recordings_audio",
    "ratings_gold_standard",
    "ratings_individual",
    "features_video_appearance",
    "features_physio",
    "latent",
}


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_is_avec_2016(tiny_corpus: Path) -> None:
    assert {p.name for p in tiny_corpus.iterdir() if p.is_dir()} == EXPECTED_FOLDERS
    for split in ("train", "dev", "test"):
        for n in (1, 2):
            name = f"{split}_{n}"
            assert (tiny_corpus / "recordings_audio" / f"{name}.wav").is_file()
            for dim in ("arousal", "valence"):
                assert (tiny_corpus / "ratings_gold_standard" / dim / f"{name}.arff").is_file()
                assert (tiny_corpus / "ratings_individual" / dim / f"{name}.csv").is_file()
                assert (tiny_corpus / "features_video_appearance" / dim / f"{name}.arff").is_file()
    table = read_arff(tiny_corpus / "features_video_appearance" / "arousal" / "dev_1.arff")
    assert table.instance == "dev_1" and table.values.shape == (501, 40)


def test_same_seed_gives_identical_bytes_whatever_the_jobs(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    generate_corpus(again, preset="tiny", seed=0, sample_rate=16_000, jobs=1)
    assert _digest(again) == _digest(tiny_corpus)


def test_another_seed_gives_another_corpus(tiny_corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_corpus(other, preset="tiny", seed=1, sample_rate=16_000, jobs=2)
    a, b = _digest(tiny_corpus), _digest(other)
    assert a.keys() == b.keys()
    assert a["recordings_audio/train_1.wav"] != b["recordings_audio/train_1.wav"]


def test_valence_cue_scales_the_valence_prosody(tiny_corpus: Path, tmp_path: Path) -> None:
    generate_corpus(tmp_path / "cue0", preset="tiny", seed=0, valence_cue=0.0)
    generate_corpus(tmp_path / "cue5", preset="tiny", seed=0, valence_cue=5.0)
    speech = [json.loads((p / "synth.json").read_text())["model"]["speech"] for p in
              (tiny_corpus, tmp_path / "cue0", tmp_path / "cue5")]  # fmt: skip
    assert [s["pitch_per_valence"] for s in speech] == [3.0, 0.0, 15.0]
    assert [s["rate_per_valence"] for s in speech] == [6.0, 0.0, 30.0]
    assert speech[0]["pitch_per_arousal"] == speech[2]["pitch_per_arousal"]
    same_labels = "ratings_gold_standard/valence/dev_1.arff"
    assert (tmp_path / "cue5" / same_labels).read_bytes() == (
        tiny_corpus / same_labels
    ).read_bytes()
    audio = "recordings_audio/dev_1.wav"
    assert (tmp_path / "cue5" / audio).read_bytes() != (tiny_corpus / audio).read_bytes()
    with pytest.raises(EdgeAffectError, match="valence cue"):
        generate_corpus(tmp_path / "bad", preset="tiny", valence_cue=-1.0)


def test_extra_train_sessions_leave_every_other_session_unchanged(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    more = tmp_path / "more"
    generate_corpus(more, preset="tiny", seed=0, extra_train=3, jobs=2)
    a, b = _digest(tiny_corpus), _digest(more)
    shared = {k for k in a if k != "synth.json"}
    assert {k: b[k] for k in shared} == {k: a[k] for k in shared}
    added = sorted(k for k in b.keys() - a.keys() if k.startswith("recordings_audio"))
    assert added == [f"recordings_audio/train_{i}.wav" for i in (3, 4, 5)]
    old = json.loads((tiny_corpus / "synth.json").read_text())
    new = json.loads((more / "synth.json").read_text())
    assert new["extra_train"] == 3 and "extra_train" not in old
    assert new["sessions"][:6] == old["sessions"]  # the extras come last
    extra = new["sessions"][6:]
    assert [s["name"] for s in extra] == ["train_3", "train_4", "train_5"]
    train_pool = {s["voice"]["variant"] for s in old["sessions"] if s["split"] == "train"}
    held_out = {s["voice"]["variant"] for s in old["sessions"] if s["split"] != "train"}
    variants = {s["voice"]["variant"] for s in extra}
    assert not variants & held_out and variants - train_pool  # new subjects, training pool
    corpus = AvecCorpus(more)
    assert [s.name for s in corpus.split("train")] == [f"train_{i}" for i in range(1, 6)]
    with pytest.raises(EdgeAffectError, match="extra-train"):
        generate_corpus(tmp_path / "bad", preset="tiny", extra_train=-1)


def test_extra_test_sessions_leave_every_other_session_unchanged(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """A larger test split for a narrower interval: the study's students must be scored on
    the same sessions plus new ones, so nothing else may move."""
    wider = tmp_path / "wider"
    generate_corpus(wider, preset="tiny", seed=0, extra_test=2, jobs=2)
    a, b = _digest(tiny_corpus), _digest(wider)
    shared = {k for k in a if k != "synth.json"}
    assert {k: b[k] for k in shared} == {k: a[k] for k in shared}
    added = sorted(k for k in b.keys() - a.keys() if k.startswith("recordings_audio"))
    assert added == ["recordings_audio/test_3.wav", "recordings_audio/test_4.wav"]
    old = json.loads((tiny_corpus / "synth.json").read_text())
    new = json.loads((wider / "synth.json").read_text())
    assert new["extra_test"] == 2 and "extra_test" not in old
    assert new["sessions"][:6] == old["sessions"]
    extra = new["sessions"][6:]
    # the test pool's voice variants (none of another split's), new subjects
    others = {s["voice"]["variant"] for s in old["sessions"] if s["split"] != "test"}
    assert not {s["voice"]["variant"] for s in extra} & others
    assert all(s["voice"] not in [o["voice"] for o in old["sessions"]] for s in extra)
    corpus = AvecCorpus(wider)
    assert [s.name for s in corpus.split("test")] == [f"test_{i}" for i in range(1, 5)]
    # both kinds at once: each kind's sessions are drawn on their own stream
    both = tmp_path / "both"
    generate_corpus(both, preset="tiny", seed=0, extra_train=1, extra_test=2, jobs=2)
    c = _digest(both)
    assert {k: c[k] for k in b if k != "synth.json"} == {k: b[k] for k in b if k != "synth.json"}
    assert sorted(c.keys() - b.keys()) == sorted(
        f"{folder}/train_3.{ext}"
        for folder, ext in (
            ("recordings_audio", "wav"),
            ("latent", "csv"),
            *((f"{kind}/{dim}", "arff") for kind in _TABLES for dim in ("arousal", "valence")),
            *((f"ratings_individual/{dim}", "csv") for dim in ("arousal", "valence")),
        )
    )
    with pytest.raises(EdgeAffectError, match="--extra-test 501 is outside 0-500"):
        generate_corpus(tmp_path / "bad", preset="tiny", extra_test=501)


_TABLES = ("ratings_gold_standard", "features_video_appearance", "features_physio")


def test_voices_are_disjoint_across_splits() -> None:
    specs = plan_sessions(PRESETS["avec"], seed=5, sample_rate=16_000)
    by_split: dict[str, set[str]] = {}
    for spec in specs:
        by_split.setdefault(spec.split, set()).add(spec.voice.variant)
    assert [len(v) for v in by_split.values()] == [9, 9, 9]
    assert not by_split["train"] & by_split["dev"]
    assert not by_split["train"] & by_split["test"]
    assert not by_split["dev"] & by_split["test"]


def test_manifest_records_how_it_was_made(tiny_corpus: Path) -> None:
    manifest = json.loads((tiny_corpus / "synth.json").read_text())
    assert manifest["seed"] == 0 and manifest["preset"]["name"] == "tiny"
    assert manifest["espeak_ng"][0].isdigit()
    assert len(manifest["sessions"]) == 6
    assert all(s["phrases"] >= 2 and s["clipped_samples"] == 0 for s in manifest["sessions"])
    latent = np.loadtxt(tiny_corpus / "latent" / "dev_1.csv", delimiter=";", skiprows=1)
    assert latent.shape == (501, 4)
    assert np.all(np.abs(latent[:, 1:3]) < 1) and set(np.unique(latent[:, 3])) == {0.0, 1.0}


def test_the_simulation_is_not_degenerate(tiny_corpus: Path) -> None:
    """Bounds hold for `tiny` seeds 0-3 (measured: energy-arousal r 0.70-0.85, F0-arousal
    0.40-0.73, |valence given arousal| <= 0.15, video-valence 0.54-0.86, speech 0.55-0.62,
    rater delay 2.96-3.48 s, gold-vs-truth CCC 0.77-0.91, measured SNR within 2.4 dB of the
    configured range); a simulation whose audio ignored arousal, or whose video ignored
    valence, falls far outside them."""
    d = describe(AvecCorpus(tiny_corpus))
    e = d["evidence"]
    assert e["energy_arousal_r"] > 0.6
    assert e["f0_arousal_r"] > 0.3
    assert abs(e["energy_valence_partial_r"]) < 0.3
    assert abs(e["f0_valence_partial_r"]) < 0.3
    assert e["video_appearance_valence_r"] > 0.45
    assert e["video_appearance_valence_r"] > e["energy_valence_partial_r"] + 0.3
    assert 0.45 < e["speech_ratio"] < 0.75
    for dim in ("arousal", "valence"):
        assert 2.0 <= e[f"rater_delay_s_{dim}"] <= 4.5
        assert 0.6 < e[f"gold_latent_ccc_{dim}"] < 0.99
    configured = d["synthetic"]["configured_snr_db"]
    assert min(configured) - 4 < e["snr_db"]["min"]
    assert e["snr_db"]["max"] < max(configured) + 4


def test_output_folder_rules(tiny_corpus: Path, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(EdgeAffectError, match="not empty"):
        generate_corpus(busy, preset="tiny")
    with pytest.raises(EdgeAffectError, match="not a synthetic corpus"):
        generate_corpus(busy, preset="tiny", force=True)
    assert (busy / "notes.txt").read_text() == "mine"
    with pytest.raises(EdgeAffectError, match="unknown preset 'huge'"):
        generate_corpus(tmp_path / "x", preset="huge")
    with pytest.raises(EdgeAffectError, match="outside 8000-96000"):
        generate_corpus(tmp_path / "x", preset="tiny", sample_rate=1000)
