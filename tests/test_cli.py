"""The command line: real commands through typer's CliRunner and as a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from edge_affect import __version__
from edge_affect.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"edge-affect {__version__}"


def test_synth_then_describe_as_json(tmp_path: Path, tiny_corpus: Path) -> None:
    out = tmp_path / "c"
    result = runner.invoke(
        app, ["synth", str(out), "--preset", "tiny", "--seed", "0", "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 6 sessions (2.0 min of audio" in result.stdout
    # the CLI writes the same corpus as the library for the same seed
    assert (out / "recordings_audio" / "dev_2.wav").read_bytes() == (
        tiny_corpus / "recordings_audio" / "dev_2.wav"
    ).read_bytes()
    described = runner.invoke(app, ["data", "describe", str(out), "--json"])
    assert described.exit_code == 0, described.output
    payload = json.loads(described.stdout)
    assert payload["kind"] == "synthetic"
    assert payload["splits"]["dev"] == {"sessions": 2, "labelled": 2, "duration_s": 20.0 * 2}
    assert payload["modalities"] == {
        "physio": {"dimension": 6},
        "video_appearance": {"dimension": 40},
    }
    assert payload["evidence"]["energy_arousal_r"] > 0.5


def test_describe_as_a_table(tiny_corpus: Path) -> None:
    result = runner.invoke(app, ["data", "describe", str(tiny_corpus), "--no-evidence"])
    assert result.exit_code == 0, result.output
    assert "train  2 sessions (2 labelled), 0.7 min" in result.stdout
    assert "video_appearance  40-d" in result.stdout
    assert "synthetic evidence" not in result.stdout


def _assert_clean_error(result: object, fragment: str) -> None:
    exit_code = result.exit_code
    stderr = result.stderr
    assert exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]


def test_user_mistakes_are_one_line_errors(tmp_path: Path, corpus_copy: Path) -> None:
    _assert_clean_error(
        runner.invoke(app, ["data", "describe", str(tmp_path / "x")]), "no such corpus"
    )
    _assert_clean_error(runner.invoke(app, ["synth", str(corpus_copy)]), "is not empty")
    _assert_clean_error(
        runner.invoke(app, ["synth", str(tmp_path / "y"), "--preset", "huge"]), "huge"
    )
    gold = corpus_copy / "ratings_gold_standard" / "arousal" / "dev_1.arff"
    gold.write_text(gold.read_text().replace("dev_1,0.08,", "dev_1,0.08,x"))
    _assert_clean_error(runner.invoke(app, ["data", "describe", str(corpus_copy)]), "dev_1.arff:")


def test_console_script_runs_without_torch_or_onnx(tmp_path: Path) -> None:
    """The runtime install has no torch/onnx: block them and run real commands."""
    blocker = (
        "import sys\n"
        "for name in ('torch', 'onnx', 'onnxscript'):\n"
        "    sys.modules[name] = None\n"
        "import edge_affect.cli, edge_affect.formats, edge_affect.scoring.metrics\n"
        "import edge_affect.stream.sources\n"
        "assert not any(m.split('.')[0] in ('train', 'export') for m in sys.modules)\n"
        "sys.argv = ['edge-affect'] + sys.argv[1:]\n"
        "edge_affect.cli.main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker, "version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"edge-affect {__version__}"
    missing = subprocess.run(
        [sys.executable, "-c", blocker, "data", "describe", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("error: ")
