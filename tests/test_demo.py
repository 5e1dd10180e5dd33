"""The bundled default model and model card, ``edge-affect demo`` and ``edge-affect plot``."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from edge_affect import paths
from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE
from edge_affect.cli import app
from edge_affect.cli import results as cli_results
from edge_affect.logs.reader import read_log
from edge_affect.paths import BUNDLED_MODELS, DEFAULT_MODEL
from edge_affect.scoring.plot import speech_runs
from edge_affect.stream.model import AffectModel

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD = BUNDLED_MODELS / "MODEL_CARD.md"


def _clip_hops() -> int:
    info = soundfile.info(str(cli_results.DEMO_AUDIO))
    assert info.samplerate == SAMPLE_RATE
    return math.ceil(info.frames / HOP_SAMPLES)


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG_SIGNATURE) and len(data) > 20_000


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One ``demo --fast --quiet`` run: its output folder and its printed text."""
    out = tmp_path_factory.mktemp("demo") / "out"
    result = runner.invoke(app, ["demo", "--fast", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


# ---------------------------------------------------------------------------- bundled model


def test_the_bundled_model_is_a_small_int8_stream_model() -> None:
    path = BUNDLED_MODELS / DEFAULT_MODEL
    model = AffectModel(path)
    assert model.contract.mode == "stream"
    assert model.contract.precision == "int8-dynamic"
    assert model.contract.labels == ("arousal", "valence")
    assert path.stat().st_size <= 120_000
    fp32 = AffectModel(BUNDLED_MODELS / "default.onnx")
    assert fp32.contract.precision == "fp32"
    assert fp32.contract.model == model.contract.model


def test_the_model_card_states_the_contracts_and_the_measured_numbers() -> None:
    card = " ".join(CARD.read_text().split())  # the card's prose is wrapped
    dev = AffectModel(BUNDLED_MODELS / DEFAULT_MODEL).contract.dev_ccc
    assert dev is not None and dev["source"].startswith("this ONNX file")  # measured, not copied
    assert f"arousal {dev['arousal']:.4f}, valence {dev['valence']:.4f}" in card
    results = json.loads((BUNDLED_MODELS / "default.results.json").read_text())
    for corpus in ("corpus", "previous_corpus"):  # the training corpus's and the previous one's
        int8 = results[corpus]["transfer_int8"]
        splits = ("dev", "test")
        cells = " | ".join(f"{int8[s][d]:.3f}" for s in splits for d in ("arousal", "valence"))
        assert cells in card
    baseline = results["corpus"]["baseline_int8"]
    assert f"{baseline['test']['valence']:.3f}" in card
    engines = results["corpus"]["transfer_int8"]["test"]["by_engine"]
    flite = " | ".join(f"{engines['flite'][d]:.3f}" for d in ("arousal", "valence"))
    assert flite in card
    gain = next(
        r
        for r in results["robustness"][0]["groups"]["synthetic"]["rows"]
        if r["change"] == "gain -12 dB -> 0 dB"
    )
    assert f"{gain['arousal_low']:+.3f} → {gain['arousal_high']:+.3f}" in card
    assert "not validated on real human affect" in card
    assert f"{(BUNDLED_MODELS / DEFAULT_MODEL).stat().st_size / 1000:.1f} KB" in card


def test_the_demo_gold_standard_covers_the_clip_on_the_grid() -> None:
    meta = json.loads((paths.DEMO_DIR / "demo.json").read_text())
    assert meta["session"].startswith("test_")  # held out from training and model selection
    for path in cli_results.DEMO_GOLD:
        lines = [x for x in path.read_text().splitlines() if x.startswith("demo,")]
        assert lines[0].startswith("demo,0.00,")
        assert len(lines) == meta["hops"] == _clip_hops()


def test_package_data_ships_every_bundled_file() -> None:
    """pyproject's package-data globs cover the files in models/ and demo/ (wheel installs)."""
    text = (ROOT / "pyproject.toml").read_text()
    globs = re.search(r'^"edge_affect" = \[(.*?)\]', text, re.M)
    assert globs
    patterns = re.findall(r'"([^"]+)"', globs.group(1))
    for folder in ("models", "demo"):
        for file in (ROOT / "edge_affect" / folder).iterdir():
            assert any(Path(f"{folder}/{file.name}").match(p) for p in patterns), file


# ---------------------------------------------------------------------------- demo


def test_demo_writes_a_log_and_a_plot_and_prints_ccc(demo_run: tuple[Path, str]) -> None:
    out, output = demo_run
    logs = sorted(out.glob("demo-*.csv"))
    assert len(logs) == 1
    table = read_log(logs[0])
    assert table.n_rows == _clip_hops()
    assert np.all(np.isfinite(table.arousal)) and table.speech.any()
    assert _is_png(logs[0].with_suffix(".png"))
    for dimension in ("arousal", "valence"):
        assert re.search(rf"^{dimension}\s+all\s+{table.n_rows}\s+-?\d\.\d{{4}}$", output, re.M)
    assert f"log:  {logs[0]}" in output and f"plot: {logs[0].with_suffix('.png')}" in output


def test_demo_never_replaces_an_earlier_run(tmp_path: Path) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["demo", "--fast", "--quiet", "--out", str(tmp_path)])
        assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("demo-*.csv"))) == 2
    assert len(list(tmp_path.glob("demo-*.png"))) == 2


def test_demo_with_another_model(tmp_path: Path) -> None:
    fp32 = BUNDLED_MODELS / "default.onnx"
    result = runner.invoke(
        app, ["demo", "--fast", "--quiet", "--out", str(tmp_path), "--model", str(fp32)]
    )
    assert result.exit_code == 0, result.output
    assert "through default.onnx" in result.output


def test_demo_without_torch_onnx_or_matplotlib(tmp_path: Path) -> None:
    """A runtime-only install: the demo runs, logs, scores and says how to get the plot."""
    blocker = (
        "import sys\n"
        "for name in ('torch', 'onnx', 'onnxscript', 'train', 'export', 'matplotlib'):\n"
        "    sys.modules[name] = None\n"
        "from edge_affect.cli import main\n"
        "sys.argv = ['edge-affect'] + sys.argv[1:]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker, "demo", "--fast", "--quiet", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'edge-affect[plot]'" in result.stdout
    assert len(list(tmp_path.glob("demo-*.csv"))) == 1
    assert not list(tmp_path.glob("*.png"))


def test_demo_live_view_goes_to_stderr(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge_affect", "demo", "--fast", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "arousal [" in result.stderr and "valence [" in result.stderr
    assert "arousal [" not in result.stdout


def test_demo_without_its_clip_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_results, "DEMO_AUDIO", tmp_path / "missing.ogg")
    result = runner.invoke(app, ["demo", "--fast", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "no demo clip" in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------------------- plot


def test_plot_without_and_with_gold(demo_run: tuple[Path, str], tmp_path: Path) -> None:
    log = next(demo_run[0].glob("demo-*.csv"))
    bare = tmp_path / "bare.png"
    result = runner.invoke(app, ["plot", str(log), "--out", str(bare)])
    assert result.exit_code == 0, result.output
    assert _is_png(bare) and "CCC" not in result.output
    gold = [a for p in cli_results.DEMO_GOLD for a in ("--gold", str(p))]
    scored = tmp_path / "nested" / "scored.png"
    result = runner.invoke(app, ["plot", str(log), *gold, "--out", str(scored)])
    assert result.exit_code == 0, result.output
    assert _is_png(scored)
    assert re.search(r"CCC arousal -?\d\.\d{3}, valence -?\d\.\d{3}", result.output)


def test_plot_defaults_to_the_log_name_and_draws_svg(
    demo_run: tuple[Path, str], tmp_path: Path
) -> None:
    log = tmp_path / "run.csv"
    log.write_bytes(next(demo_run[0].glob("demo-*.csv")).read_bytes())
    assert runner.invoke(app, ["plot", str(log)]).exit_code == 0
    assert _is_png(tmp_path / "run.png")
    svg = tmp_path / "run.svg"
    assert runner.invoke(app, ["plot", str(log), "--out", str(svg)]).exit_code == 0
    assert svg.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("fmt", ["csv", "arff"])
def test_plot_draws_a_calibrated_log(
    exported_models: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    """A ``run --calibrate`` log (two more columns) plots like any other."""
    log = tmp_path / f"calibrated.{fmt}"
    model = str(exported_models["stream"])
    args = ["run", str(paths.DEMO_AUDIO), "--model", model, "--out", str(log), "--calibrate", "5"]
    assert runner.invoke(app, args).exit_code == 0
    table = read_log(log)
    assert table.arousal_rel is not None
    filled = np.isfinite(table.arousal_rel)
    assert filled.any() and not filled[0]  # empty until the 5 s baseline, relative after
    offsets = table.arousal[filled] - table.arousal_rel[filled]
    assert np.ptp(offsets) < 1e-5  # one frozen baseline: relative = absolute - baseline
    gold = [a for p in cli_results.DEMO_GOLD for a in ("--gold", str(p))]
    result = runner.invoke(app, ["plot", str(log), *gold, "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    assert _is_png(tmp_path / "c.png") and "CCC arousal" in result.output


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing log", "no such"),
        ("malformed log", "bad.csv"),
        ("malformed gold", "gold.arff"),
        ("missing gold", "missing.arff"),
        ("bad suffix", "must end in .png"),
    ],
)
def test_plot_errors_are_one_line(
    demo_run: tuple[Path, str], tmp_path: Path, case: str, message: str
) -> None:
    log = next(demo_run[0].glob("demo-*.csv"))
    out = ["--out", str(tmp_path / "x.png")]
    if case == "missing log":
        args = [str(tmp_path / "nothing.csv"), *out]
    elif case == "malformed log":
        bad = tmp_path / "bad.csv"
        bad.write_text("time,arousal,valence,speech\n0.00,zero,0.1,1\n")
        args = [str(bad), *out]
    elif case == "malformed gold":
        gold = tmp_path / "gold.arff"
        gold.write_text("@relation GOLDSTANDARD_arousal\n@data\nnot,an,arff\n")
        args = [str(log), "--gold", str(gold), *out]
    elif case == "missing gold":
        args = [str(log), "--gold", str(tmp_path / "missing.arff"), *out]
    else:
        args = [str(log), "--out", str(tmp_path / "x.jpg")]
    result = runner.invoke(app, ["plot", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_plot_without_matplotlib_names_the_extra(demo_run: tuple[Path, str]) -> None:
    log = next(demo_run[0].glob("demo-*.csv"))
    blocker = (
        "import sys\n"
        "sys.modules['matplotlib'] = None\n"
        "from edge_affect.cli import main\n"
        "sys.argv = ['edge-affect'] + sys.argv[1:]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker, "plot", str(log), "--out", str(log.with_suffix(".x.png"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "error: plots need matplotlib, which is not installed: pip install 'edge-affect[plot]'"
    )


def test_speech_runs_are_contiguous_flagged_hops() -> None:
    times = np.arange(8) * 0.04
    speech = np.array([0, 1, 1, 0, 1, 1, 1, 0], dtype=bool)
    runs = speech_runs(times, speech)
    assert [(round(a, 2), round(b, 2)) for a, b in runs] == [(0.04, 0.12), (0.16, 0.28)]
    gap = np.array([0.0, 0.04, 0.4, 0.44])  # a gap in the log ends a run
    assert len(speech_runs(gap, np.ones(4, dtype=bool))) == 2
    assert speech_runs(times, np.zeros(8, dtype=bool)) == []
