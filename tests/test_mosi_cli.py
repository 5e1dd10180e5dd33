"""CMU-MOSI through the command line: describe, clean errors, a short experiment end to end."""

import json
import shutil
from pathlib import Path

import h5py
import pytest
import torch
from typer.testing import CliRunner

from edge_affect.cli import app
from edge_affect_train.mosi_experiment import COLUMNS

runner = CliRunner()


def _assert_clean_error(result: object, fragment: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


def test_describe_a_csd_folder_as_json(mosi_csd: Path) -> None:
    result = runner.invoke(app, ["data", "describe", str(mosi_csd), "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert d["kind"] == "cmu-mosi-csd" and d["labels_sequence"] == "CMU_MOSI_Opinion_Labels"
    assert {s: v["videos"] for s, v in d["splits"].items()} == {"train": 6, "valid": 2, "test": 2}
    assert sum(v["segments"] for v in d["splits"].values()) == sum(
        d["labels"][s]["negative"] + d["labels"][s]["zero"] + d["labels"][s]["positive"]
        for s in d["labels"]
    )
    m = d["modalities"]
    assert {k: (v["role"], v["dimension"], v["numeric"]) for k, v in m.items()} == {
        "CMU_MOSI_COVAREP": ("audio", 74, True),
        "CMU_MOSI_TimestampedWordVectors": ("text", 300, True),
        "CMU_MOSI_TimestampedWords": ("text", 1, False),
        "CMU_MOSI_Visual_Facet_41": ("vision", 47, True),
    }
    assert m["CMU_MOSI_COVAREP"]["median_step_s"] == pytest.approx(0.01)
    assert m["CMU_MOSI_Visual_Facet_41"]["median_step_s"] == pytest.approx(1 / 30, abs=1e-4)
    assert m["CMU_MOSI_COVAREP"]["nonfinite_replaced"] > 0
    assert m["CMU_MOSI_Visual_Facet_41"]["nonfinite_replaced"] == 0


def test_describe_a_pickle_as_a_table(mosi_pickles: dict[str, Path]) -> None:
    result = runner.invoke(app, ["data", "describe", str(mosi_pickles["mmsa"])])
    assert result.exit_code == 0, result.output
    assert "source kind: mmsa-pickle" in result.stdout
    assert "text    text, 768-d, numeric" in result.stdout
    assert "non-finite values read as 0" in result.stdout
    payload = json.loads(
        runner.invoke(app, ["data", "describe", str(mosi_pickles["mult"]), "--json"]).stdout
    )
    assert payload["kind"] == "mult-pickle"
    assert payload["modalities"]["audio"]["dimension"] == 5


def _damage(folder: Path, how: str) -> None:
    path = folder / "CMU_MOSI_COVAREP.csd"
    with h5py.File(path, "a") as handle:
        root = handle["CMU_MOSI_COVAREP"]
        video = sorted(root["data"])[0]
        if how == "missing group":
            del root["data"]
        else:
            intervals = root[f"data/{video}/intervals"][()]
            del root[f"data/{video}/intervals"]
            root[f"data/{video}"].create_dataset("intervals", data=intervals[1:])


@pytest.mark.parametrize(
    ("how", "fragment"),
    [
        ("missing group", "no 'data' group under /CMU_MOSI_COVAREP"),
        ("length mismatch", "feature rows but"),
    ],
)
def test_malformed_files_are_one_line_errors(mosi_csd_copy: Path, how: str, fragment: str) -> None:
    _damage(mosi_csd_copy, how)
    _assert_clean_error(runner.invoke(app, ["data", "describe", str(mosi_csd_copy)]), fragment)
    result = runner.invoke(
        app,
        [
            "train",
            "experiment",
            "--data",
            str(mosi_csd_copy),
            "--out",
            str(mosi_csd_copy / "x"),
            "--seeds",
            "1",
            "--quiet",
            "--device",
            "cpu",
        ],
    )
    _assert_clean_error(result, fragment)


def test_user_mistakes_are_one_line_errors(mosi_csd: Path, tmp_path: Path) -> None:
    base = ["train", "experiment", "--data", str(mosi_csd), "--out", str(tmp_path / "x")]
    words = runner.invoke(app, [*base, "--student-modality", "CMU_MOSI_TimestampedWords"])
    _assert_clean_error(words, "holds non-numeric features (words)")
    delay = runner.invoke(app, [*base, "--label-delay", "2"])
    _assert_clean_error(delay, "--label-delay and --postprocess are for continuous AVEC labels")
    encoder = runner.invoke(app, [*base, "--encoder", "lstm"])
    _assert_clean_error(encoder, "unknown encoder 'lstm'")
    teacher = runner.invoke(
        app,
        [
            "train",
            "teacher",
            "--data",
            str(mosi_csd),
            "--modality",
            "text",
            "--out",
            str(tmp_path / "t"),
        ],
    )
    _assert_clean_error(teacher, "a CMU-MOSI source; `train teacher` and `train student` read")
    # a video in no standard fold: an error unless --unassigned says what to do
    odd = tmp_path / "odd"
    shutil.copytree(mosi_csd, odd)
    for path in odd.glob("*.csd"):
        with h5py.File(path, "a") as handle:
            data = handle[f"{next(iter(handle))}/data"]
            data.move(sorted(data)[0], "zz-not-in-mosi")
    unknown = runner.invoke(app, [*base[:2], "--data", str(odd), "--out", str(tmp_path / "y")])
    _assert_clean_error(unknown, "1 video(s) are in no standard fold (zz-not-in-mosi)")
    described = json.loads(runner.invoke(app, ["data", "describe", str(odd), "--json"]).stdout)
    assert described["folds"]["unassigned_videos"] == ["zz-not-in-mosi"]
    avec_only = runner.invoke(
        app,
        [
            "train",
            "experiment",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "z"),
            "--student-modality",
            "vision",
        ],
    )
    _assert_clean_error(avec_only, "MOSI options (student modality, folds, encoder) need")


@pytest.mark.slow
def test_a_short_mosi_experiment_writes_its_tables(mosi_csd: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    result = runner.invoke(
        app,
        [
            "train",
            "experiment",
            "--data",
            str(mosi_csd),
            "--out",
            str(out),
            "--seeds",
            "2",
            "--preset",
            "fast",
            "--quiet",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == {"baseline", "transfer", "no-translation", "no-alignment"}
    assert [r["seed"] for r in results["methods"]["transfer"]["per_seed"]] == [0, 1]
    assert results["teacher"]["modalities"] == ["CMU_MOSI_TimestampedWordVectors"]
    assert results["student"] == {"modality": "CMU_MOSI_COVAREP", "encoder": "bigru"}
    assert results["data"]["folds"] == "standard" and results["task_loss"] == "l1"
    summary = results["methods"]["baseline"]["test"]
    assert set(summary) == {"acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc7", "mae", "corr"}
    # text carries the sentiment in this data: the teacher beats the audio-only baseline
    assert results["teacher"]["metrics"]["test"]["mae"] < summary["mae"]["mean"]
    table = (out / "results.md").read_text()
    header = "| model | valid MAE | " + " | ".join(c[0] for c in COLUMNS) + " |"
    assert header in table
    assert "| Acc-2 has0 | F1 has0 | Acc-2 non0 | F1 non0 | Acc-7 | MAE | Corr |" in header
    assert "| teacher (CMU_MOSI_TimestampedWordVectors, bigru) |" in table
    assert "| transfer (CMU_MOSI_COVAREP, bigru) | " in table and " ± " in table
    assert "transfer − baseline, test Acc-2 non0 (points), per seed:" in table
    student = torch.load(out / "seed1" / "transfer" / "checkpoint.pt", weights_only=True)
    assert student["kind"] == "mosi-student" and student["transfer"]["method"] == "transfer"


@pytest.mark.slow
def test_a_pickle_experiment_with_a_vision_transformer_student(
    mosi_pickles: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "exp"
    result = runner.invoke(
        app,
        [
            "train",
            "experiment",
            "--data",
            str(mosi_pickles["mult"]),
            "--out",
            str(out),
            "--seeds",
            "1",
            "--student-modality",
            "vision",
            "--encoder",
            "transformer",
            "--align",
            "mse",
            "--quiet",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["student"] == {"modality": "vision", "encoder": "transformer"}
    assert results["data"]["kind"] == "mult-pickle" and results["align"] == "mse"
    assert results["data"]["nonfinite_replaced"] == {"text": 0, "vision": 0}
    assert "| baseline (vision, transformer) |" in (out / "results.md").read_text()
