"""``edge-affect train teacher|student|experiment`` through the CLI on the tiny corpus."""

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from edge_affect.cli import app

runner = CliRunner()
FAST = [
    "--epochs",
    "2",
    "--batch-size",
    "4",
    "--chunk-s",
    "4",
    "--hidden",
    "16",
    "--quiet",
    "--device",
    "cpu",
]


def test_teacher_then_student_then_a_clean_error(tiny_corpus: Path, tmp_path: Path) -> None:
    teacher = runner.invoke(
        app,
        [
            "train",
            "teacher",
            "--data",
            str(tiny_corpus),
            "--modality",
            "video_appearance",
            "--out",
            str(tmp_path / "t"),
            *FAST,
        ],
    )
    assert teacher.exit_code == 0, teacher.output
    assert teacher.stdout.startswith("teacher: best epoch ")
    checkpoint = str(tmp_path / "t" / "checkpoint.pt")
    student = runner.invoke(
        app,
        [
            "train",
            "student",
            "--data",
            str(tiny_corpus),
            "--teacher",
            checkpoint,
            "--method",
            "transfer",
            "--align",
            "mse",
            "--out",
            str(tmp_path / "s"),
            *FAST,
        ],
    )
    assert student.exit_code == 0, student.output
    assert "student (transfer): best epoch" in student.stdout
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["kind"] == "student" and set(summary["ccc"]) == {"dev", "test"}
    options = ["--method", "baseline", "--label-delay", "1.0", "--postprocess", *FAST]
    post = runner.invoke(
        app,
        ["train", "student", "--data", str(tiny_corpus), "--out", str(tmp_path / "p"), *options],
    )
    assert post.exit_code == 0, post.output
    assert "post-processed (smoothing {'arousal': " in post.stdout
    post_summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert set(post_summary["ccc"]["postprocessed"]) == {"smoothing_frames", "dev", "test"}
    checkpoint = torch.load(tmp_path / "p" / "checkpoint.pt", weights_only=True)
    assert (
        checkpoint["train_args"]["label_delay_s"] == 1.0 and checkpoint["train_args"]["postprocess"]
    )
    missing = runner.invoke(
        app,
        [
            "train",
            "student",
            "--data",
            str(tiny_corpus),
            "--method",
            "transfer",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert missing.exit_code == 2
    assert missing.stderr.strip() == "error: --method transfer needs --teacher TEACHER_CKPT"
    wrong = runner.invoke(
        app,
        [
            "train",
            "teacher",
            "--data",
            str(tiny_corpus),
            "--modality",
            "video_appearance",
            "--out",
            str(tmp_path / "y"),
            "--encoder",
            "lstm",
        ],
    )
    assert wrong.exit_code == 2 and "unknown encoder 'lstm'" in wrong.stderr


def test_fast_experiment_writes_its_tables(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    result = runner.invoke(
        app,
        [
            "train",
            "experiment",
            "--data",
            str(tiny_corpus),
            "--out",
            str(out),
            "--seeds",
            "2",
            "--preset",
            "fast",
            "--no-reference",
            "--quiet",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == {"baseline", "transfer", "no-translation", "no-alignment"}
    assert [r["seed"] for r in results["methods"]["transfer"]["per_seed"]] == [0, 1]
    assert results["teacher"]["modalities"] == ["video_appearance"]
    table = (out / "results.md").read_text()
    assert "| teacher (video_appearance, bigru) |" in table
    assert "| transfer | " in table and " ± " in table
    assert "transfer − baseline, test valence, per seed:" in table
