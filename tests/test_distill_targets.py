"""scripts/distill_targets.py: what the label-scarce teachers hand the students to distil, read
from a real study's run folders (a smoke study on the tiny corpus with one extra training
speaker, so that two labelled speakers leave one without labels)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_affect.cli import app
from edge_affect_train.synth import generate_corpus
from tests.helpers import require_program

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "distill_targets.py"
CELLS = ("scarce-2/baseline", "scarce-2/align-mse", "scarce-2/align-mse-distill")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    require_program("espeak-ng", "apt-get install espeak-ng")
    root = tmp_path_factory.mktemp("distill")
    corpus = root / "corpus"
    generate_corpus(corpus, preset="tiny", seed=0, jobs=2, extra_train=1)
    runs, results = root / "runs", root / "results"
    args = ["train", "study", "--data", str(corpus), "--runs", str(runs)]
    args += ["--results", str(results), "--plan", "smoke", "--seeds", "2"]
    for cell in CELLS:
        args += ["--cell", cell]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return corpus, runs, results


def _script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), *map(str, args)]
    return subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=600, cwd=ROOT
    )


@pytest.mark.slow
def test_the_diagnostic_scores_the_studys_own_students(
    study: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    corpus, runs, results = study
    out = tmp_path / "figures.json"
    done = _script(results, "--data", corpus, "--runs", runs, "--labelled", "2", "--json", out)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    regime = figures["regimes"]["2"]
    assert regime["seeds"] == [0, 1]
    table = json.loads((results / "table.json").read_text())
    for row in regime["per_seed"]:
        assert row["unlabelled_sessions"] == 1  # 3 training speakers, 2 labelled
        for where in ("unlabelled", "test"):
            for value in row[where]["teacher_vs_gold"].values():
                assert -1.0 <= value <= 1.0
        for cell in CELLS:
            method = cell.split("/")[1]
            epoch = regime["epochs"][cell]
            assert epoch == table["cells"][cell]["epochs"]
            # the student's test figures are its result file's at the table's snapshot
            record = json.loads((results / f"scarce-2--{method}--s{row['seed']}.json").read_text())
            kept = record["snapshots"][str(epoch)]["test"]
            assert {k: round(v, 6) for k, v in row["test"][method]["vs_gold"].items()} == kept
    assert "| `scarce-2/align-mse-distill` (epoch" in done.stdout
    # --students: the methods named, and only those
    one = tmp_path / "one.json"
    args = ("--labelled", "2", "--seeds", "1-1", "--students", "align-mse-distill", "--json", one)
    done = _script(results, "--data", corpus, "--runs", runs, *args)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(one.read_text())["regimes"]["2"]["per_seed"]
    assert row["seed"] == 1 and set(row["test"]) == {"teacher_vs_gold", "align-mse-distill"}
    assert row["test"]["align-mse-distill"] == regime["per_seed"][1]["test"]["align-mse-distill"]
    assert "`scarce-2/baseline`" not in done.stdout


@pytest.mark.slow
def test_a_run_folder_that_is_not_the_tables_is_refused_in_one_line(
    study: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    corpus, runs, results = study
    swapped = tmp_path / "runs"
    shutil.copytree(runs, swapped)
    # seed 0's distilled student replaced by seed 1's: a real student, not this table's
    distilled = swapped / "scarce-2--align-mse-distill"
    shutil.copy(distilled / "s1" / "snapshots.pt", distilled / "s0" / "snapshots.pt")
    done = _script(results, "--data", corpus, "--runs", swapped, "--labelled", "2")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "scored again on test" in done.stderr and "Traceback" not in done.stderr


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    done = _script(tmp_path, "--data", tmp_path, "--runs", tmp_path, "--students", "x,baseline")
    assert done.returncode == 1
    assert done.stderr == "error: --students 'x,baseline': not methods of the scarce-N cells\n"
    done = _script(tmp_path, "--data", tmp_path, "--runs", tmp_path)
    assert done.returncode == 1
    assert (
        done.stderr
        == f"error: {tmp_path / 'table.json'}: no such file (give the study's results folder)\n"
    )
