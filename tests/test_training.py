"""Training end to end on the tiny corpus: it learns, it is deterministic, checkpoints rebuild."""

import json
from pathlib import Path

import pytest
import torch

from edge_affect.errors import DataFormatError, EdgeAffectError, MissingDataError
from edge_affect_train import runs
from edge_affect_train.checkpoint import build_student, load_checkpoint
from edge_affect_train.data.tensors import SessionData
from edge_affect_train.frontend import FrontendConfig
from edge_affect_train.models import AudioStudent, EncoderConfig, StudentConfig
from edge_affect_train.runs import (
    keep_loaded_data,
    load_data,
    load_teacher,
    train_student,
    train_teacher,
)
from edge_affect_train.trainer import TrainConfig
from edge_affect_train.transfer import StudentTask, TransferConfig

MODALITY = ("video_appearance",)
FAST = TrainConfig(epochs=4, batch_size=4, chunk_s=4.0, lr=3e-3, patience=10, quiet=True, threads=2)


@pytest.fixture(scope="module")
def splits(tiny_corpus: Path) -> dict[str, list[SessionData]]:
    return load_data(tiny_corpus, MODALITY, FrontendConfig())[1]


def _student_config() -> StudentConfig:
    return StudentConfig(encoder=EncoderConfig(kind="gru", hidden=16), z_dim=16)


def test_teacher_learns_and_its_checkpoint_rebuilds(
    tiny_corpus: Path, splits: dict, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=8, batch_size=4, chunk_s=4.0, lr=5e-3, patience=10, quiet=True)
    run = train_teacher(
        tiny_corpus,
        MODALITY,
        tmp_path / "t",
        EncoderConfig(kind="bigru", hidden=16),
        config,
        splits,
    )
    history = run.fit.history
    assert len(history) == 8
    assert min(r["dev_loss"] for r in history) < history[0]["dev_loss"] - 0.05
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    lines = (tmp_path / "t" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 9))
    teacher = load_teacher(tmp_path / "t" / "checkpoint.pt")
    assert teacher.config.modalities == MODALITY
    features = splits["dev"][0].features.unsqueeze(0)
    with torch.no_grad():
        rebuilt = teacher(features)
    assert rebuilt.shape == (1, splits["dev"][0].n_frames, 2)
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["ccc"]["dev"]["valence"] == pytest.approx(run.scores["dev"]["valence"])


def test_student_checkpoint_round_trip_and_determinism(
    tiny_corpus: Path, splits: dict, tmp_path: Path
) -> None:
    teacher_run = train_teacher(
        tiny_corpus, MODALITY, tmp_path / "t", EncoderConfig(kind="bigru", hidden=16), FAST, splits
    )
    assert teacher_run.checkpoint == tmp_path / "t" / "checkpoint.pt"
    teacher = load_teacher(tmp_path / "t" / "checkpoint.pt")
    runs = [
        train_student(
            tiny_corpus,
            teacher,
            tmp_path / f"s{i}",
            _student_config(),
            TransferConfig(align="cca"),
            FAST,
            splits,
        )
        for i in range(2)
    ]
    a = load_checkpoint(tmp_path / "s0" / "checkpoint.pt", kind="student")
    b = load_checkpoint(tmp_path / "s1" / "checkpoint.pt", kind="student")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert runs[0].scores == runs[1].scores
    assert a["transfer"]["method"] == "transfer" and a["model_config"]["frontend"]["n_mels"] == 64
    student = build_student(a)  # rebuilt from the checkpoint alone
    pcm = torch.randn(1, 10 * 640) * 0.1
    with torch.no_grad():
        assert student(pcm).shape == (1, 10, 2)
    history = runs[0].fit.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_methods_differ_in_what_they_train(tiny_corpus: Path, splits: dict, tmp_path: Path) -> None:
    teacher = load_teacher(
        train_teacher(
            tiny_corpus,
            MODALITY,
            tmp_path / "t",
            EncoderConfig(kind="bigru", hidden=16),
            TrainConfig(epochs=1, quiet=True),
            splits,
        ).checkpoint  # type: ignore[arg-type]
    )
    batch = splits["train"][0]
    mel, labels, feats = (
        batch.mel[:400].unsqueeze(0),
        batch.labels[:100].unsqueeze(0),
        batch.features[:100].unsqueeze(0),
    )
    for method, keys in {
        "baseline": {"loss", "task"},
        "transfer": {"loss", "task", "translation", "alignment"},
        "no-translation": {"loss", "task", "alignment"},
        "no-alignment": {"loss", "task", "translation"},
    }.items():
        task = StudentTask(AudioStudent(_student_config()), teacher, TransferConfig(method=method))  # type: ignore[arg-type]
        assert set(task(mel, labels, feats)) == keys
    with pytest.raises(EdgeAffectError, match="needs a teacher"):
        StudentTask(AudioStudent(_student_config()), None, TransferConfig(method="transfer"))
    with pytest.raises(EdgeAffectError, match="unknown method"):
        TransferConfig(method="magic")  # type: ignore[arg-type]


def test_bad_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DataFormatError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(DataFormatError, match="not an edge-affect checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_unknown_modality_is_a_clear_error(tiny_corpus: Path) -> None:
    with pytest.raises(EdgeAffectError, match="no modality 'video_geometric'"):
        load_data(tiny_corpus, ("video_geometric",), FrontendConfig())


def test_a_process_that_keeps_loaded_data_hands_out_equal_independent_copies(
    tiny_corpus: Path,
) -> None:
    """The study's workers load each corpus once (``keep_loaded_data``); every run gets the
    tensors a fresh load gives, and what one run changes in place no later run sees."""
    fresh = load_data(tiny_corpus, MODALITY, FrontendConfig())[1]
    keep_loaded_data()
    try:
        first = load_data(tiny_corpus, MODALITY, FrontendConfig())[1]
        first["train"][0].mel.zero_()
        first["dev"][0].labels.add_(1.0)
        second = load_data(tiny_corpus, MODALITY, FrontendConfig())[1]
        audio_only = load_data(tiny_corpus, (), FrontendConfig())[1]
        assert len(runs._KEPT.entries) == 2  # one load per (corpus, modalities, frontend)
    finally:
        keep_loaded_data(False)
    assert not runs._KEPT.entries
    for split, sessions in fresh.items():
        assert [s.name for s in second[split]] == [s.name for s in sessions]
        for kept, loaded in zip(second[split], sessions, strict=True):
            assert torch.equal(kept.mel, loaded.mel)
            assert torch.equal(kept.labels, loaded.labels)
            assert torch.equal(kept.features, loaded.features)
            assert kept.features.shape[1] > 0
    assert all(s.features.shape[1] == 0 for s in audio_only["train"])
