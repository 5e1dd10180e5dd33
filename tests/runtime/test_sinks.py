"""Prediction logs: formats, round trips, rotation, and real write faults (no mocks)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import arff  # liac-arff
import numpy as np
import pytest

from edge_affect.errors import DataFormatError, EdgeAffectError, MissingDataError
from edge_affect.formats.arff import parse_arff
from edge_affect.logs.csv_log import CSV_COLUMNS
from edge_affect.logs.header import LOG_FORMAT, LogHeader, SinkError, model_info
from edge_affect.logs.reader import log_files, read_log
from edge_affect.logs.writer import FileSink, Sink, open_sink
from edge_affect.stream.contract import Contract, StateSpec
from edge_affect.stream.reading import Reading

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ("csv", "jsonl", "arff")
HEADER = LogHeader(
    started="2025-01-31T12:00:00+00:00",
    source={"file": "session.wav", "native_rate_hz": 44100},
    model={"file": "student.onnx"},
    settings={"gate": True, "silence": "hold", "vad_mode": 2},
)


def reading(index: int, *, speech: bool | None = None) -> Reading:
    """A deterministic reading; values vary smoothly with the index."""
    return Reading(
        index=index,
        arousal=round(0.5 * np.sin(index / 7.0), 6),
        valence=round(-0.3 * np.cos(index / 11.0), 6),
        speech=index % 3 != 0 if speech is None else speech,
        output="model" if index % 3 else "hold",
        latency_s=0.0012,
        wall_time=1_700_000_000.0 + index * 0.04,
        overflows=index // 100,
        drops=0,
    )


def write_log(path: Path, n_rows: int, fmt: str | None = None, **options: object) -> FileSink:
    sink = open_sink(path, fmt, HEADER, **options)  # type: ignore[arg-type]
    for i in range(n_rows):
        sink.write(reading(i))
    sink.close({"duration_s": n_rows * 0.04})
    return sink


def expected_columns(n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows = [reading(i) for i in range(n_rows)]
    return (
        np.round(np.arange(n_rows) * 0.04, 2),
        np.array([r.arousal for r in rows]),
        np.array([r.valence for r in rows]),
        np.array([r.speech for r in rows]),
    )


def assert_rows(table_path: Path | list[Path], n_rows: int, start: int = 0) -> None:
    table = read_log(table_path)
    times, arousal, valence, speech = (c[start:] for c in expected_columns(start + n_rows))
    assert table.n_rows == n_rows
    np.testing.assert_allclose(table.times, times, atol=1e-9)
    np.testing.assert_allclose(table.arousal, arousal, atol=1e-6)
    np.testing.assert_allclose(table.valence, valence, atol=1e-6)
    np.testing.assert_array_equal(table.speech, speech)


# ---------------------------------------------------------------------------- formats


def test_csv_is_plain_with_avec_precision(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    sink = open_sink(path, None, HEADER)
    sink.write(Reading(0, 0.123456, -0.012345, True, "model", 0.001, 1.0))
    sink.write(Reading(1, 0.5, 0.25, False, "hold", 0.0, 1.04))
    sink.write(Reading(3, -1.0, 1.0, True, "decay", 0.0, 1.08))
    sink.close({"ignored": "in csv"})
    assert path.read_text() == (
        "time,arousal,valence,speech\n"
        "0.00,0.123456,-0.012345,1\n"
        "0.04,0.500000,0.250000,0\n"
        "0.12,-1.000000,1.000000,1\n"
    )
    assert sink.rows_written == 3 and sink.paths == (path,)
    assert isinstance(sink, Sink)


def test_jsonl_header_rows_and_summary(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    sink = open_sink(path, None, HEADER)
    # numpy scalars, as a pipeline may produce them, are written as plain JSON
    speech: bool = np.bool_(True)  # type: ignore[assignment]
    sink.write(Reading(0, np.float32(0.25), np.float64(-0.5), speech, "model", 0.0015, 2.5))
    sink.write(Reading(3, 0.1, 0.2, False, "decay", 0.0, 2.62, overflows=2, drops=1))
    sink.close({"speech_fraction": 0.5})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "type": "header",
        "format": LOG_FORMAT,
        **HEADER.to_dict(),
        "file_index": 1,
        "first_time": 0.0,
    }
    assert lines[1] == {
        "time": 0.0,
        "arousal": 0.25,
        "valence": -0.5,
        "speech": True,
        "output": "model",
        "wall_time": 2.5,
        "latency_ms": 1.5,
        "overflows": 0,
        "drops": 0,
    }
    assert lines[2]["time"] == 0.12 and lines[2]["output"] == "decay"
    assert (lines[2]["overflows"], lines[2]["drops"], lines[2]["speech"]) == (2, 1, False)
    assert lines[3] == {"type": "summary", "rows": 2, "files": 1, "speech_fraction": 0.5}
    table = read_log(path)
    assert table.header == lines[0] and table.summary == lines[3]


def test_arff_reads_with_liac_arff_and_our_parser(tmp_path: Path) -> None:
    path = tmp_path / "my session.arff"
    write_log(path, 5)
    text = path.read_text()
    header = json.loads(text.splitlines()[0].removeprefix("%"))
    assert header["type"] == "header" and header["settings"] == HEADER.settings
    loaded = arff.loads(text)
    assert loaded["relation"] == "edge_affect_predictions"
    assert [name for name, _ in loaded["attributes"]] == [
        "Instance_name",
        "frameTime",
        "arousal",
        "valence",
        "speech",
    ]
    times, arousal, _, speech = expected_columns(5)
    assert [row[0] for row in loaded["data"]] == ["my_session"] * 5  # the stem, made safe
    np.testing.assert_allclose([row[1] for row in loaded["data"]], times)
    np.testing.assert_allclose([row[2] for row in loaded["data"]], arousal, atol=1e-6)
    assert [row[4] for row in loaded["data"]] == [float(s) for s in speech]
    table = parse_arff(text, source=str(path))  # also checks the 40 ms grid
    assert table.instance == "my_session"
    assert table.feature_names == ("arousal", "valence", "speech")
    assert_rows(path, 5)
    assert read_log(path).summary == {"type": "summary", "rows": 5, "files": 1, "duration_s": 0.2}


def test_arff_writes_missing_values_for_non_finite(tmp_path: Path) -> None:
    path = tmp_path / "log.arff"
    sink = open_sink(path, None, HEADER)
    sink.write(Reading(0, float("nan"), 0.5, True, "model", 0.0, 0.0))
    sink.close()
    assert "'log',0.00,?,0.500000,1" in path.read_text()
    table = read_log(path)
    assert np.isnan(table.arousal[0]) and table.valence[0] == 0.5


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"log.{fmt}"
    sink = write_log(path, 50)
    assert sink.rows_written == 50
    assert_rows(path, 50)


@pytest.mark.parametrize("fmt", FORMATS)
def test_header_without_rows_is_a_valid_log(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"empty.{fmt}"
    open_sink(path, None, HEADER).close()
    table = read_log(path)
    assert table.n_rows == 0 and table.speech.dtype == np.bool_
    if fmt != "csv":
        assert table.header is not None and table.header["first_time"] is None
    if fmt == "arff":
        assert arff.loads(path.read_text())["data"] == []


def test_format_from_suffix_or_name(tmp_path: Path) -> None:
    path = tmp_path / "predictions.txt"
    with pytest.raises(SinkError, match=r"predictions\.txt: cannot tell the log format"):
        open_sink(path, None, HEADER)
    with pytest.raises(SinkError, match="unknown log format 'xml'"):
        open_sink(path, "xml", HEADER)
    write_log(path, 3, fmt="jsonl")
    assert json.loads(path.read_text().splitlines()[0])["type"] == "header"
    assert read_log(path, fmt="jsonl").n_rows == 3


def test_header_with_a_plain_source_description(tmp_path: Path) -> None:
    header = LogHeader.now("USB Mic @ 48000 Hz", {"file": "m.onnx"}, {"gate": False})
    path = tmp_path / "log.jsonl"
    open_sink(path, None, header).close()
    read = read_log(path).header
    assert read is not None and read["source"] == "USB Mic @ 48000 Hz"
    assert read["started"] == header.started and read["edge_affect_version"]


def test_header_must_be_json(tmp_path: Path) -> None:
    header = LogHeader("now", {"device": object()}, {})
    with pytest.raises(TypeError, match="not JSON-serializable"):
        open_sink(tmp_path / "log.jsonl", None, header)


def test_model_info_parses_the_contract() -> None:
    contract = Contract(
        mode="stream",
        precision="int8-dynamic",
        states=(StateSpec("h", "h_out", (1, 1, 8)),),
        model={"encoder": "gru", "parameters": 95000},
        source_commit="0123456",
    )
    info = model_info("student.int8.onnx", contract)
    assert info["file"] == "student.int8.onnx"
    assert info["contract"]["mode"] == "stream"
    assert info["contract"]["states"] == [
        {"input": "h", "output": "h_out", "shape": [1, 1, 8], "dtype": "float32"}
    ]
    assert info["contract"]["model"]["parameters"] == 95000
    assert info["contract"]["dev_ccc"] is None
    assert info["contract"]["source_commit"] == "0123456"  # stays a string
    json.dumps(info)


def test_unclean_exit_keeps_rows_and_skips_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    with pytest.raises(KeyboardInterrupt), open_sink(path, None, HEADER) as sink:
        for i in range(4):
            sink.write(reading(i))
        raise KeyboardInterrupt
    table = read_log(path)
    assert table.n_rows == 4 and table.summary is None
    with pytest.raises(ValueError, match="closed"):
        sink.write(reading(4))
    sink.close()  # idempotent


# ---------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("fmt", FORMATS)
def test_rotation_by_size_splits_between_rows(tmp_path: Path, fmt: str) -> None:
    base = tmp_path / f"long.{fmt}"
    n_rows = 300
    sink = write_log(base, n_rows, rotate_mb=0.002)
    paths = sink.paths
    assert len(paths) >= 3
    assert [p.name for p in paths] == [f"long.{i:04d}.{fmt}" for i in range(1, len(paths) + 1)]
    assert not base.exists()
    assert log_files(base) == list(paths) == log_files(paths[0])
    start = 0
    for index, path in enumerate(paths, start=1):
        assert path.stat().st_size < 2000 + 400  # over the limit by at most one row
        part = read_log([path])  # each file parses on its own
        assert part.n_rows > 0
        assert_rows([path], part.n_rows, start=start)
        if fmt != "csv":
            assert part.header is not None and part.header["format"] == "edge-affect-log/1"
            assert part.header["file_index"] == index
            assert part.header["first_time"] == pytest.approx(start * 0.04)
        if fmt == "arff":
            assert len(arff.loads(path.read_text())["data"]) == part.n_rows
        start += part.n_rows
    assert start == n_rows == sink.rows_written
    assert_rows(base, n_rows)  # the whole set: every row once, in order
    assert_rows(list(paths), n_rows)


def test_rotation_by_hours_with_an_injected_clock(tmp_path: Path) -> None:
    now = [1000.0]
    sink = open_sink(tmp_path / "day.jsonl", None, HEADER, rotate_hours=1.0, clock=lambda: now[0])
    for i in range(30):
        if i in (10, 20):
            now[0] += 3600.0
        sink.write(reading(i))
        now[0] += 1.0
    sink.close()
    counts = [read_log([p]).n_rows for p in sink.paths]
    assert counts == [10, 10, 10]
    headers = [read_log([p]).header or {} for p in sink.paths]
    assert [h["first_time"] for h in headers] == [0.0, 0.4, 0.8]
    assert_rows(tmp_path / "day.jsonl", 30)
    assert read_log(tmp_path / "day.jsonl").summary == {"type": "summary", "rows": 30, "files": 3}


def test_rotation_limits_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="rotate_mb must be a positive number"):
        open_sink(tmp_path / "log.csv", None, HEADER, rotate_mb=0)
    with pytest.raises(SinkError, match="rotate_hours"):
        open_sink(tmp_path / "log.csv", None, HEADER, rotate_hours=-1.0)


def test_existing_logs_are_refused_unless_overwriting(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    write_log(path, 5)
    with pytest.raises(SinkError, match=r"log\.csv: exists"):
        open_sink(path, None, HEADER)
    write_log(path, 2, overwrite=True)
    assert read_log(path).n_rows == 2

    base = tmp_path / "set.csv"
    first = write_log(base, 300, rotate_mb=0.002)
    with pytest.raises(SinkError, match=r"set\.0001\.csv: exists from an earlier log"):
        open_sink(base, None, HEADER, rotate_mb=0.002)
    second = write_log(base, 10, rotate_mb=0.002, overwrite=True)
    assert len(second.paths) == 1 < len(first.paths)
    assert log_files(base) == [second.paths[0]]  # no stale members left behind
    assert_rows(base, 10)


# ---------------------------------------------------------------------------- reading errors


BAD_CSV = [
    (CSV_COLUMNS + "\n0.00,0.1,0.2,1\n0.04,0.1,0.2\n", r"bad\.csv:3: 3 values, expected 4"),
    (CSV_COLUMNS + "\n0.00,0.1,zero,1\n", r"bad\.csv:2: a value is not a number"),
    (CSV_COLUMNS + "\n0.00,0.1,0.2,yes\n", r"bad\.csv:2: speech is 'yes'"),
    ("t,a,v\n", r"bad\.csv:1: expected the column line"),
    ("", r"bad\.csv: empty file, expected the column line"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CSV)
def test_read_log_reports_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        read_log(path)


def test_a_missing_log_is_named(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match=r"nothing\.csv: no such log file"):
        read_log(tmp_path / "nothing.csv")


def _cut_inside_row_4(lines: list[bytes]) -> bytes:
    return b"".join(lines[:4]) + lines[4][:30]


BAD_JSONL = {
    "truncated": (_cut_inside_row_4, r"log\.jsonl:5: not valid JSON .*truncated"),
    "no header": (lambda lines: b"".join(lines[1:]), r"log\.jsonl:1: expected the edge-affect"),
    "row after summary": (
        lambda lines: b"".join([lines[0], lines[-1], lines[1]]),
        r"log\.jsonl:3: a line after the summary",
    ),
    "newer format": (
        lambda lines: b"".join(lines).replace(b"edge-affect-log/1", b"edge-affect-log/2", 1),
        r"log\.jsonl:1: log format 'edge-affect-log/2', this version reads",
    ),
    "header is not an object": (
        lambda lines: b"[]\n" + b"".join(lines[1:]),
        r"log\.jsonl:1: expected the edge-affect log header",
    ),
    "row without speech": (
        lambda lines: lines[0] + lines[1].replace(b'"speech": ', b'"speaking": '),
        r"log\.jsonl:2: 'speech' is None, expected true or false",
    ),
    "row with a text value": (
        lambda lines: (
            lines[0] + b'{"time": 0.0, "arousal": "high", "valence": 0, "speech": true}\n'
        ),
        r"log\.jsonl:2: 'arousal' is 'high', expected a number",
    ),
    "unknown line type": (
        lambda lines: lines[0] + b'{"type": "footer"}\n',
        r"log\.jsonl:2: unexpected line of type 'footer'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_JSONL))
def test_malformed_jsonl_is_refused(tmp_path: Path, case: str) -> None:
    damage, message = BAD_JSONL[case]
    path = tmp_path / "log.jsonl"
    write_log(path, 5)
    path.write_bytes(damage(path.read_bytes().splitlines(keepends=True)))
    with pytest.raises(DataFormatError, match=message):
        read_log(path)


BAD_ARFF = {
    "missing attribute": (
        lambda text: text.replace("@attribute speech numeric\n", ""),
        r"attributes .* expected",
    ),
    "text value": (
        lambda text: text.replace("'log',0.04,", "'log',0.04,x"),
        r"log\.arff:\d+: arousal is",
    ),
    "no data section": (lambda text: text.split("@data")[0], "no @data section"),
    "no header comment": (
        lambda text: text.split("\n", 1)[1],
        r"log\.arff:1: expected the edge-affect log header comment",
    ),
    "speech not 0 or 1": (
        lambda text: text.replace(",1\n", ",2\n", 1),
        r"log\.arff: speech values must be 0 or 1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ARFF))
def test_malformed_arff_is_refused(tmp_path: Path, case: str) -> None:
    damage, message = BAD_ARFF[case]
    path = tmp_path / "log.arff"
    write_log(path, 3)
    path.write_text(damage(path.read_text()))
    with pytest.raises(DataFormatError, match=message):
        read_log(path)


def test_rotated_sets_must_be_complete_and_from_one_run(tmp_path: Path) -> None:
    base = tmp_path / "run.jsonl"
    paths = write_log(base, 300, rotate_mb=0.002).paths
    other = write_log(tmp_path / "other.jsonl", 300, rotate_mb=0.002).paths
    removed = paths[1].read_bytes()
    paths[1].unlink()
    with pytest.raises(DataFormatError, match=r"run\.0002\.jsonl: missing from the rotated set"):
        read_log(base)
    with pytest.raises(DataFormatError, match=r"file_index 3, expected 2"):
        read_log([paths[0], paths[2]])
    paths[1].write_bytes(removed.replace(HEADER.started.encode(), b"2030-01-01T00:00:00+00:00"))
    with pytest.raises(DataFormatError, match=r"run\.0002\.jsonl: its log started at another"):
        read_log(base)
    assert read_log(paths[2]).n_rows > 0  # a later member alone reads just itself
    assert read_log(other[0]).n_rows == 300  # member 1 stands for its set


# ---------------------------------------------------------------------------- faults


def test_parent_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "2025-01-31" / "log.csv"
    write_log(path, 2)
    assert read_log(path).n_rows == 2


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (sysfs when running as root)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    probe = folder / "probe"
    try:
        probe.touch()
    except PermissionError:
        return folder
    probe.unlink()
    if not Path("/sys/kernel").is_dir():
        pytest.skip("running as root without sysfs: no read-only folder to write into")
    return Path("/sys")


@pytest.mark.parametrize("where", ["folder", "under-a-file", "read-only"])
def test_unwritable_locations_raise_sink_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "dir.csv").mkdir()
    path = {
        "folder": tmp_path / "dir.csv",
        "under-a-file": tmp_path / "plain.txt" / "log.csv",
        "read-only": _read_only_folder(tmp_path) if where == "read-only" else tmp_path,
    }[where]
    if where == "read-only":
        path = path / "edge-affect-test-log.csv"
    with pytest.raises(SinkError) as caught:
        open_sink(path, None, HEADER)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    expected = {
        "folder": "is a folder",
        "under-a-file": "is not a folder",
        "read-only": "(Permission denied|Read-only file system)",
    }[where]
    assert re.search(expected, message), message
    assert isinstance(caught.value, EdgeAffectError) and caught.value.exit_code == 2


def test_full_device_raises_on_the_first_row() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    sink = open_sink(Path("/dev/full"), "jsonl", HEADER, overwrite=False)  # a device: no refusal
    with pytest.raises(
        SinkError, match=r"/dev/full: writing the log failed after 0 rows: No space"
    ):
        sink.write(reading(0))
    assert sink.closed and sink.rows_written == 0
    sink.close()  # after a failure: nothing more to do


_FSIZE_CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from pathlib import Path
    from edge_affect.logs.header import LogHeader, SinkError
    from edge_affect.logs.writer import open_sink
    from tests.runtime.test_sinks import HEADER, reading
    sink = open_sink(Path(sys.argv[1]), None, HEADER)
    error = ""
    try:
        for i in range(100_000):
            sink.write(reading(i))
    except SinkError as exc:
        error = str(exc)
    print(json.dumps({"rows": sink.rows_written, "error": error}))
    """
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_size_limit_leaves_only_complete_rows(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"limited.{fmt}"
    limit = 6000
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _FSIZE_CHILD, str(path), str(limit)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "File too large" in report["error"] and str(path) in report["error"]
    assert "last complete row" in report["error"]
    assert 0 < report["rows"] < 1000
    size = path.stat().st_size
    assert 0 < size <= limit and path.read_bytes().endswith(b"\n")
    assert_rows(path, report["rows"])  # complete rows only, exactly those reported
    if fmt == "arff":
        assert len(arff.loads(path.read_text())["data"]) == report["rows"]
