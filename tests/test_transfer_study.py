"""The transfer study (train/transfer_study.py) and the training options it is built on:
fixed schedule with checkpoint averaging, label-scarce training, translation to the teacher's
latent, and the recola preset."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor
from typer.testing import CliRunner

from edge_affect.audio import LABEL_RATE_HZ
from edge_affect.cli import app
from edge_affect.errors import EdgeAffectError
from edge_affect.paths import BUNDLED_MODELS, DEFAULT_MODEL
from edge_affect.scoring.metrics import ccc_per_dimension
from edge_affect.stream.model import AffectModel
from edge_affect_train import transfer_study
from edge_affect_train.checkpoint import load_checkpoint
from edge_affect_train.commands import (
    labelled_subset,
    natural_chunks,
    scarce_split,
    training_sessions,
)
from edge_affect_train.data import AvecCorpus
from edge_affect_train.data.tensors import ChunkDataset, SessionData, load_splits
from edge_affect_train.frontend import FrontendConfig
from edge_affect_train.loop import average_states
from edge_affect_train.losses import task_loss
from edge_affect_train.models import (
    AudioStudent,
    EncoderConfig,
    StudentConfig,
    Teacher,
    TeacherConfig,
)
from edge_affect_train.synth import generate_corpus
from edge_affect_train.synth.config import PRESETS
from edge_affect_train.trainer import (
    PREDICT_BATCH,
    Runtime,
    TrainConfig,
    predict_sessions,
    training_batches,
)
from edge_affect_train.transfer import StudentTask, TransferConfig
from tests.test_cli_train import FAST

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def _sessions(rng: np.random.Generator, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for _ in range(n):
        length = int(rng.integers(50, 200))
        gold = rng.normal(rng.normal(0, 0.3), 0.4, (length, 2))
        out.append((0.6 * gold + rng.normal(0.1, 0.3, (length, 2)), gold))
    return out


def test_ccc_from_session_sums_is_the_ccc_of_the_concatenation() -> None:
    sessions = _sessions(np.random.default_rng(0), 7)
    sums = np.array([transfer_study.session_sums(p, g) for p, g in sessions])
    expected = ccc_per_dimension(
        np.concatenate([p for p, _ in sessions]), np.concatenate([g for _, g in sessions])
    )
    got = transfer_study.ccc_from_sums(sums.sum(axis=0))
    np.testing.assert_allclose(got, [expected["arousal"], expected["valence"]], atol=1e-9)
    # a session counted twice is the concatenation with that session repeated
    doubled = [*sessions, sessions[2]]
    twice = ccc_per_dimension(
        np.concatenate([p for p, _ in doubled]), np.concatenate([g for _, g in doubled])
    )
    weights = np.ones(7)
    weights[2] = 2
    got = transfer_study.ccc_from_sums(np.einsum("s,sdm->dm", weights, sums))
    np.testing.assert_allclose(got, [twice["arousal"], twice["valence"]], atol=1e-9)


def _study_sums(seed: int, shift: float) -> np.ndarray:
    """[seed, session, dim, 6] sums of 6 seeds x 9 sessions; ``shift`` adds to the
    prediction's agreement with gold on valence only."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(6):
        runs = []
        for prediction, g in _sessions(rng, 9):
            p = prediction.copy()
            p[:, 1] = (1 - shift) * p[:, 1] + shift * g[:, 1]
            runs.append(transfer_study.session_sums(p, g))
        out.append(runs)
    return np.array(out)


def test_the_paired_interval_is_zero_for_a_method_against_itself_and_finds_a_real_gain() -> None:
    a = _study_sums(1, 0.0)
    same = transfer_study.paired_difference(a, a, resamples=500)
    for dim in ("arousal", "valence"):
        assert same[dim]["mean"] == 0.0
        assert same[dim]["low"] == 0.0 and same[dim]["high"] == 0.0
        assert same[dim]["crossed"] == {"low": 0.0, "high": 0.0}
    better = _study_sums(1, 0.5)  # same sessions, valence predictions pulled towards gold
    diff = transfer_study.paired_difference(better, a, resamples=500)
    assert diff["valence"]["low"] > 0.05 and diff["valence"]["crossed"]["low"] > 0.05
    assert diff["arousal"]["mean"] == 0.0
    assert len(diff["valence"]["per_seed"]) == 6
    with pytest.raises(ValueError, match="equal shapes"):
        transfer_study.paired_difference(a[:3], a)


def test_two_pairs_averaged_keep_a_seeds_pairs_together_and_one_pair_gives_its_own_figures() -> (
    None
):
    a, b = _study_sums(1, 0.5), _study_sums(2, 0.0)
    c, d = _study_sums(3, 0.3), _study_sums(4, 0.0)
    one = transfer_study.paired_difference(a, b, resamples=500)
    other = transfer_study.paired_difference(c, d, resamples=500)
    alone = transfer_study.pooled_difference([(a, b)], resamples=500)
    for dim in ("arousal", "valence"):
        assert alone[dim]["mean"] == one[dim]["mean"]
        assert alone[dim]["per_seed"] == one[dim]["per_seed"]
        assert alone[dim]["crossed"] == one[dim]["crossed"]
    # a pair averaged with itself is that pair: the resampled seeds carry both of their pairs
    # (drawn apart, the average of two independent draws would give a narrower interval)
    same = transfer_study.pooled_difference([(a, b), (a, b)], resamples=500)
    assert same["valence"]["crossed"] == one["valence"]["crossed"]
    both = transfer_study.pooled_difference([(a, b), (c, d)], resamples=500)
    for dim in ("arousal", "valence"):
        assert both[dim]["mean"] == pytest.approx(
            (one[dim]["mean"] + other[dim]["mean"]) / 2, abs=1e-4
        )
        np.testing.assert_allclose(
            both[dim]["per_seed"],
            (np.array(one[dim]["per_seed"]) + np.array(other[dim]["per_seed"])) / 2,
            atol=1e-4,
        )
    assert both["valence"]["crossed"]["low"] > 0
    with pytest.raises(ValueError, match="one shape"):
        transfer_study.pooled_difference([(a, b), (c[:3], d[:3])])
    with pytest.raises(ValueError, match="one shape"):
        transfer_study.pooled_difference([])


def test_the_protocols_resamples_are_each_drawn_seeds_ccc_over_its_drawn_sessions() -> None:
    """The protocol's interval, resample by resample, against the definition written out:
    every drawn seed's CCC on its own draw of sessions, minus the reference's, averaged."""
    a, b = _study_sums(1, 0.5), _study_sums(2, 0.0)
    n_seeds, n_sessions = a.shape[:2]
    rng = np.random.default_rng(7)
    seed_pick = rng.integers(0, n_seeds, (40, n_seeds))
    counts = rng.multinomial(n_sessions, np.full(n_sessions, 1 / n_sessions), (40, n_seeds))
    fast = transfer_study._resampled_differences(a, b, seed_pick, counts)
    for r in range(40):
        per_slot = []
        for k, seed in enumerate(seed_pick[r]):
            sessions = [s for s in range(n_sessions) for _ in range(counts[r, k, s])]
            ccc = [transfer_study.ccc_from_sums(x[seed, sessions].sum(axis=0)) for x in (a, b)]
            per_slot.append(ccc[0] - ccc[1])
        np.testing.assert_allclose(fast[r], np.mean(per_slot, axis=0), rtol=0, atol=1e-12)
    assert np.ptp(fast[:, 1]) > 0.01  # the draws differ: a constant would not be a bootstrap


def test_the_within_session_difference_separates_tracking_from_placing_levels() -> None:
    """Two ways to beat a baseline: follow gold better inside each session, or place the
    sessions' levels better relative to each other. Only the first shows within sessions."""
    rng = np.random.default_rng(5)
    n_seeds, n_sessions = 4, 30
    baseline, tracks, levels = (np.empty((n_seeds, n_sessions, 2, 6)) for _ in range(3))
    for s in range(n_sessions):  # every seed is scored on the same test sessions
        length = int(rng.integers(80, 160))
        level = rng.normal(0, 0.5, 2)  # the speaker's own level
        gold = level + rng.normal(0, 0.3, (length, 2))
        centred, at = gold - gold.mean(axis=0), gold.mean(axis=0)
        # both miss every session's level by 0.4, so each session's own CCC is the same;
        # the baseline misses towards the middle (its levels shrink together), the
        # level-placing method away from it (its levels spread like gold's)
        miss = 0.4 * np.sign(level)
        for k in range(n_seeds):
            course = 0.5 * centred + rng.normal(0, 0.3, (length, 2))
            course -= course.mean(axis=0)
            better = 0.5 * course + 0.5 * centred  # follows gold more closely
            baseline[k, s] = transfer_study.session_sums(course + at - miss, gold)
            levels[k, s] = transfer_study.session_sums(course + at + miss, gold)
            tracks[k, s] = transfer_study.session_sums(better + at - miss, gold)
    same = transfer_study.within_session_difference(baseline, baseline, resamples=1000)
    for d in transfer_study.DIMENSIONS:
        for figure in same[d].values():
            assert figure == {"mean": 0.0, "crossed": {"low": 0.0, "high": 0.0}}
    by_level = transfer_study.within_session_difference(levels, baseline, resamples=1000)
    by_course = transfer_study.within_session_difference(tracks, baseline, resamples=1000)
    for d in transfer_study.DIMENSIONS:
        assert abs(by_level[d]["within"]["mean"]) < 1e-9
        assert abs(by_level[d]["within"]["crossed"]["high"]) < 1e-9
        assert by_level[d]["pooled_minus_within"]["crossed"]["low"] > 0.05
        assert by_course[d]["within"]["crossed"]["low"] > 0.05
        # pooled and within agree on a gain that lies in the course
        assert (
            abs(by_course[d]["pooled_minus_within"]["mean"])
            < 0.5 * (by_course[d]["within"]["mean"])
        )
    pooled = transfer_study.paired_difference(levels, baseline, resamples=200)
    for d in transfer_study.DIMENSIONS:
        assert by_level[d]["pooled_minus_within"]["mean"] == pytest.approx(
            pooled[d]["mean"], abs=1e-4
        )
    with pytest.raises(ValueError, match="equal shapes"):
        transfer_study.within_session_difference(baseline[:2], baseline)


def test_the_crossed_interval_keeps_the_shared_sessions_uncertainty_as_seeds_grow() -> None:
    """Every seed is scored on the same test sessions. A difference that comes from which
    sessions were drawn (here: the method helps on some sessions and hurts on others,
    identically for every seed) is not averaged away by more seeds: the crossed interval
    keeps its width, while the protocol's per-seed session draw narrows it."""
    rng = np.random.default_rng(3)
    b_runs, a_runs = [], []
    for i, (prediction, gold) in enumerate(_sessions(rng, 12)):
        better = prediction.copy()
        pull = 0.6 if i % 2 else -0.6  # towards gold on odd sessions, away on even ones
        better[:, 1] = (1 - pull) * prediction[:, 1] + pull * gold[:, 1]
        b_runs.append(transfer_study.session_sums(prediction, gold))
        a_runs.append(transfer_study.session_sums(better, gold))
    a, b = np.array([a_runs]), np.array([b_runs])  # one seed

    def widths(seeds: int) -> tuple[float, float, dict]:
        diff = transfer_study.paired_difference(
            np.repeat(a, seeds, axis=0), np.repeat(b, seeds, axis=0), resamples=2000
        )
        return transfer_study.half_width(diff), transfer_study.half_width(diff, True), diff

    protocol_4, crossed_4, diff = widths(4)
    protocol_16, crossed_16, _ = widths(16)
    # identical seeds: resampling them changes nothing, so the crossed interval is its
    # sessions part
    valence = diff["valence"]
    assert valence["half_width_seeds_only"] == 0.0
    crossed = valence["crossed"]
    assert round((crossed["high"] - crossed["low"]) / 2, 4) == valence["half_width_sessions_only"]
    assert abs(crossed_16 - crossed_4) < 0.2 * crossed_4
    # the protocol's interval halves with four times the seeds (1/sqrt(n))
    assert protocol_16 < 0.65 * protocol_4
    assert protocol_16 < 0.65 * crossed_16


def test_checkpoint_averaging_averages_floats_and_keeps_the_rest() -> None:
    states = [{"w": torch.full((2,), float(i)), "n": torch.tensor(i)} for i in range(4)]
    averaged = average_states(states[1:])
    assert torch.equal(averaged["w"], torch.full((2,), 2.0))
    assert int(averaged["n"]) == 3


def test_label_scarce_splits_keep_one_subset_per_seed(tiny_corpus: Path) -> None:
    splits = load_splits(AvecCorpus(tiny_corpus), FrontendConfig(), splits=("train",))
    train = splits["train"]
    assert labelled_subset(train, 1, seed=4) == labelled_subset(train, 1, seed=4)
    picks = {tuple(labelled_subset(train, 1, seed=s)) for s in range(8)}
    assert len(picks) == 2  # the choice moves with the seed
    config = TrainConfig(labelled=1, seed=4, chunk_s=4.0)
    keep = labelled_subset(train, 1, seed=4)[0]
    semi, same_config = scarce_split(train, config, keeps_unlabelled=True)
    assert same_config == config and len(semi) == len(train)
    for i, session in enumerate(semi):
        assert bool(torch.isnan(session.labels).all()) == (i != keep)
    alone, steps = scarce_split(train, config, keeps_unlabelled=False)
    assert [s.name for s in alone] == [train[keep].name]
    full = sum(s.n_frames for s in train) // 100  # 4 s chunks at 25 Hz
    assert steps.chunks_per_epoch == full
    with pytest.raises(Exception, match="the training split has 2 sessions"):
        labelled_subset(train, 3, seed=0)


def test_labelled_sessions_can_be_named(tiny_corpus: Path) -> None:
    """The more/* cells keep the labels of the study corpus's own training sessions, by name,
    whatever the seed; the rest of the larger corpus trains without the task loss."""
    train = load_splits(AvecCorpus(tiny_corpus), FrontendConfig(), splits=("train",))["train"]
    named = train[1].name
    for seed in (0, 4):
        config = TrainConfig(labelled_sessions=(named,), seed=seed, chunk_s=4.0)
        semi, same_config = scarce_split(train, config, keeps_unlabelled=True)
        assert same_config == config
        assert [bool(torch.isnan(s.labels).all()) for s in semi] == [True, False]
        torch.testing.assert_close(semi[1].labels, train[1].labels)
    alone, _ = scarce_split(train, config, keeps_unlabelled=False)
    assert [s.name for s in alone] == [named]
    with pytest.raises(EdgeAffectError, match="not in the training split: train_99"):
        scarce_split(train, TrainConfig(labelled_sessions=(named, "train_99")), True)
    with pytest.raises(EdgeAffectError, match="as a count or by name, not both"):
        TrainConfig(labelled=1, labelled_sessions=(named,))


def _session(name: str, n_frames: int, labelled: bool, fill: float) -> SessionData:
    labels = torch.full((n_frames, 2), float(fill) if labelled else float("nan"))
    labels[:, 0] += torch.arange(n_frames) / n_frames  # every frame's labels differ
    return SessionData(name, "train", torch.full((4 * n_frames, 3), float(fill)), labels, labels)


def _rows(batch: dict[str, Tensor]) -> list[tuple[float, float]]:
    """Each chunk of ``batch`` as (its session's fill value, its first label frame)."""
    chunks = zip(batch["mel"], batch["labels"], strict=True)
    return [(float(mel[0, 0]), float(labels[0, 0])) for mel, labels in chunks]


def test_mixed_batches_are_the_labelled_runs_batches_plus_unlabelled_chunks() -> None:
    """The mixed/* cells: each batch is, chunk for chunk, the batch of a run on the labelled
    sessions alone, with the unlabelled chunks appended; as many steps as that run."""
    labelled = [_session(f"train_{i}", 300 + 40 * i, True, i) for i in (1, 2, 3)]
    unlabelled = [_session(f"train_{i}", 500, False, i) for i in (4, 5, 6, 7)]
    mixed = [labelled[0], unlabelled[0], labelled[1], *unlabelled[1:], labelled[2]]
    config = TrainConfig(seed=3, chunk_s=2.0, batch_size=4)  # 22 chunks of 50 frames
    runtime = Runtime(torch.device("cpu"))
    alone = training_batches(labelled, config, runtime)
    both = training_batches(mixed, replace(config, unlabelled_per_batch=3), runtime)
    for epoch in (0, 1):
        alone.set_epoch(epoch)
        both.set_epoch(epoch)
        assert len(both) == len(alone) == 6
        drawn: set[float] = set()
        for one, two in zip(alone, both, strict=True):
            rows = _rows(two)
            assert rows[: len(rows) - 3] == _rows(one)  # the labelled run's chunks, in order
            extra = two["labels"][len(rows) - 3 :]
            assert len(rows) - 3 == len(_rows(one)) and bool(torch.isnan(extra).all())
            drawn |= {fill for fill, _ in rows[len(rows) - 3 :]}
        assert drawn <= {4.0, 5.0, 6.0, 7.0} and len(drawn) > 1
    assert both.audio_h > alone.audio_h
    with pytest.raises(EdgeAffectError, match="this run has 3 labelled and 0 unlabelled"):
        training_batches(labelled, replace(config, unlabelled_per_batch=3), runtime)
    short = [*labelled, _session("train_9", 20, False, 9.0)]
    with pytest.raises(EdgeAffectError, match="shorter than one chunk"):
        training_batches(short, replace(config, unlabelled_per_batch=3), runtime)
    with pytest.raises(EdgeAffectError, match="--unlabelled-per-batch must not be negative"):
        TrainConfig(unlabelled_per_batch=-1)


def _frames(batch: dict[str, Tensor]) -> list[tuple[float, float]]:
    """Each chunk of ``batch`` as (its session's fill value, its first frame's feature): a
    chunk's place in its session, labelled or not."""
    chunks = zip(batch["mel"], batch["features"], strict=True)
    return [(float(mel[0, 0]), float(features[0, 0])) for mel, features in chunks]


def test_mixed_batches_can_keep_a_label_scarce_twins_batches() -> None:
    """The scarce-N/mixed-align-mse-distill cells: with batch sessions named, each batch is,
    chunk for chunk, the batch of the label-scarce twin (its labelled and unlabelled
    speakers), with chunks of the other sessions, all without labels, appended."""

    def session(name: str, n_frames: int, labelled: bool, fill: float) -> SessionData:
        one = _session(name, n_frames, labelled, fill)
        return replace(one, features=torch.arange(n_frames, dtype=torch.float32)[:, None])

    twin = [session("train_1", 300, True, 1), session("train_2", 340, False, 2)]
    twin.append(session("train_3", 380, True, 3))
    extra = [session(f"train_{i}", 500, False, i) for i in (4, 5, 6)]
    sessions = [twin[0], extra[0], twin[1], extra[1], twin[2], extra[2]]
    config = TrainConfig(seed=5, chunk_s=2.0, batch_size=4)
    runtime = Runtime(torch.device("cpu"))
    names = tuple(s.name for s in twin)
    alone = training_batches(twin, config, runtime)
    mixed = replace(config, unlabelled_per_batch=3, batch_sessions=names)
    both = training_batches(sessions, mixed, runtime)
    seen: set[float] = set()
    for epoch in (0, 1):
        alone.set_epoch(epoch)
        both.set_epoch(epoch)
        assert len(both) == len(alone) == 5  # 20 chunks of 50 frames
        for one, two in zip(alone, both, strict=True):
            rows = _frames(two)
            assert rows[:-3] == _frames(one)  # the twin's chunks, unlabelled ones included
            seen |= {fill for fill, _ in rows[:-3]}
            assert {fill for fill, _ in rows[-3:]} <= {4.0, 5.0, 6.0}
            assert bool(torch.isnan(two["labels"][-3:]).all())
    assert seen == {1.0, 2.0, 3.0}
    # the labels-only split would have put the twin's unlabelled speaker among the extra
    plain = training_batches(sessions, replace(config, unlabelled_per_batch=3), runtime)
    assert len(plain) < len(both)
    labelled_extra = [*sessions[:-1], session("train_6", 500, True, 6)]
    with pytest.raises(EdgeAffectError, match="these have labels: train_6"):
        training_batches(labelled_extra, mixed, runtime)
    with pytest.raises(EdgeAffectError, match="not in the training split: train_9"):
        training_batches(sessions, replace(mixed, batch_sessions=("train_9",)), runtime)
    with pytest.raises(EdgeAffectError, match="besides the batch sessions"):
        training_batches(twin, mixed, runtime)
    with pytest.raises(EdgeAffectError, match="batch sessions go with --unlabelled-per-batch"):
        TrainConfig(batch_sessions=names)


def test_the_label_scarce_mixed_cells_are_their_distillation_twins_plus_extra_speakers() -> None:
    """protocol.md, "the label-scarce distillation on more speakers without labels": each
    cell is scarce-N/align-mse-distill on the --more-data corpus, its extra speakers without
    labels, appended to the twin's batches as the mixed/* cells append them; 9, 4, 2."""
    names = [name for name in transfer_study.CELLS if name.endswith("/mixed-align-mse-distill")]
    assert names == [f"scarce-{n}/mixed-align-mse-distill" for n in (9, 4, 2)]
    mixed = transfer_study.CELLS["mixed/align-mse-distill"]
    for name in names:
        cell = transfer_study.CELLS[name]
        twin = transfer_study.CELLS[name.replace("/mixed-", "/")]
        assert cell == replace(
            twin,
            name=name,
            extra_train=mixed.extra_train,
            unlabelled_extra=True,
            unlabelled_per_batch=mixed.unlabelled_per_batch,
        )
        assert cell.reference == f"scarce-{cell.labelled}/baseline"


def test_unlabelled_chunks_train_translation_and_alignment_but_not_the_task() -> None:
    torch.manual_seed(0)
    student = AudioStudent(StudentConfig(FrontendConfig(), EncoderConfig(hidden=8), 8))
    task = StudentTask(student, None, TransferConfig(method="baseline")).eval()  # no dropout
    mel = torch.randn(3, 40 * 4, 64)
    labels = torch.rand(3, 40, 2)
    full = task(mel, labels, torch.zeros(3, 40, 1))["task"]
    prediction = student.represent_mel(mel)[0]
    assert torch.allclose(full, task_loss(prediction, labels))
    masked = labels.clone()
    masked[1] = float("nan")
    partial = task(mel, masked, torch.zeros(3, 40, 1))["task"]
    rows = torch.tensor([0, 2])
    assert torch.allclose(partial, task_loss(prediction[rows], labels[rows]))
    none = task(mel, torch.full_like(labels, float("nan")), torch.zeros(3, 40, 1))["task"]
    assert float(none.detach()) == 0.0 and none.requires_grad


def test_distillation_trains_the_unlabelled_chunks_towards_the_teachers_predictions() -> None:
    """``distill_weight``: 1 - CCC against the frozen teacher's predictions, over the frames
    without labels only; the task loss is unchanged; a fully labelled batch adds 0."""
    torch.manual_seed(0)
    student = AudioStudent(StudentConfig(FrontendConfig(), EncoderConfig(hidden=8), 8))
    teacher = Teacher(TeacherConfig(("video",), 5, EncoderConfig(kind="bigru", hidden=8)))
    config = TransferConfig(method="no-translation", align="mse", distill_weight=2.0)
    task = StudentTask(student, teacher, config).eval()
    mel, features = torch.randn(3, 40 * 4, 64), torch.randn(3, 40, 5)
    labels = torch.rand(3, 40, 2)
    labels[1] = float("nan")
    out = task(mel, labels, features)
    prediction = student.represent_mel(mel)[0]
    targets = teacher.represent(features)[0]
    rows, other = torch.tensor([1]), torch.tensor([0, 2])
    torch.testing.assert_close(out["distill"], task_loss(prediction[rows], targets[rows]))
    torch.testing.assert_close(out["task"], task_loss(prediction[other], labels[other]))
    expected = out["task"] + out["alignment"] + 2.0 * out["distill"]
    torch.testing.assert_close(out["loss"], expected)
    assert float(out["distill"].detach()) > 0.05  # an untrained student is not its teacher
    full = task(mel, torch.rand(3, 40, 2), features)["distill"]
    assert float(full.detach()) == 0.0 and full.requires_grad
    with pytest.raises(EdgeAffectError, match="--distill-weight needs a teacher"):
        StudentTask(student, None, TransferConfig(method="baseline", distill_weight=1.0))
    with pytest.raises(EdgeAffectError, match="--distill-weight must not be negative"):
        TransferConfig(distill_weight=-1.0)


def test_distillation_can_train_towards_a_frozen_audio_models_predictions() -> None:
    """``distill_from="audio"``: the targets are the frozen audio model's predictions from
    the student's own log-mel chunks, over the frames without labels; the video teacher
    still gives translation and alignment; no gradient reaches the audio model."""
    torch.manual_seed(0)
    config = StudentConfig(FrontendConfig(), EncoderConfig(hidden=8), 8)
    student, audio = AudioStudent(config), AudioStudent(config)
    teacher = Teacher(TeacherConfig(("video",), 5, EncoderConfig(kind="bigru", hidden=8)))
    distil = TransferConfig(
        method="no-translation", align="mse", distill_weight=2.0, distill_from="audio"
    )
    task = StudentTask(student, teacher, distil, audio).eval()
    mel, features = torch.randn(3, 40 * 4, 64), torch.randn(3, 40, 5)
    labels = torch.rand(3, 40, 2)
    labels[1] = float("nan")
    out = task(mel, labels, features)
    prediction = student.represent_mel(mel)[0]
    rows = torch.tensor([1])
    targets = audio.represent_mel(mel)[0]
    torch.testing.assert_close(out["distill"], task_loss(prediction[rows], targets[rows]))
    video = teacher.represent(features)[0]
    assert not torch.allclose(out["distill"], task_loss(prediction[rows], video[rows]))
    torch.testing.assert_close(out["loss"], out["task"] + out["alignment"] + 2.0 * out["distill"])
    out["loss"].backward()
    assert all(p.grad is None for p in audio.parameters())
    assert any(p.grad is not None for p in student.parameters())
    # the task in training mode keeps the frozen audio model in eval mode
    assert not task.train().audio_teacher.training  # type: ignore[union-attr]
    # without a video teacher: self-training alone
    alone = TransferConfig(method="baseline", distill_weight=1.0, distill_from="audio")
    assert "distill" in StudentTask(student, None, alone, audio)(mel, labels, features)
    with pytest.raises(EdgeAffectError, match="needs that model"):
        StudentTask(student, teacher, distil)
    with pytest.raises(EdgeAffectError, match="needs that model"):
        StudentTask(student, teacher, replace(distil, distill_from="teacher"), audio)
    other = AudioStudent(replace(config, frontend=FrontendConfig(n_mels=32)))
    with pytest.raises(EdgeAffectError, match="another frontend than the student"):
        StudentTask(student, None, alone, other)
    with pytest.raises(EdgeAffectError, match="needs --distill-weight > 0"):
        TransferConfig(distill_from="audio")
    with pytest.raises(EdgeAffectError, match="unknown distillation source 'video'"):
        TransferConfig(distill_weight=1.0, distill_from="video")  # type: ignore[arg-type]


def test_the_self_distillation_cells_are_the_mixed_cells_with_the_baselines_targets() -> None:
    """protocol.md, "whose predictions give the gain": each cell is its
    scarce-N/mixed-align-mse-distill twin with the targets of the seed's audio baseline,
    at the snapshot the 25-seed table chose for that baseline on dev."""
    names = [n for n in transfer_study.CELLS if n.endswith("/mixed-align-mse-selfdistill")]
    assert names == [f"scarce-{n}/mixed-align-mse-selfdistill" for n in (9, 4, 2)]
    loaded = transfer_study.load_results(Path("docs/results/study"))
    full, smoke = transfer_study.PLANS["full"], transfer_study.PLANS["smoke"]
    for name in names:
        cell = transfer_study.CELLS[name]
        twin = transfer_study.CELLS[name.replace("selfdistill", "distill")]
        assert cell == replace(twin, name=name, distill_from="baseline")
        baseline = f"scarce-{cell.labelled}/baseline"
        first_25 = {s: r for s, r in loaded[baseline].items() if s < 25}
        assert len(first_25) == 25
        chosen = transfer_study.choose_epochs(first_25)
        assert transfer_study.audio_teacher_epoch(cell.labelled, full) == chosen
        assert transfer_study.audio_teacher_epoch(cell.labelled, smoke) == smoke.epochs


def test_the_label_scarce_distillation_cells_are_their_mse_twins_plus_distillation() -> None:
    """protocol.md, "the teacher's predictions as targets on the label-scarce curve": each
    cell is scarce-N/align-mse with distillation weight 1, run 9, 4, 2 within a seed."""
    names = [name for name in transfer_study.CELLS if name.endswith("/align-mse-distill")]
    scarce = [name for name in names if name.startswith("scarce-")]
    assert scarce == [f"scarce-{n}/align-mse-distill" for n in (9, 4, 2)]
    for name in scarce:
        cell = transfer_study.CELLS[name]
        twin = transfer_study.CELLS[name.removesuffix("-distill")]
        assert cell == replace(twin, name=name, distill_weight=1.0)
        assert cell.reference == twin.reference == f"scarce-{cell.labelled}/baseline"


def test_the_reseed_cells_are_their_twins_with_another_training_seed() -> None:
    """protocol.md, "which part of a seed decides the label-scarce gain": each cell is its
    twin with the training seed moved by RESEED_OFFSET, paired with the reseeded baseline."""
    names = [name for name in transfer_study.CELLS if name.endswith("-reseed")]
    assert names == [
        f"scarce-{n}/{m}-reseed" for n in (9, 4, 2) for m in ("baseline", "mixed-align-mse-distill")
    ]
    offset = transfer_study.RESEED_OFFSET
    for name in names:
        cell = transfer_study.CELLS[name]
        twin = transfer_study.CELLS[name.removesuffix("-reseed")]
        reference = f"{twin.reference}-reseed" if twin.reference else ""
        assert cell == replace(twin, name=name, reference=reference, init_offset=offset)
        assert cell.train_seed(7) == 7 + offset and twin.train_seed(7) == 7
    # no table's seed reaches the offset: a reseeded run never repeats a run of the table
    for results in Path("docs/results").glob("study*"):
        assert all(
            s < offset for by_seed in transfer_study.load_results(results).values() for s in by_seed
        ), results


@pytest.mark.slow
def test_a_reseeded_run_keeps_its_seeds_speakers_and_trains_with_the_other_seed(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """With both training speakers labelled (the tiny corpus has 2), seed 0 of a reseed cell
    is seed RESEED_OFFSET of its twin, bit for bit: the speakers named, the rest of the seed
    moved. Its teacher is the twin's teacher of that seed, in a folder of its own."""
    deterministic = torch.are_deterministic_algorithms_enabled()  # run_one turns it on
    try:
        _reseeded_runs(tiny_corpus, tmp_path)
    finally:
        torch.use_deterministic_algorithms(deterministic)


def _reseeded_runs(tiny_corpus: Path, tmp_path: Path) -> None:
    offset = transfer_study.RESEED_OFFSET
    plan = transfer_study.PLANS["smoke"]
    runs, results = tmp_path / "runs", tmp_path / "results"
    names = training_sessions(tiny_corpus)
    for cell, seed in (("scarce-2/baseline-reseed", 0), ("scarce-2/baseline", offset)):
        transfer_study.run_one(tiny_corpus, runs, results, cell, seed, plan)
    reseeded = json.loads((results / "scarce-2--baseline-reseed--s0.json").read_text())
    twin = json.loads((results / f"scarce-2--baseline--s{offset}.json").read_text())
    assert reseeded["train_seed"] == offset and reseeded["labelled_sessions"] == list(names)
    assert "train_seed" not in twin
    assert reseeded["snapshots"] == twin["snapshots"]
    transfer_study.run_one(tiny_corpus, runs, results, "scarce-2/baseline", 0, plan)
    plain = json.loads((results / "scarce-2--baseline--s0.json").read_text())
    assert plain["snapshots"] != reseeded["snapshots"]  # the training seed does move a run
    distill = transfer_study.CELLS["scarce-2/mixed-align-mse-distill-reseed"]
    path = transfer_study._ensure_teacher(tiny_corpus, runs, distill, 0, plan)
    assert path.parent.name == f"bigru-l2-s0-t{offset}"
    twin_path = transfer_study._ensure_teacher(
        tiny_corpus, runs, transfer_study.CELLS["scarce-2/mixed-align-mse-distill"], offset, plan
    )
    assert twin_path.parent.name == f"bigru-l2-s{offset}"
    ours, theirs = (load_checkpoint(p)["state_dict"] for p in (path, twin_path))
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.slow
def test_a_label_scarce_student_distils_the_teacher_on_the_speakers_without_labels(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """The path the scarce-N/align-mse-distill cells take, through the CLI: one labelled
    training speaker, the other trained towards the teacher's predictions."""
    out = tmp_path / "teacher"
    data = ["--data", str(tiny_corpus)]
    teacher = runner.invoke(
        app, ["train", "teacher", *data, "--modality", "video_appearance", "--out", str(out), *FAST]
    )
    assert teacher.exit_code == 0, teacher.output
    students = {}
    for weight in ("0", "1"):
        student = tmp_path / f"student-{weight}"
        options = ["--teacher", str(out / "checkpoint.pt"), "--align", "mse", "--labelled", "1"]
        options += ["--distill-weight", weight, "--seed", "3", "--out", str(student)]
        result = runner.invoke(
            app, ["train", "student", *data, "--method", "transfer", *options, *FAST]
        )
        assert result.exit_code == 0, result.output
        students[weight] = load_checkpoint(student / "checkpoint.pt")
    plain, distilled = students["0"], students["1"]
    assert distilled["transfer"]["distill_weight"] == 1.0
    assert distilled["transfer"]["align"] == "mse"
    assert distilled["train_args"]["labelled"] == plain["train_args"]["labelled"] == 1
    # the same seed, batches and labelled speaker: only the distillation term differs
    assert any(
        not torch.equal(value, distilled["state_dict"][key])
        for key, value in plain["state_dict"].items()
    )


@pytest.mark.slow
def test_a_student_can_distil_a_frozen_audio_student_through_the_cli(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """``--distill-from``: self-training on the speakers without labels, towards the
    predictions of an earlier audio student (no teacher modality); its frontend must match."""
    data = ["--data", str(tiny_corpus), "--method", "baseline", "--level-tau", "60", *FAST]
    first = tmp_path / "first"
    result = runner.invoke(app, ["train", "student", *data, "--out", str(first)])
    assert result.exit_code == 0, result.output
    source = first / "checkpoint.pt"
    options = ["--labelled", "1", "--seed", "3", "--distill-weight", "1"]
    out = tmp_path / "second"
    args = ["train", "student", *data, *options, "--distill-from", str(source), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = load_checkpoint(out / "checkpoint.pt")
    assert saved["transfer"]["distill_from"] == "audio"
    assert saved["transfer"]["method"] == "baseline" and saved["teacher_config"] is None
    assert saved["audio_teacher_config"] == load_checkpoint(source)["model_config"]
    plain = tmp_path / "plain"
    args = ["train", "student", *data, "--labelled", "1", "--seed", "3", "--out", str(plain)]
    assert runner.invoke(app, args).exit_code == 0
    # the same seed and labelled speaker: the distillation term changes the weights
    assert any(
        not torch.equal(value, saved["state_dict"][key])
        for key, value in load_checkpoint(plain / "checkpoint.pt")["state_dict"].items()
    )
    other = [*args[:-2], "--level-tau", "30", "--distill-weight", "1", "--distill-from"]
    result = runner.invoke(app, [*other, str(source), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "reads another frontend than this one" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_recola_preset_records_its_numbers_and_old_presets_do_not_change() -> None:
    recola = PRESETS["recola"].to_dict()
    assert recola["sessions_per_split"] == 18 and recola["chain"] is True
    assert recola["valence_cue"] > 1 and recola["arousal_cue"] > 1
    assert recola["video"]["noise_sd"] > 0.4
    assert set(PRESETS["avec"].to_dict()) == {"name", "sessions_per_split", "duration_s", "snr_db"}


def _study(args: list[str]) -> tuple[int, str]:
    result = runner.invoke(app, ["train", "study", *args])
    return result.exit_code, result.output + (result.stderr or "")


@pytest.mark.slow
def test_the_study_resumes_from_its_result_files(tiny_corpus: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    cells = [
        "--cell",
        "all/baseline",
        "--cell",
        "all/transfer",
        "--cell",
        "design/translate-latent",
    ]
    common = ["--data", str(tiny_corpus), "--runs", str(tmp_path / "runs")]
    base = [*common, "--results", str(results), "--plan", "smoke", "--seeds", "2", *cells]
    code, output = _study(base)
    assert code == 0, output
    files = sorted(p.name for p in results.glob("*--s*.json"))
    assert len(files) == 6
    record = json.loads((results / "all--transfer--s1.json").read_text())
    assert record["env"]["ATEN_CPU_CAPABILITY"] == "default"
    assert record["torch_cpu_capability"] == "DEFAULT"
    assert sorted(record["snapshots"]) == ["2", "4"]
    assert len(record["snapshots"]["4"]["test_sums"]) == 2  # the tiny corpus's test sessions
    # each run keeps its snapshots' weights; the last is the weights of its checkpoint
    run = tmp_path / "runs" / "all--transfer" / "s1"
    weights = torch.load(run / transfer_study.SNAPSHOT_WEIGHTS, weights_only=True)
    assert sorted(weights) == [2, 4]
    student = load_checkpoint(run / "checkpoint.pt")["state_dict"]
    assert all(torch.equal(v, weights[4][f"student.{k}"]) for k, v in student.items())
    assert not all(torch.equal(v, weights[2][f"student.{k}"]) for k, v in student.items())
    table = json.loads((results / "table.json").read_text())
    diff = table["cells"]["all/transfer"]["difference"]
    assert diff["reference"] == "all/baseline" and diff["seeds"] == [0, 1]
    assert "| design/translate-latent | 2 |" in (results / "table.md").read_text()
    # a second call runs nothing; a removed result file is run again, and only it
    code, output = _study(base)
    assert code == 0 and "0 runs to do (6 already have results)" in output
    (results / "all--transfer--s1.json").unlink()
    code, output = _study(base)
    assert code == 0 and "1 runs to do (5 already have results)" in output
    again = json.loads((results / "all--transfer--s1.json").read_text())
    assert again["snapshots"] == record["snapshots"]  # same machine, same pinned paths
    # --like: recompute the pairs another results folder has (here: one cell's)
    elsewhere = tmp_path / "elsewhere"
    like = [*common, "--results", str(elsewhere), "--plan", "smoke", "--like", str(results)]
    code, output = _study([*like, "--cell", "all/transfer"])
    assert code == 0 and "2 runs to do (0 already have results)" in output, output
    assert sorted(p.name for p in elsewhere.glob("*--s*.json")) == [
        "all--transfer--s0.json",
        "all--transfer--s1.json",
    ]
    recomputed = json.loads((elsewhere / "all--transfer--s1.json").read_text())
    assert recomputed["snapshots"] == record["snapshots"]
    code, output = _study([*common, "--results", str(results), "--like", str(results)])
    assert code == 2 and "--like and --results are the same folder" in output
    # --table-seeds: the table as it stood with seed 0 alone, printed; no file rewritten
    before = (results / "table.json").read_bytes()
    shown = ["--results", str(results), "--table-seeds", "1"]
    code, output = _study([*shown, "--table-only"])
    assert code == 0 and "| all/transfer | 1 |" in output and "all/baseline (1)" in output
    assert "| all/transfer | 2 |" not in output
    assert (results / "table.json").read_bytes() == before
    code, output = _study(shown)
    assert code == 2 and "--table-seeds and --table-sessions go with --table-only" in output


@pytest.mark.slow
def test_the_more_data_ceiling_trains_on_more_speakers_with_equal_steps(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    extra = transfer_study.MORE_DATA_EXTRA_TRAIN
    more = tmp_path / "more"
    generate_corpus(more, preset="tiny", seed=0, extra_train=extra, jobs=2)
    config = TrainConfig()
    train = load_splits(AvecCorpus(tiny_corpus), FrontendConfig(), ())["train"]
    natural = ChunkDataset(train, round(config.chunk_s * LABEL_RATE_HZ), seed=0).n_chunks
    assert natural_chunks(tiny_corpus) == natural
    assert natural_chunks(more) == natural * (2 + extra) // 2  # tiny: 2 training sessions
    results, runs = tmp_path / "results", tmp_path / "runs"
    args = ["--data", str(tiny_corpus), "--runs", str(runs), "--results", str(results)]
    args += ["--plan", "smoke", "--seeds", "1", "--cell", "all/baseline"]
    code, output = _study([*args, "--cell", "all/ceiling-data"])
    assert code == 2 and "all/ceiling-data: give --more-data" in output
    code, output = _study([*args, "--cell", "all/ceiling-data", "--more-data", str(tiny_corpus)])
    assert code == 2 and f"is not `synth --preset tiny --seed 0 --extra-train {extra}`" in output
    code, output = _study([*args, "--cell", "all/ceiling-data", "--more-data", str(more)])
    assert code == 0, output
    record = json.loads((results / "all--ceiling-data--s0.json").read_text())
    baseline = json.loads((results / "all--baseline--s0.json").read_text())
    assert record["corpus"]["extra_train"] == extra and "extra_train" not in baseline["corpus"]
    assert record["test_sessions"] == baseline["test_sessions"]
    saved = load_checkpoint(runs / "all--ceiling-data" / "s0" / "checkpoint.pt")
    assert saved["train_args"]["chunks_per_epoch"] == natural  # the study corpus's steps
    table = json.loads((results / "table.json").read_text())
    assert table["cells"]["all/ceiling-data"]["difference"]["reference"] == "all/baseline"
    assert table["dev_winner"] == "all/baseline"  # a ceiling is never the default method
    # the more/* cells: the same larger corpus and steps, labels on the study corpus's
    # training sessions only, and the all-labels teacher of the seed
    code, output = _study([*args, "--cell", "more/align-mse", "--more-data", str(more)])
    assert code == 0, output
    saved = load_checkpoint(runs / "more--align-mse" / "s0" / "checkpoint.pt")
    assert saved["train_args"]["chunks_per_epoch"] == natural
    assert list(saved["train_args"]["labelled_sessions"]) == [s.name for s in train]
    assert (runs / "teachers" / "bigru-l0-s0" / "checkpoint.pt").is_file()
    record = json.loads((results / "more--align-mse--s0.json").read_text())
    assert record["cell"]["unlabelled_extra"] and record["cell"]["align"] == "mse"
    table = json.loads((results / "table.json").read_text())
    assert table["cells"]["more/align-mse"]["difference"]["reference"] == "all/baseline"
    # the mixed/* cells: the all-labels run's batches (its steps), plus unlabelled chunks
    code, output = _study([*args, "--cell", "mixed/align-mse", "--more-data", str(more)])
    assert code == 0, output
    saved = load_checkpoint(runs / "mixed--align-mse" / "s0" / "checkpoint.pt")
    assert saved["train_args"]["chunks_per_epoch"] == 0
    assert saved["train_args"]["unlabelled_per_batch"] == 8
    assert list(saved["train_args"]["labelled_sessions"]) == [s.name for s in train]
    record = json.loads((results / "mixed--align-mse--s0.json").read_text())
    assert record["corpus"]["extra_train"] == extra and record["cell"]["align"] == "mse"
    assert saved["transfer"]["distill_weight"] == 0.0
    # ... and with the teacher's predictions as targets on the unlabelled chunks
    cell = "mixed/align-mse-distill"
    code, output = _study([*args, "--cell", cell, "--more-data", str(more)])
    assert code == 0, output
    saved = load_checkpoint(runs / "mixed--align-mse-distill" / "s0" / "checkpoint.pt")
    assert saved["transfer"]["distill_weight"] == 1.0 and saved["transfer"]["align"] == "mse"
    assert saved["train_args"]["unlabelled_per_batch"] == 8
    record = json.loads((results / "mixed--align-mse-distill--s0.json").read_text())
    assert record["cell"]["distill_weight"] == 1.0 and record["cell"]["unlabelled_per_batch"] == 8
    # ... and on the label-scarce curve: the twin's labelled speakers (drawn among the study
    # corpus's training sessions, in the order a run on the study corpus loads them), its
    # batches, the label-scarce teacher of the seed, and the extra speakers appended
    assert list(training_sessions(tiny_corpus)) == [s.name for s in train]
    cell = "scarce-2/mixed-align-mse-distill"
    code, output = _study([*args, "--cell", cell, "--more-data", str(more)])
    assert code == 0, output
    saved = load_checkpoint(runs / "scarce-2--mixed-align-mse-distill" / "s0" / "checkpoint.pt")
    drawn = [train[i].name for i in labelled_subset(train, 2, 0)]
    assert list(saved["train_args"]["labelled_sessions"]) == drawn
    assert saved["train_args"]["labelled"] == 0
    assert list(saved["train_args"]["batch_sessions"]) == [s.name for s in train]
    assert saved["train_args"]["unlabelled_per_batch"] == 8
    assert saved["transfer"]["distill_weight"] == 1.0 and saved["transfer"]["align"] == "mse"
    assert (runs / "teachers" / "bigru-l2-s0" / "checkpoint.pt").is_file()
    record = json.loads((results / "scarce-2--mixed-align-mse-distill--s0.json").read_text())
    assert record["corpus"]["extra_train"] == extra and record["cell"]["labelled"] == 2
    # ... and its self-distillation control: the targets of the table's audio baseline of the
    # seed, whose result file must be there first and whose weights must equal it bit for bit
    cell = "scarce-2/mixed-align-mse-selfdistill"
    code, output = _study([*args, "--cell", cell, "--more-data", str(more)])
    assert code == 2 and "run scarce-2/baseline seed 0 first" in output
    assert "Traceback" not in output
    code, output = _study([*args, "--cell", "scarce-2/baseline"])
    assert code == 0, output
    baseline_dir = runs / "scarce-2--baseline" / "s0"
    shutil.rmtree(baseline_dir)  # its weights are trained again here, then checked
    code, output = _study([*args, "--cell", cell, "--more-data", str(more)])
    assert code == 0, output
    assert "audio teacher scarce-2/baseline seed 0 epoch 4 (equal to the table's run)" in output
    source = load_checkpoint(baseline_dir / "audio-teacher-e4.pt", kind="student")
    assert source["source"] == {"cell": "scarce-2/baseline", "seed": 0, "epoch": 4}
    weights = torch.load(baseline_dir / "snapshots.pt", weights_only=True)
    assert source["state_dict"].keys() and all(
        torch.equal(value, weights[4][f"student.{key}"])
        for key, value in source["state_dict"].items()
    )
    saved = load_checkpoint(runs / "scarce-2--mixed-align-mse-selfdistill" / "s0" / "checkpoint.pt")
    twin = load_checkpoint(runs / "scarce-2--mixed-align-mse-distill" / "s0" / "checkpoint.pt")
    assert twin["transfer"]["distill_from"] == "teacher"
    assert saved["transfer"] == {**twin["transfer"], "distill_from": "audio"}
    assert saved["train_args"] == twin["train_args"]
    assert saved["audio_teacher_config"] == source["model_config"]
    record = json.loads((results / "scarce-2--mixed-align-mse-selfdistill--s0.json").read_text())
    assert record["audio_teacher"] == {"cell": "scarce-2/baseline", "seed": 0, "epoch": 4}
    assert record["cell"]["distill_from"] == "baseline"
    twin_record = json.loads((results / "scarce-2--mixed-align-mse-distill--s0.json").read_text())
    assert record["snapshots"] != twin_record["snapshots"]  # other targets, another student
    # weights that are not the table's run are refused, and nothing is written
    (baseline_dir / "audio-teacher-e4.pt").unlink()
    (results / "scarce-2--mixed-align-mse-selfdistill--s0.json").unlink()
    table_file = results / "scarce-2--baseline--s0.json"
    table = json.loads(table_file.read_text())
    table["snapshots"]["2"]["dev"]["valence"] += 1e-6
    table_file.write_text(json.dumps(table) + "\n")
    code, output = _study([*args, "--cell", cell, "--more-data", str(more)])
    assert code == 2, output
    assert "not the table's scarce-2/baseline seed 0 (snapshots.2.dev.valence" in output
    assert not (baseline_dir / "audio-teacher-e4.pt").exists()
    assert not (results / "scarce-2--mixed-align-mse-selfdistill--s0.json").exists()


def test_study_errors_are_one_line(tiny_corpus: Path, tmp_path: Path) -> None:
    code, output = _study(
        ["--data", str(tiny_corpus), "--cell", "all/nothing", "--results", str(tmp_path / "r")]
    )
    assert code == 2 and "unknown cell(s) all/nothing" in output
    code, output = _study(["--table-only", "--results", str(tmp_path / "empty")])
    assert code == 2 and "no study result files" in output
    code, output = _study(
        ["--data", str(tiny_corpus), "--seeds", "x", "--results", str(tmp_path / "r")]
    )
    assert code == 2 and "--seeds 'x'" in output


def test_student_options_check_their_values(tiny_corpus: Path, tmp_path: Path) -> None:
    args = ["train", "student", "--data", str(tiny_corpus), "--out", str(tmp_path / "s"), *FAST]
    bad = [
        (["--method", "baseline", "--labelled", "5"], "the training split has 2 sessions"),
        (["--method", "baseline", "--average-last", "3"], "--average-last 3 is more than"),
        (["--method", "baseline", "--translate-to", "pixels"], "unknown translation target"),
        (["--method", "baseline", "--unlabelled-per-batch", "-1"], "must not be negative"),
        (["--method", "baseline", "--distill-weight", "1"], "--distill-weight needs a teacher"),
        (["--method", "baseline", "--distill-from", "b.pt"], "needs --distill-weight > 0"),
        (
            ["--method", "baseline", "--distill-weight", "1", "--distill-from", "b.pt"],
            "b.pt: no such checkpoint",
        ),
        (
            ["--method", "baseline", "--labelled", "1", "--unlabelled-per-batch", "4"],
            "this run has 1 labelled and 0 unlabelled",
        ),
    ]
    for extra, message in bad:
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code == 2, result.output
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_fixed_schedule_ends_on_the_average_and_is_a_prefix(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """A run of E epochs is the first E epochs of a longer one (no learning-rate schedule),
    so the study can score snapshot epochs of one run."""
    common = ["train", "student", "--data", str(tiny_corpus), "--method", "baseline", *FAST]
    for epochs in ("2", "3"):
        out = tmp_path / f"e{epochs}"
        result = runner.invoke(
            app, [*common, "--epochs", epochs, "--average-last", "2", "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
    history = [
        [
            json.loads(line)
            for line in (tmp_path / f"e{e}" / "metrics.jsonl").read_text().splitlines()
        ]
        for e in ("2", "3")
    ]
    assert len(history[0]) == 2 and len(history[1]) == 3
    for first, longer in zip(history[0], history[1], strict=False):
        assert first["train_loss"] == longer["train_loss"]
    # dev is scored where a snapshot is kept and at the end only
    assert "dev_ccc_valence" not in history[1][0] and "dev_ccc_valence" in history[1][-1]
    checkpoint = torch.load(tmp_path / "e3" / "checkpoint.pt", weights_only=True)
    assert checkpoint["train_args"]["average_last"] == 2
    assert checkpoint["metrics"]["best_epoch"] == 3


def _winner(role: str) -> list[str]:
    command = [sys.executable, "scripts/default_model.py", "winner", role]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()


def test_the_model_cards_study_block_is_the_study_tables() -> None:
    """The card quotes the study's tables, which grow between builds of the model: its block
    must be what ``scripts/default_model.py study`` writes from the committed tables."""
    command = [sys.executable, "scripts/default_model.py", "study", "--check"]
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    card = (BUNDLED_MODELS / "MODEL_CARD.md").read_text()
    table = json.loads((ROOT / "docs/results/study/table.json").read_text())
    mean = table["cells"]["all/transfer"]["difference"]["valence"]["mean"]
    assert f"{mean:+.3f}".replace("-", "−") in card


def test_the_bundled_model_is_trained_with_the_study_dev_winner() -> None:
    """The default model's method is the one the study's protocol chooses on dev (issue 18):
    ``make_default_model.sh`` reads it from the committed table, and the bundled file's
    contract records what it was trained with."""
    table = json.loads((ROOT / "docs/results/study/table.json").read_text())
    name = table["dev_winner"]
    winner, baseline = table["cells"][name], table["cells"]["all/baseline"]
    dev = {n: np.mean(list(c["dev"].values())) for n, c in table["cells"].items()}
    assert all(dev[name] >= dev[n] for n in dev if n.startswith(("all/", "design/")) and not
               table["cells"][n]["settings"]["ceiling"])  # fmt: skip
    student, reference = _winner("student"), _winner("baseline")
    settings = winner["settings"]

    def option(args: list[str], key: str) -> str:
        return args[args.index(key) + 1]

    assert option(student, "--method") == settings["method"]
    assert option(student, "--epochs") == str(winner["epochs"])
    assert option(reference, "--epochs") == str(baseline["epochs"])
    assert option(reference, "--method") == "baseline"
    assert _winner("teacher") == [settings["teacher"]]
    training = AffectModel(BUNDLED_MODELS / DEFAULT_MODEL).contract.training
    assert training["transfer"]["method"] == settings["method"]
    if settings["method"] != "baseline":
        assert training["transfer"]["align"] == settings["align"]
        assert training["transfer"]["alignment_weight"] == settings["alignment_weight"]
        assert training["transfer"].get("translate_to", "features") == settings["translate_to"]
    assert training["train_args"]["average_last"] == table["plan"]["average_last"]


def test_a_table_is_computed_on_one_cpu(tiny_corpus: Path, tmp_path: Path) -> None:
    """protocol.md: one machine per table. A results folder refuses a run on another CPU,
    and a table refuses files from several CPUs."""
    committed = ROOT / "docs/results/study"
    results = tmp_path / "results"
    results.mkdir()
    record = json.loads((committed / "all--transfer--s0.json").read_text())
    first = record["machine"]["cpu"]
    other = {**first, "model": "Other CPU", "flags": ["avx2"]}
    (results / "all--transfer--s0.json").write_text(json.dumps(record))
    transfer_study.check_one_cpu(results, first)
    with pytest.raises(EdgeAffectError, match=r"this machine is Other CPU \(x86_64; avx2\)"):
        transfer_study.check_one_cpu(results, other)
    baseline = json.loads((committed / "all--baseline--s0.json").read_text())
    baseline["machine"]["cpu"] = other
    (results / "all--baseline--s0.json").write_text(json.dumps(baseline))
    with pytest.raises(EdgeAffectError, match="mixes results from several CPUs"):
        transfer_study.assemble(results)
    (results / "all--baseline--s0.json").unlink()
    record["machine"]["cpu"] = {**first, "model": "Other CPU"}
    (results / "all--transfer--s0.json").write_text(json.dumps(record))  # not this machine
    args = ["--data", str(tiny_corpus), "--runs", str(tmp_path / "runs"), "--plan", "smoke"]
    code, output = _study([*args, "--results", str(results), "--seeds", "1"])
    assert code == 2 and "holds results computed on Other CPU" in output, output
    assert "give another --results folder" in output
    assert sorted(p.name for p in results.iterdir()) == ["all--transfer--s0.json"]


def test_runs_on_a_gpu_form_a_table_of_their_own(tiny_corpus: Path, tmp_path: Path) -> None:
    """--device cuda: the CPU runs' folder refuses a GPU run and the other way round (bf16
    and cuDNN are other float paths); without a GPU, --device cuda is a one-line error."""
    committed = ROOT / "docs/results/study"
    results = tmp_path / "results"
    results.mkdir()
    record = json.loads((committed / "all--transfer--s0.json").read_text())
    cpu = record["machine"]["cpu"]
    (results / "all--transfer--s0.json").write_text(json.dumps(record))
    transfer_study.check_one_cpu(results, cpu)
    with pytest.raises(EdgeAffectError, match=r"this machine is AMD EPYC .*\) \+ NVIDIA H200\."):
        transfer_study.check_one_cpu(results, cpu, "NVIDIA H200")
    gpu_run = json.loads((committed / "all--baseline--s0.json").read_text())
    gpu_run["machine"] = {**gpu_run["machine"], "device": "cuda", "cuda": "NVIDIA H200"}
    (results / "all--baseline--s0.json").write_text(json.dumps(gpu_run))
    with pytest.raises(EdgeAffectError, match=r"mixes results from several CPUs: .*\+ NVIDIA H200"):
        transfer_study.assemble(results)
    (results / "all--transfer--s0.json").unlink()
    transfer_study.check_one_cpu(results, cpu, "NVIDIA H200")  # a GPU table of its own
    with pytest.raises(EdgeAffectError, match=r"holds results computed on AMD EPYC .*H200"):
        transfer_study.check_one_cpu(results, cpu)
    args = ["--data", str(tiny_corpus), "--results", str(tmp_path / "gpu"), "--seeds", "1"]
    code, output = _study([*args, "--device", "tpu"])
    assert code == 2 and "unknown --device 'tpu'; use cpu or cuda" in output, output
    if not torch.cuda.is_available():  # the error a machine without a GPU gives
        code, output = _study([*args, "--device", "cuda", "--cell", "all/baseline"])
        assert code == 2 and "--device cuda: this machine has no CUDA device" in output
        assert not (tmp_path / "gpu").exists()


@pytest.mark.slow
def test_a_cpu_joins_a_table_only_after_recomputing_its_runs_bit_for_bit(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """--join: a CPU other than the table's recomputes the table's first runs (teachers
    included) and adds runs to it only if every figure is equal; else nothing is written."""
    results, runs = tmp_path / "results", tmp_path / "runs"
    common = ["--data", str(tiny_corpus), "--runs", str(runs), "--plan", "smoke"]
    first = [*common, "--results", str(results), "--seeds", "1"]
    code, output = _study([*first, "--cell", "all/baseline", "--cell", "all/transfer"])
    assert code == 0, output
    here = transfer_study.cpu_name(
        json.loads((results / "all--baseline--s0.json").read_text())["machine"]["cpu"]
    )
    for path in results.glob("*--s*.json"):  # as if another CPU had computed the table
        record = json.loads(path.read_text())
        record["machine"]["cpu"] = {**record["machine"]["cpu"], "model": "Other CPU"}
        path.write_text(json.dumps(record))
    bad = tmp_path / "bad"
    shutil.copytree(results, bad)
    more = [*common, "--results", str(results), "--seeds", "2", "--cell", "all/baseline"]
    code, output = _study(more)
    assert code == 2 and "or --join to recompute 2 of its runs here first" in output, output
    code, output = _study([*more, "--join"])
    assert code == 0, output
    assert "recomputed 2 runs bit for bit and joins" in output
    joined = json.loads((results / transfer_study.JOINED).read_text())["joined"]
    assert [j["name"] for j in joined] == [here]
    assert joined[0]["reproduced"] == ["all/baseline seed 0", "all/transfer seed 0"]
    assert (runs / "join-check" / "teachers").is_dir()  # the check trained its own teacher
    assert (results / "all--baseline--s1.json").is_file()
    table = json.loads((results / "table.json").read_text())
    assert table["machine"]["cpu"]["model"] == "Other CPU"
    assert [j["name"] for j in table["joined"]] == [here]
    code, output = _study([*more, "--join"])  # once joined, nothing to check again
    assert code == 0 and "already computes the table" in output, output
    third = {**table["machine"]["cpu"], "model": "Third CPU"}
    with pytest.raises(EdgeAffectError, match="this machine is Third CPU"):
        transfer_study.check_one_cpu(results, third)
    # one figure off: the check fails, names it, and writes nothing to the table
    record = json.loads((bad / "all--transfer--s0.json").read_text())
    record["snapshots"]["4"]["test"]["valence"] += 1e-6
    (bad / "all--transfer--s0.json").write_text(json.dumps(record))
    before = sorted(p.name for p in bad.iterdir())
    code, output = _study([*common, "--results", str(bad), "--seeds", "2", "--join"])
    assert code == 2, output
    assert (
        "all/transfer seed 0 computed here is not the table's (snapshots.4.test.valence:" in output
    )
    assert sorted(p.name for p in bad.iterdir()) == before
    code, output = _study([*common, "--results", str(bad), "--join", "--device", "cuda"])
    assert code == 2 and "--join is for a CPU" in output
    code, output = _study(["--results", str(bad), "--join", "--table-only"])
    assert code == 2 and "--join goes with runs, not with --table-only" in output
    code, output = _study([*common, "--results", str(tmp_path / "none"), "--join"])
    assert code == 2 and "no such folder" in output


def test_a_result_file_must_carry_its_own_name(tmp_path: Path) -> None:
    """A copied or renamed result file would silently replace the run that owns its name."""
    committed = ROOT / "docs/results/study"
    results = tmp_path / "results"
    results.mkdir()
    for name in ("all--baseline--s0.json", "all--transfer--s0.json"):
        (results / name).write_bytes((committed / name).read_bytes())
    assert sorted(transfer_study.load_results(results)) == ["all/baseline", "all/transfer"]
    (results / "all--transfer--s1.json").write_bytes(
        (committed / "all--transfer--s0.json").read_bytes()
    )
    with pytest.raises(
        EdgeAffectError, match=r"all--transfer--s1.json holds the run of cell all/transfer, seed 0"
    ):
        transfer_study.load_results(results)


def test_a_table_is_scored_on_one_test_split(tmp_path: Path) -> None:
    """Paired differences pair test sessions by position: runs scored on a larger test
    split (synth --extra-test) belong in their own folder, never beside the others."""
    committed = ROOT / "docs/results/study"
    results = tmp_path / "results"
    results.mkdir()
    for name in ("all--baseline--s0.json", "all--transfer--s0.json"):
        (results / name).write_bytes((committed / name).read_bytes())
    transfer_study.assemble(results)
    record = json.loads((results / "all--transfer--s0.json").read_text())
    record["test_sessions"].append("test_19")
    (results / "all--transfer--s0.json").write_text(json.dumps(record))
    with pytest.raises(EdgeAffectError, match=r"different test splits: 18 sessions .*19 sessions"):
        transfer_study.assemble(results)


def test_a_table_can_be_scored_on_part_of_its_test_split(tmp_path: Path) -> None:
    """--table-sessions: the test figures come from the chosen sessions' sums alone; all
    sessions give the stored figures, and a range outside the split is a one-line error."""
    committed = ROOT / "docs/results/study"
    results = tmp_path / "results"
    results.mkdir()
    for name in ("all--baseline--s0.json", "all--transfer--s0.json"):
        (results / name).write_bytes((committed / name).read_bytes())
    whole = transfer_study.assemble(results)
    assert transfer_study.assemble(results, None, (1, 18)) == whole
    part = transfer_study.assemble(results, None, (4, 9))
    assert part["test_sessions"] == 6
    record = json.loads((results / "all--baseline--s0.json").read_text())
    sums = np.array(record["snapshots"][str(part["cells"]["all/baseline"]["epochs"])]["test_sums"])
    expected = transfer_study.ccc_from_sums(sums[3:9].sum(axis=0))
    assert part["cells"]["all/baseline"]["test"] == {
        d: round(float(expected[i]), 4) for i, d in enumerate(transfer_study.DIMENSIONS)
    }
    assert part["cells"]["all/baseline"]["dev"] == whole["cells"]["all/baseline"]["dev"]
    assert (
        part["cells"]["all/transfer"]["difference"] != whole["cells"]["all/transfer"]["difference"]
    )
    code, output = _study(["--table-only", "--results", str(results), "--table-sessions", "4-9"])
    assert code == 0 and "| all/transfer | 1 |" in output, output
    code, output = _study(["--table-only", "--results", str(results), "--table-sessions", "1-19"])
    assert code == 2 and "scored on 18 test sessions" in output and "Traceback" not in output
    code, output = _study(["--table-only", "--results", str(results), "--table-sessions", "9-4"])
    assert code == 2 and "--table-sessions '9-4'" in output
    code, output = _study(["--table-only", "--results", str(results), "--table-seeds", "x"])
    assert code == 2 and "--table-seeds 'x'" in output
    code, output = _study(["--results", str(results), "--table-sessions", "1-4"])
    assert code == 2 and "go with --table-only" in output


@pytest.mark.slow
def test_more_test_sessions_score_the_same_students(tiny_corpus: Path, tmp_path: Path) -> None:
    """protocol.md's third table: a corpus with extra test sessions trains the same
    students (test sessions take part in no choice), so the shared sessions score exactly
    as before and only the new ones are added."""
    wider = tmp_path / "wider"
    generate_corpus(wider, preset="tiny", seed=0, extra_test=2, jobs=2)
    records = {}
    for corpus in (tiny_corpus, wider):
        results = tmp_path / f"results-{corpus.name}"
        args = ["--data", str(corpus), "--runs", str(tmp_path / f"runs-{corpus.name}")]
        args += ["--results", str(results), "--plan", "smoke", "--seeds", "1"]
        code, output = _study([*args, "--cell", "all/baseline", "--cell", "all/transfer"])
        assert code == 0, output
        records[corpus] = json.loads((results / "all--transfer--s0.json").read_text())
    few, many = records[tiny_corpus], records[wider]
    assert many["test_sessions"] == [*few["test_sessions"], "test_3", "test_4"]
    assert many["corpus"]["extra_test"] == 2 and "extra_test" not in few["corpus"]
    # the same student: every snapshot's weights are equal, bit for bit
    weights = [
        torch.load(
            tmp_path / f"runs-{c.name}" / "all--transfer" / "s0" / transfer_study.SNAPSHOT_WEIGHTS,
            weights_only=True,
        )
        for c in (tiny_corpus, wider)
    ]
    assert sorted(weights[0]) == sorted(weights[1]) == [2, 4]
    for epoch, state in weights[0].items():
        assert all(torch.equal(v, weights[1][epoch][k]) for k, v in state.items())
    for epoch, snapshot in few["snapshots"].items():
        assert many["snapshots"][epoch]["dev"] == snapshot["dev"]
        # here the test batch grows from 2 to 4 sessions (under PREDICT_BATCH), which a CPU
        # kernel may round differently: float32 rounding, not another student. On the
        # recola split the first 18 sessions keep their batch and must match to the bit
        # (tests/test_study_docs.py).
        np.testing.assert_allclose(
            many["snapshots"][epoch]["test_sums"][:2], snapshot["test_sums"], rtol=1e-6
        )
    assert many["snapshots"]["4"]["test"] != few["snapshots"]["4"]["test"]
    # the data ceiling's corpus must carry the same extra test sessions
    more = tmp_path / "more"
    generate_corpus(more, preset="tiny", seed=0, extra_train=1, extra_test=2, jobs=2)
    transfer_study.check_more_data(wider, more, 1)
    generate_corpus(tmp_path / "more-no-test", preset="tiny", seed=0, extra_train=1, jobs=2)
    with pytest.raises(EdgeAffectError, match="--extra-train 1 --extra-test 2` of"):
        transfer_study.check_more_data(wider, tmp_path / "more-no-test", 1)


class _Recurrent(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(8, 16, batch_first=True)
        self.out = torch.nn.Linear(16, 2)

    def predict(self, mel: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.gru(mel[:, ::4])[0])


@pytest.mark.slow
def test_kept_weights_are_scored_again_on_more_test_sessions(tmp_path: Path) -> None:
    """--rescore: a table's runs, scored from their kept weights on its corpus with more test
    sessions, give what training them on that corpus gives, and the table's own figures on
    the sessions both hold, bit for bit (18 test sessions first, in one batch, as on the
    recola split); weights that do not give them are refused."""
    narrow, wide = tmp_path / "narrow", tmp_path / "wide"
    generate_corpus(narrow, preset="tiny", seed=0, extra_test=16, jobs=2)
    generate_corpus(wide, preset="tiny", seed=0, extra_test=18, jobs=2)
    runs, table = tmp_path / "runs", tmp_path / "table"
    smoke = ["--plan", "smoke", "--seeds", "1"]
    cells = ["--cell", "all/baseline", "--cell", "all/transfer"]
    first = ["--data", str(narrow), "--runs", str(runs), "--results", str(table)]
    code, output = _study([*first, *smoke, *cells])
    assert code == 0, output
    args = ["--data", str(wide), "--runs", str(runs), "--like", str(table), *smoke]
    rescored = tmp_path / "rescored"
    code, output = _study([*args, "--results", str(rescored), "--rescore"])
    assert code == 0, output
    assert "all/transfer seed 0 scored again on 20 test sessions" in output
    assert not (runs / "recomputed").exists() and len(list(runs.iterdir())) == 3  # no training
    trained = tmp_path / "trained"
    fresh_runs = ["--runs", str(tmp_path / "runs-wide")]
    code, output = _study(["--data", str(wide), *fresh_runs, "--like", str(table), *smoke[:2],
                           "--results", str(trained)])  # fmt: skip
    assert code == 0, output
    for name in ("all--baseline--s0.json", "all--transfer--s0.json"):
        again, fresh, before = (
            json.loads((d / name).read_text()) for d in (rescored, trained, table)
        )
        assert again["snapshots"] == fresh["snapshots"]
        assert again["test_sessions"] == fresh["test_sessions"]
        assert again["test_sessions"] == [*before["test_sessions"], "test_19", "test_20"]
        assert again["machine"] == before["machine"] and again["corpus"] == before["corpus"]
        assert again["rescored"]["corpus"]["extra_test"] == 18
    assert json.loads((rescored / "table.json").read_text())["test_sessions"] == 20
    # one-line errors, and nothing written
    errors = [
        ([*args, "--results", str(tmp_path / "e"), "--rescore", "--join"], "--rescore goes with"),
        (["--data", str(wide), "--results", str(tmp_path / "e"), "--rescore"], "--rescore goes"),
        (
            [*args[:1], str(narrow), *args[2:], "--results", str(tmp_path / "e"), "--rescore"],
            "its test split does not extend the one all/baseline seed 0 was scored on",
        ),
        (
            [*args[:2], "--runs", str(tmp_path / "none"), *args[4:], "--results",
             str(tmp_path / "e"), "--rescore"],
            "all/baseline seed 0: no ",
        ),
    ]  # fmt: skip
    for extra, message in errors:
        code, output = _study(extra)
        assert code == 2 and message in output and "Traceback" not in output, output
    assert not (tmp_path / "e").exists() or not list((tmp_path / "e").glob("*--s*.json"))
    bad = tmp_path / "bad"
    shutil.copytree(table, bad)
    record = json.loads((bad / "all--baseline--s0.json").read_text())
    record["snapshots"]["2"]["dev"]["arousal"] += 1e-6
    (bad / "all--baseline--s0.json").write_text(json.dumps(record))
    args[5] = str(bad)
    code, output = _study([*args, "--results", str(tmp_path / "e2"), "--rescore"])
    assert code == 2, output
    assert "do not give the table's all/baseline seed 0 (snapshots.2.dev.arousal" in output
    assert not (tmp_path / "e2" / "all--baseline--s0.json").exists()


def test_a_split_scores_its_first_sessions_as_before_when_sessions_are_added() -> None:
    """Scoring batches at most PREDICT_BATCH sessions in input order: the first sessions of
    a larger test split go through the model in the same batches as before, so they score to
    the same bits (the third table's check), and order is kept."""
    torch.manual_seed(0)
    task = _Recurrent()
    rng = np.random.default_rng(0)
    sessions = [
        SessionData(
            name=f"test_{i + 1}",
            split="test",
            mel=torch.from_numpy(rng.normal(size=(200, 8)).astype(np.float32)),
            labels=torch.zeros(50, 2),
            features=torch.zeros(50, 0),
        )
        for i in range(PREDICT_BATCH + 3)
    ]
    few, _ = predict_sessions(task, sessions[:PREDICT_BATCH], torch.device("cpu"))
    many, golds = predict_sessions(task, sessions, torch.device("cpu"))
    assert len(many) == len(golds) == PREDICT_BATCH + 3
    assert all(np.array_equal(a, b) for a, b in zip(few, many, strict=False))
    rest, _ = predict_sessions(task, sessions[PREDICT_BATCH:], torch.device("cpu"))
    assert all(np.array_equal(a, b) for a, b in zip(rest, many[PREDICT_BATCH:], strict=True))
    assert not np.array_equal(many[0], many[1])
