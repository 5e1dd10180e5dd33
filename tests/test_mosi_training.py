"""The MOSI models and training: masking is exact, methods differ, runs are deterministic."""

from pathlib import Path

import pytest
import torch

from edge_affect.errors import DataFormatError, EdgeAffectError
from edge_affect_train.checkpoint import load_checkpoint
from edge_affect_train.data.mosi import open_mosi
from edge_affect_train.models import EncoderConfig, SequenceEncoder
from edge_affect_train.mosi_models import (
    FeatureStudent,
    SegmentModelConfig,
    SegmentTeacher,
    masked_mean,
)
from edge_affect_train.mosi_training import (
    TEACHER_KIND,
    MosiData,
    SegmentStudentTask,
    SegmentTeacherTask,
    build_teacher,
    collate,
    fit_segments,
    load_examples,
    save_run,
    score,
)
from edge_affect_train.trainer import TrainConfig
from edge_affect_train.transfer import TransferConfig

TINY = TrainConfig(epochs=3, batch_size=8, lr=3e-3, patience=5, quiet=True, device="cpu")


@pytest.fixture(scope="module")
def data(mosi_csd: Path) -> MosiData:
    return load_examples(open_mosi(mosi_csd), ("text",), "audio")


def test_examples_share_the_word_grid_and_inf_becomes_zero(
    data: MosiData, mosi_csd: Path, mosi_pickles: dict[str, Path]
) -> None:
    assert data.teacher_dim == 300 and data.student_dim == 74
    for examples in data.splits.values():
        for e in examples:
            assert e.teacher.shape[0] == e.student.shape[0] >= 1
            assert bool(e.student.isfinite().all())
    assert data.nonfinite["CMU_MOSI_COVAREP"] > 0  # the synthetic audio holds -inf
    assert data.dropped == {}
    with pytest.raises(EdgeAffectError, match="also a teacher modality"):
        load_examples(open_mosi(mosi_csd), ("audio",), "CMU_MOSI_COVAREP")
    pickled = load_examples(open_mosi(mosi_pickles["mmsa"]), ("text",), "vision")
    first = pickled.splits["train"][0]
    assert first.teacher.shape[1] == 768 and first.student.shape == (first.teacher.shape[0], 20)


@pytest.mark.parametrize("kind", ["bigru", "transformer", "gru"])
def test_padding_does_not_change_a_sequence_s_encoding(kind: str) -> None:
    torch.manual_seed(0)
    encoder = SequenceEncoder(5, EncoderConfig(kind=kind, hidden=8)).eval()  # type: ignore[arg-type]
    short = torch.randn(1, 4, 5)
    padded = torch.cat([short, torch.randn(1, 3, 5)], dim=1)  # garbage after the end
    mask = torch.tensor([[True] * 4 + [False] * 3])
    with torch.no_grad():
        alone, _ = encoder(short, mask=torch.ones(1, 4, dtype=torch.bool))
        inside, _ = encoder(padded, mask=mask)
    torch.testing.assert_close(inside[:, :4], alone, atol=1e-5, rtol=1e-5)
    x = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(x, torch.tensor([[True, True, False]])).item() == 2.0


def test_collate_pads_right_and_masks(data: MosiData) -> None:
    examples = data.splits["train"][:3]
    batch = collate(examples)
    lengths = [e.teacher.shape[0] for e in examples]
    assert batch["mask"].sum(dim=1).tolist() == lengths
    assert batch["teacher"].shape == (3, max(lengths), 300)
    assert batch["student"].shape == (3, max(lengths), 74)
    assert batch["labels"].tolist() == pytest.approx([e.segment.label for e in examples])


def test_methods_differ_in_what_they_train(data: MosiData) -> None:
    teacher = SegmentTeacher(SegmentModelConfig(("t",), 300, EncoderConfig("bigru", 8)))
    config = SegmentModelConfig(("a",), 74, EncoderConfig("transformer", 8, heads=2), z_dim=8)
    batch = collate(data.splits["train"][:4])
    for method, keys in {
        "baseline": {"loss", "task"},
        "transfer": {"loss", "task", "translation", "alignment"},
        "no-translation": {"loss", "task", "alignment"},
        "no-alignment": {"loss", "task", "translation"},
    }.items():
        task = SegmentStudentTask(FeatureStudent(config), teacher, TransferConfig(method=method))  # type: ignore[arg-type]
        out = task(batch)
        assert set(out) == keys and bool(torch.isfinite(out["loss"]))
    with pytest.raises(EdgeAffectError, match="needs a teacher"):
        SegmentStudentTask(FeatureStudent(config), None, TransferConfig(method="transfer"))
    wide = SegmentModelConfig(("a",), 74, EncoderConfig("bigru", 8), z_dim=16)
    with pytest.raises(EdgeAffectError, match="z_dim 16 != teacher latent 8"):
        SegmentStudentTask(FeatureStudent(wide), teacher, TransferConfig())


def _teacher_run(data: MosiData, run_dir: Path) -> tuple[SegmentTeacher, dict]:
    torch.manual_seed(0)
    config = SegmentModelConfig(data.teacher_modalities, 300, EncoderConfig("bigru", 8))
    teacher = SegmentTeacher(config)
    task = SegmentTeacherTask(teacher)
    fit = fit_segments(task, data.splits["train"], data.splits["valid"], TINY, run_dir)
    scores = score(task, data, torch.device("cpu"))
    save_run(run_dir, TEACHER_KIND, teacher, config, fit, scores, {})
    return teacher, scores


def test_teacher_runs_are_deterministic_and_rebuild(data: MosiData, tmp_path: Path) -> None:
    a, scores_a = _teacher_run(data, tmp_path / "a")
    b, scores_b = _teacher_run(data, tmp_path / "b")
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert scores_a == scores_b and set(scores_a) == {"valid", "test"}
    rebuilt = build_teacher(tmp_path / "a" / "checkpoint.pt")
    batch = collate(data.splits["test"])
    with torch.no_grad():
        torch.testing.assert_close(
            rebuilt(batch["teacher"], batch["mask"]), a.eval()(batch["teacher"], batch["mask"])
        )
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == TINY.epochs
    with pytest.raises(DataFormatError, match="a mosi-teacher checkpoint, expected a student"):
        load_checkpoint(tmp_path / "a" / "checkpoint.pt", kind="student")
