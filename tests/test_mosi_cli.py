"""CMU-MOSI through the command line: describe, clean errors."""

import json
from pathlib import Path

import h5py
import pytest
from typer.testing import CliRunner

from edge_affect.cli import app

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
