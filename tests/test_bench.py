"""`edge-affect bench` runs end to end on real models and real speech, with a short soak.

The figures themselves are not asserted (the machines are noisy; the targets live in the
report, met or missed); what is asserted is that every measurement ran, is consistent with
its inputs, and that the soak's invariants hold: no dropped hop, one logged row per hop, and
RSS flat.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_affect.bench import measure
from edge_affect.bench.measure import (
    TORCH_REFERENCE_MODULE,
    BenchOptions,
    Clip,
    check_targets,
    format_bench,
    run_bench,
    torch_reference,
)
from edge_affect.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def report(exported_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    models = (exported_models["stream_int8"], exported_models["stream"], exported_models["window"])
    work = tmp_path_factory.mktemp("bench")
    options = BenchOptions(models=models, seconds=4.0, soak_s=120.0, cpu_share_s=2.0, work=work)
    return run_bench(options)


def test_every_measurement_ran(report: dict, exported_models: dict[str, Path]) -> None:
    assert report["seconds"] == 4.0 and "espeak-ng" in report["audio"]
    streaming = report["streaming"]
    pairs = [(s["mode"], s["gate"]) for s in streaming]
    assert pairs == [(mode, gate) for mode in ("stream", "stream", "window") for gate in (0, 1)]
    for s in streaming:
        assert s["hops"] == 100 and 0 < s["p50_us"] <= s["p99_us"] <= s["max_us"]
        assert s["rtf"] > 0
    files = report["file_mode"]
    assert [f["hops"] for f in files] == [100, 100, 100]
    assert [f["chunked"] for f in files] == [True, True, False]
    assert all(f["rtf"] > 0 and f["rtf_hop_by_hop"] > 0 for f in files)
    chunked = report["chunked"]  # the window model is not chunked: no row
    assert [c["model"] for c in chunked] == ["stream.int8.onnx", "stream.onnx"]
    assert all(c["readings_identical"] and c["chunk_hops"] == 250 for c in chunked)
    sizes = report["sizes"]
    assert (
        sizes[exported_models["stream_int8"].name] == exported_models["stream_int8"].stat().st_size
    )
    process = report["listen_process"]
    assert process["portaudio"] is True  # imported like listen does
    assert 0 < process["startup_s"] < 30
    assert process["imports_rss_mb"] < process["peak_rss_mb"] < 1000
    run = report["run_process"]
    assert run["model"] == "stream.int8.onnx" and 0 < run["peak_rss_mb"] < 1000
    assert run["wall_s"] > 0 and run["rtf"] == pytest.approx(run["wall_s"] / 4.0, rel=1e-3)
    share = report["cpu_share"]
    assert share["seconds"] == 2.0
    # paced in real time: a small share of one core; the model costs more than gated silence
    assert 0 < share["silence_gated"] < share["speech"] < 0.9


def test_the_soak_keeps_every_hop_and_a_flat_rss(report: dict) -> None:
    soak = report["soak"]
    assert soak["hops"] == 3000 and soak["audio_s"] == 120.0
    assert soak["dropped_hops"] == 0
    assert soak["rows_logged"] == soak["hops"]
    assert soak["minutes"] == 2
    assert soak["rss_growth_mb"] < 2.0
    targets = report["targets"]
    assert targets["soak dropped hops == 0"]["met"] and targets["soak rows logged == hops"]["met"]


def _bench_torch_has_a_command_line() -> bool:
    spec = importlib.util.find_spec(TORCH_REFERENCE_MODULE)
    assert spec is not None and spec.origin is not None  # the export package is on the host
    return 'if __name__ == "__main__":' in Path(spec.origin).read_text()


def test_references_are_ratios_in_the_same_run(report: dict) -> None:
    torch_ref = report["torch"]
    if _bench_torch_has_a_command_line():
        assert torch_ref is not None and torch_ref["p50_us"] > 0  # torch is on the host
        assert "torch_unavailable" not in report
    else:  # an export package older than the torch reference's command line
        assert torch_ref is None and report["torch_unavailable"]
    fp32_line = "stream.int8.onnx vs stream.onnx: p50"
    assert fp32_line in format_bench(report)
    if report["opensmile"] is not None:
        assert report["opensmile"]["rtf"] > 0
        whole = report["opensmile"]["process"]
        assert whole["frames"] > 0 and whole["wall_s"] > 0
        assert "run process vs openSMILE LLDs >= 12x" in report["targets"]


def test_targets_compare_in_the_right_direction() -> None:
    report = {
        "streaming": [{"gate": False, "p50_us": 100.0, "p99_us": 2000.0, "rtf": 0.002}],
        "file_mode": [{"rtf": 0.0005}],
        "opensmile": {"rtf": 0.018},
        "run_process": {"rtf": 0.0012, "peak_rss_mb": 61.0},
    }
    checks = check_targets(report)
    assert checks["streaming p50 per hop <= 100 us"]["met"]
    assert not checks["streaming p99 per hop <= 1 ms"]["met"]
    assert checks["run process vs openSMILE LLDs >= 12x"]["met"]  # 15x
    assert checks["file mode RTF <= 0.0005"]["met"]
    assert not checks["run peak RSS <= 60 MB"]["met"]


def test_bench_cli_prints_a_table_and_writes_json(
    exported_models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    model = str(exported_models["stream"])
    args = ["--seconds", "2", "--no-process", "--no-references", "--out", str(out)]
    result = runner.invoke(app, ["bench", "--model", model, *args])
    assert result.exit_code == 0, result.output
    assert "streaming (VAD + model + CSV)" in result.stdout and "targets:" in result.stdout
    saved = json.loads(out.read_text())
    assert saved["streaming"][0]["model"] == exported_models["stream"].name
    bad = runner.invoke(app, ["bench", "--model", str(tmp_path / "none.onnx")])
    assert bad.exit_code == 2 and "no such model file" in bad.stderr


FAKE_TORCH_CHILD = {
    "prints": "import json, sys\n"
    "import numpy as np\n"
    "hops = np.load(sys.argv[1])\n"
    "assert hops.dtype == np.int16 and hops.shape[1] == 640\n"
    "print(json.dumps({'torch': 'fake', 'p50_us': 1.0, 'p99_us': float(hops.shape[0])}))\n",
    "fails": "import sys\n"
    "print('Traceback (most recent call last):', file=sys.stderr)\n"
    "print(\"ModuleNotFoundError: No module named 'torch'\", file=sys.stderr)\n"
    "sys.exit(1)\n",
}


@pytest.mark.parametrize("behaviour", sorted(FAKE_TORCH_CHILD))
def test_the_torch_reference_runs_in_a_child_process(
    behaviour: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child gets an int16 [n, 640] .npy and prints one JSON object; any failure means
    "no torch reference", with the child's last stderr line as the reason."""
    (tmp_path / "fake_bench_torch.py").write_text(FAKE_TORCH_CHILD[behaviour])
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setattr(measure, "TORCH_REFERENCE_MODULE", "fake_bench_torch")
    pcm = np.arange(640 * 3, dtype=np.int16)
    clip = Clip(pcm=pcm, description="test", path=tmp_path / "unused.wav")
    result, reason = torch_reference(clip, tmp_path)
    if behaviour == "prints":
        assert reason is None and result == {"torch": "fake", "p50_us": 1.0, "p99_us": 3.0}
    else:
        assert result is None and reason == "ModuleNotFoundError: No module named 'torch'"
