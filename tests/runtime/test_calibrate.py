"""``listen``/``run --calibrate S``: the baseline is the mean of the first S seconds of model
readings (speech hops with the gate on, every hop without it), frozen once set; every later
reading is also given relative to it, in memory and in the three log formats, which
``read_log`` and ``evaluate`` read back; logs of runs without it are unchanged. Real pipeline,
the committed test model, the bundled demo clip (30 s, about 46 % speech)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_affect.audio import HOP_S
from edge_affect.cli import app
from edge_affect.errors import DataFormatError
from edge_affect.live.view import LiveView
from edge_affect.logs.header import LogHeader
from edge_affect.logs.reader import LogTable, read_log
from edge_affect.logs.writer import open_sink
from edge_affect.paths import DEMO_AUDIO, DEMO_GOLD
from edge_affect.runtime.session import CalibrationNotice
from edge_affect.stream.calibration import MAX_CALIBRATION_S, Calibration, calibration_hops
from edge_affect.stream.model import AffectModel
from edge_affect.stream.pipeline import Pipeline, PipelineSettings, run_stream
from edge_affect.stream.reading import Output, Reading
from edge_affect.stream.sources import FileSource

runner = CliRunner()
SECONDS = 5.0  # 125 hops: complete well inside the 30 s clip, with gated pauses before it
HOPS = 125
LOG_DECIMALS = 1e-6  # the logs print 6 decimals


class Collect:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def write(self, reading: Reading) -> None:
        self.readings.append(reading)


def _readings(model: Path, settings: PipelineSettings, chunk_hops: int) -> list[Reading]:
    collect = Collect()
    pipeline = Pipeline(AffectModel(model), settings)
    run_stream(FileSource(DEMO_AUDIO), pipeline, [collect], chunk_hops=chunk_hops)
    return collect.readings


@pytest.mark.parametrize("gate", [True, False], ids=["gate", "no-gate"])
def test_the_baseline_is_the_mean_of_the_first_seconds_of_speech(
    exported_models: dict[str, Path], gate: bool
) -> None:
    model = exported_models["stream"]
    plain = _readings(model, PipelineSettings(gate=gate), chunk_hops=1)
    calibrated = _readings(model, PipelineSettings(gate=gate, calibrate_s=SECONDS), 250)
    ran = [r.index for r in plain if r.output == "model" and r.valid]
    completed = ran[HOPS - 1]  # the hop whose reading completes the baseline
    arousal = float(np.mean([plain[i].arousal for i in ran[:HOPS]]))
    valence = float(np.mean([plain[i].valence for i in ran[:HOPS]]))
    if gate:  # gated silence before the baseline is complete does not count towards S
        assert completed > HOPS - 1
        assert sum(not r.speech for r in plain[:completed]) == completed + 1 - HOPS
    else:
        assert completed == HOPS - 1
    assert [(r.arousal, r.valence, r.speech, r.output) for r in calibrated] == [
        (r.arousal, r.valence, r.speech, r.output) for r in plain
    ]
    for r in calibrated[:completed]:
        assert math.isnan(r.arousal_rel) and math.isnan(r.valence_rel)
    after = calibrated[completed:]
    rel = np.array([(r.arousal_rel, r.valence_rel) for r in after])
    absolute = np.array([(r.arousal, r.valence) for r in after])
    np.testing.assert_allclose(rel, absolute - [arousal, valence], rtol=0, atol=1e-12)
    if gate:  # held readings in gated silence are relative to the baseline too
        assert any(r.output == "hold" and math.isfinite(r.arousal_rel) for r in after)


def _reading(index: int, arousal: float, output: Output = "model") -> Reading:
    return Reading(index, arousal, -arousal, True, output, 0.0, 0.0)


def test_the_baseline_skips_non_finite_and_held_readings_and_stays_frozen() -> None:
    calibration = Calibration(3 * HOP_S)
    assert calibration.hops == 3
    fed = [
        _reading(0, 0.2),
        _reading(1, math.nan),  # an invalid model output: never enters the baseline
        _reading(2, 0.9, "hold"),  # gated silence: not a model reading
        _reading(3, 0.4),
        _reading(4, 0.6),  # completes it: mean 0.4
        _reading(5, 0.9),  # after: relative only, the baseline does not move
        _reading(6, math.inf),
        _reading(7, 0.1, "decay"),
    ]
    out = [calibration.apply(r) for r in fed]
    assert calibration.baseline is not None
    assert calibration.baseline.index == 4 and calibration.baseline.hops == 3
    assert calibration.baseline.arousal == pytest.approx(0.4)
    assert calibration.baseline.valence == pytest.approx(-0.4)
    assert all(math.isnan(r.arousal_rel) for r in out[:4])
    assert [round(r.arousal_rel, 9) for r in (out[4], out[5], out[7])] == [0.2, 0.5, -0.3]
    assert [round(r.valence_rel, 9) for r in (out[4], out[5], out[7])] == [-0.2, -0.5, 0.3]
    assert math.isnan(out[6].arousal_rel) and math.isnan(out[6].valence_rel)  # no value
    assert calibration.to_dict()["completed_index"] == 4
    calibration.reset()
    assert calibration.baseline is None and calibration.counted == 0


def test_calibration_seconds_are_checked() -> None:
    assert calibration_hops(0.001) == 1 and calibration_hops(MAX_CALIBRATION_S) == 15_000
    for bad in (0.0, -1.0, math.nan, math.inf, MAX_CALIBRATION_S + 1):
        with pytest.raises(ValueError, match="positive number of seconds"):
            PipelineSettings(calibrate_s=bad)


def _run(audio: Path, model: Path, out: Path, *extra: str) -> tuple[str, str]:
    result = runner.invoke(
        app, ["run", str(audio), "--model", str(model), "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


@pytest.fixture(scope="module")
def plain_log(exported_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo clip without calibration (gate on), as JSONL."""
    log = tmp_path_factory.mktemp("plain") / "plain.jsonl"
    _run(DEMO_AUDIO, exported_models["stream"], log)
    return log


def _model_rows(log: Path) -> list[int]:
    rows = [json.loads(line) for line in log.read_text().splitlines()[1:-1]]
    return [i for i, row in enumerate(rows) if row["output"] == "model"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "arff"])
def test_calibrated_logs_of_every_format_read_back(
    exported_models: dict[str, Path], plain_log: Path, tmp_path: Path, fmt: str
) -> None:
    log = tmp_path / f"calibrated.{fmt}"
    _, stderr = _run(DEMO_AUDIO, exported_models["stream"], log, "--calibrate", "5")
    plain, table = read_log(plain_log), read_log(log)
    assert plain.arousal_rel is None and plain.valence_rel is None
    assert table.arousal_rel is not None and table.valence_rel is not None
    np.testing.assert_array_equal(table.times, plain.times)
    np.testing.assert_allclose(table.arousal, plain.arousal, rtol=0, atol=LOG_DECIMALS)
    np.testing.assert_allclose(table.valence, plain.valence, rtol=0, atol=LOG_DECIMALS)
    np.testing.assert_array_equal(table.speech, plain.speech)
    ran = _model_rows(plain_log)
    completed = ran[HOPS - 1]
    baseline = (plain.arousal[ran[:HOPS]].mean(), plain.valence[ran[:HOPS]].mean())
    assert np.isnan(table.arousal_rel[:completed]).all()
    assert np.isnan(table.valence_rel[:completed]).all()
    for values, rel, base in (
        (table.arousal, table.arousal_rel, baseline[0]),
        (table.valence, table.valence_rel, baseline[1]),
    ):
        assert np.isfinite(rel[completed:]).all()
        np.testing.assert_allclose(values[completed:] - rel[completed:], base, atol=3e-6, rtol=0)
    lines = [line for line in stderr.splitlines() if line.startswith("calibrated")]
    assert lines == [
        f"calibrated at {completed * HOP_S:.2f} s: baseline arousal {baseline[0]:+.4f}, "
        f"valence {baseline[1]:+.4f}, the mean of 5.00 s of speech ({HOPS} hops); "
        "readings are now also logged relative to it"
    ]
    _check_records(table, fmt, completed, baseline)


def _check_records(
    table: LogTable, fmt: str, completed: int, baseline: tuple[float, float]
) -> None:
    """JSONL and ARFF: the header records the request, the summary the baseline; a CSV log
    has neither (its baseline is ``arousal - arousal_rel`` on any row that has both)."""
    if fmt == "csv":
        assert table.header is None and table.summary is None
        return
    assert table.header is not None and table.summary is not None
    assert table.header["calibration"] == {"seconds": 5.0, "hops": HOPS}
    record = table.summary["calibration"]
    assert record["complete"] is True and record["counted_hops"] == HOPS
    assert record["completed_index"] == completed
    assert record["completed_time"] == pytest.approx(completed * HOP_S)
    assert (record["arousal"], record["valence"]) == pytest.approx(baseline, abs=LOG_DECIMALS)


def test_evaluate_scores_a_calibrated_log_like_an_uncalibrated_one(
    exported_models: dict[str, Path], plain_log: Path, tmp_path: Path
) -> None:
    log = tmp_path / "calibrated.jsonl"
    _run(DEMO_AUDIO, exported_models["stream"], log, "--calibrate", "5")
    scores = []
    for scored in (plain_log, log):
        result = runner.invoke(app, ["evaluate", str(scored), *map(str, DEMO_GOLD), "--json"])
        assert result.exit_code == 0, result.output
        scores.append(json.loads(result.stdout)["dimensions"])
    assert scores[0] == scores[1]


def test_an_incomplete_calibration_is_said_and_leaves_the_relative_values_empty(
    exported_models: dict[str, Path], tmp_path: Path
) -> None:
    log = tmp_path / "short.jsonl"
    _, stderr = _run(DEMO_AUDIO, exported_models["stream"], log, "--calibrate", "600")
    table = read_log(log)
    assert table.arousal_rel is not None and np.isnan(table.arousal_rel).all()
    assert table.summary is not None
    record = table.summary["calibration"]
    assert record["complete"] is False and "arousal" not in record
    spoken = record["counted_hops"] * HOP_S
    assert f"calibration incomplete: {spoken:.2f} of 600 s of speech" in stderr
    assert "calibrated at" not in stderr


FIXED = LogHeader("2025-01-01T00:00:00.000+00:00", "test", {"file": "m.onnx"}, "0.0", {})
UNCALIBRATED = {
    "csv": "time,arousal,valence,speech\n0.00,0.100000,-0.200000,1\n0.04,,,0\n",
    "jsonl": (
        '{"type": "header", "format": "edge-affect-log/1", "started": '
        '"2025-01-01T00:00:00.000+00:00", "source": "test", "model": {"file": "m.onnx"}, '
        '"edge_affect_version": "0.0", "settings": {}, "file_index": 1, "first_time": 0.0}\n'
        '{"time": 0.0, "arousal": 0.1, "valence": -0.2, "speech": true, "output": "model", '
        '"wall_time": 5.0, "latency_ms": 1.0, "overflows": 0, "drops": 0}\n'
        '{"time": 0.04, "arousal": null, "valence": null, "valid": false, "speech": false, '
        '"output": "model", "wall_time": 5.0, "latency_ms": 1.0, "overflows": 0, "drops": 0}\n'
        '{"type": "summary", "rows": 2, "files": 1}\n'
    ),
    "arff": (
        '% {"type": "header", "format": "edge-affect-log/1", "started": '
        '"2025-01-01T00:00:00.000+00:00", "source": "test", "model": {"file": "m.onnx"}, '
        '"edge_affect_version": "0.0", "settings": {}, "file_index": 1, "first_time": 0.0}\n'
        "@relation edge_affect_predictions\n\n@attribute Instance_name string\n"
        "@attribute frameTime numeric\n@attribute arousal numeric\n"
        "@attribute valence numeric\n@attribute speech numeric\n\n@data\n"
        "'log',0.00,0.100000,-0.200000,1\n'log',0.04,?,?,0\n"
        '% {"type": "summary", "rows": 2, "files": 1}\n'
    ),
}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "arff"])
def test_a_log_without_calibration_has_no_relative_columns(tmp_path: Path, fmt: str) -> None:
    """The exact bytes of a log without ``--calibrate``, even for readings that carry
    relative values: the columns come with the header's calibration, not with the rows."""
    log = tmp_path / f"log.{fmt}"
    rows = [
        Reading(0, 0.1, -0.2, True, "model", 1e-3, 5.0, arousal_rel=0.5, valence_rel=0.5),
        Reading(1, math.nan, math.nan, False, "model", 1e-3, 5.0),
    ]
    with open_sink(log, None, FIXED) as sink:
        for reading in rows:
            sink.write(reading)
    assert log.read_text() == UNCALIBRATED[fmt]
    assert read_log(log).arousal_rel is None


def test_read_log_refuses_files_of_different_layouts(tmp_path: Path) -> None:
    plain, calibrated = tmp_path / "a.csv", tmp_path / "b.csv"
    plain.write_text("time,arousal,valence,speech\n0.00,0.1,0.2,1\n")
    calibrated.write_text("time,arousal,valence,speech,arousal_rel,valence_rel\n0.04,0.1,0.2,1,,\n")
    assert read_log([calibrated]).arousal_rel is not None
    with pytest.raises(DataFormatError, match=r"b\.csv: has the relative columns"):
        read_log([plain, calibrated])
    calibrated.write_text("time,arousal,valence,speech,arousal_rel,valence_rel\n0.04,0.1,0.2,1\n")
    with pytest.raises(DataFormatError, match=r"b\.csv:2: 4 values, expected 6"):
        read_log(calibrated)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "601"])
@pytest.mark.parametrize("command", ["run", "listen"])
def test_bad_calibrate_values_are_one_line_errors(
    exported_models: dict[str, Path], tmp_path: Path, command: str, value: str
) -> None:
    log = tmp_path / "never.csv"
    args = [command, *([str(DEMO_AUDIO)] if command == "run" else [])]
    model = str(exported_models["stream"])
    result = runner.invoke(
        app, [*args, "--model", model, "--out", str(log), f"--calibrate={value}"]
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: --calibrate {value}: choose the seconds of speech for the baseline, "
        "more than 0 and at most 600 (30 to 60 is typical)"
    ]
    assert not log.exists()


def test_the_completion_line_gets_a_line_of_its_own_below_the_live_view() -> None:
    screen = io.StringIO()
    view, said = LiveView(screen), []
    calibration = Calibration(2 * HOP_S)
    notice = CalibrationNotice(calibration, said.append, view)
    for index in range(4):
        reading = calibration.apply(_reading(index, 0.1 * index))
        notice.write(reading)
        view.write(reading)
        if index == 1:
            assert screen.getvalue().endswith("\n") and len(said) == 1
    assert said == [
        "calibrated at 0.04 s: baseline arousal +0.0500, valence -0.0500, the mean of 0.08 s "
        "of speech (2 hops); readings are now also logged relative to it"
    ]
