"""Faults and bad input through the real command line (a subprocess running
``python -m edge_affect``): no user file destroyed, no log lost, no hang, no traceback.

Real files, real processes, the bundled model or small real ONNX graphs; the frozen-server and
the systemd-unit tests use the private PulseAudio daemon of scripts/with-pulseaudio.sh (they
skip without one, and fail in CI, which provides it)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf

from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE
from edge_affect.logs.header import LogHeader, SinkError
from edge_affect.logs.reader import read_log
from edge_affect.logs.writer import open_sink
from edge_affect.paths import BUNDLED_MODELS, DEFAULT_MODEL
from edge_affect.pcm import float_to_int16
from edge_affect.stream.reading import Reading
from tests.helpers import require, unavailable
from tests.runtime.test_audio_stack import _pactl_info

README = Path(__file__).resolve().parents[1] / "README.md"
MODEL = BUNDLED_MODELS / DEFAULT_MODEL
TIMEOUT_S = 120


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge_affect", *args]


def _run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    options: dict[str, object] = {"capture_output": True, "text": True, "timeout": TIMEOUT_S}
    options.update(kwargs)
    return subprocess.run(_cli(*args), check=False, **options)  # type: ignore[call-overload]


def _one_line_error(result: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and fragment in last, last


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wait_for_rows(log: Path, rows: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_bytes().splitlines()) > rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"{log}: fewer than {rows} rows after {timeout_s} s")


@pytest.fixture
def speech(speech_16k: np.ndarray, tmp_path: Path) -> Path:
    """About 4 s of espeak-ng speech, 16 kHz int16 WAV."""
    path = tmp_path / "speech.wav"
    sf.write(path, float_to_int16(speech_16k), SAMPLE_RATE, subtype="PCM_16")
    return path


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line, parse_constant=_no_constant) for line in path.read_text().splitlines()]


def _no_constant(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


# ----------------------------------------------------------------- 1-3: files destroyed


def test_an_output_that_is_an_input_is_refused_whatever_the_flags(
    speech: Path, tmp_path: Path
) -> None:
    before = _digest(speech)
    model_copy = tmp_path / "model.onnx"
    model_copy.write_bytes(MODEL.read_bytes())
    (tmp_path / "link.wav").symlink_to(speech)
    os.link(speech, tmp_path / "hard.wav")
    cases = [
        ("run", str(speech), "--out", str(speech), "--overwrite"),
        ("run", str(speech), "--out", str(tmp_path / "link.wav"), "--overwrite"),
        ("run", str(speech), "--out", str(tmp_path / "hard.wav"), "--overwrite", "--format", "csv"),
        (
            "run",
            str(speech),
            "--model",
            str(model_copy),
            "--out",
            str(model_copy),
            "--overwrite",
            "--format",
            "csv",
        ),
        ("listen", "--out", str(tmp_path / "x.csv"), "--record", str(tmp_path / "x.csv")),
        ("listen", "--model", str(model_copy), "--record", str(model_copy), "--overwrite"),
    ]
    for args in cases:
        _one_line_error(_run(*args), 2, "is the same file as")
    assert _digest(speech) == before and model_copy.read_bytes() == MODEL.read_bytes()
    assert not (tmp_path / "x.csv").exists()


def test_a_rotated_log_cannot_take_an_input_name(tmp_path: Path) -> None:
    member = tmp_path / "day.0001.csv"
    member.write_text("precious\n")
    result = _run(
        "listen",
        "--model",
        str(member),
        "--out",
        str(tmp_path / "day.csv"),
        "--rotate-hours",
        "1",
        "--overwrite",
    )
    _one_line_error(result, 2, "is the same file as")
    assert member.read_text() == "precious\n"


def test_record_obeys_the_no_replace_rule(tmp_path: Path) -> None:
    earlier = tmp_path / "earlier.wav"
    sf.write(earlier, np.ones(1600, dtype=np.int16), SAMPLE_RATE)
    before = _digest(earlier)
    result = _run("listen", "--record", str(earlier), "--out", str(tmp_path / "log.csv"))
    _one_line_error(result, 2, "exists")
    result = _run("listen", "--record", str(tmp_path), "--out", str(tmp_path / "log.csv"))
    _one_line_error(result, 2, "is a folder")
    assert _digest(earlier) == before and not (tmp_path / "log.csv").exists()


def test_a_second_writer_fails_before_writing_and_names_the_first(
    speech: Path, tmp_path: Path
) -> None:
    log = tmp_path / "shared.jsonl"
    first = subprocess.Popen(
        _cli("run", str(speech), "--realtime", "--out", str(log), "--overwrite"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_rows(log, 10)
        size = log.stat().st_size
        second = _run("run", str(speech), "--out", str(log), "--overwrite")
        _one_line_error(second, 2, f"process {first.pid}")
        assert log.stat().st_size >= size  # not truncated by the second writer
    finally:
        stdout, stderr = first.communicate(timeout=TIMEOUT_S)
    assert first.returncode == 0, stderr
    lines = _jsonl(log)
    rows = [x for x in lines if x.get("type") is None]
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "summary"
    assert lines[-1]["rows"] == len(rows) and f"{len(rows)} hops" in stdout
    assert [r["time"] for r in rows] == [round(i * 0.04, 2) for i in range(len(rows))]


def _reading(i: int) -> Reading:
    return Reading(i, 0.1, 0.2, True, "model", 0.001, 0.0)


def test_a_rotated_set_has_one_writer(tmp_path: Path) -> None:
    header = LogHeader.now("test", {"file": "m.onnx"})
    base = tmp_path / "set.csv"
    first = open_sink(base, None, header, rotate_mb=0.0001)  # ~100 bytes per file
    for i in range(20):
        first.write(_reading(i))
    written = list(first.paths)
    assert len(written) > 2
    with pytest.raises(SinkError, match=f"another writer.*process {os.getpid()}"):
        open_sink(base, None, header, rotate_mb=0.0001, overwrite=True)
    for i in range(20, 25):
        first.write(_reading(i))
    first.close()
    assert read_log(base).n_rows == 25  # nothing of the first writer's set was removed


# ----------------------------------------------------------------- 4-6: hangs and signals


def _pulse_pid() -> int:
    pid_file = Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent")) / "pulse" / "pid"
    if _pactl_info() is None or not pid_file.is_file():
        unavailable("no private PulseAudio daemon: run the tests under scripts/with-pulseaudio.sh")
    return int(pid_file.read_text().split()[0])


@pytest.mark.audio_stack
def test_a_frozen_audio_server_ends_listen_in_bounded_time(tmp_path: Path) -> None:
    """The PulseAudio daemon is stopped with SIGSTOP mid-stream (and resumed after): listen
    reports the stalled device, keeps every row, prints the summary, exits 4, promptly."""
    daemon = _pulse_pid()
    log = tmp_path / "frozen.csv"
    listen = subprocess.Popen(
        _cli("listen", "--duration", "120", "--out", str(log), "--quiet"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_rows(log, 10)
        os.kill(daemon, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            stdout, stderr = listen.communicate(timeout=30)
        finally:
            os.kill(daemon, signal.SIGCONT)
        took_s = time.monotonic() - frozen_at
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.wait()
    assert listen.returncode == 4, stderr
    assert took_s < 15, f"listen took {took_s:.1f} s to give up on a frozen server"
    assert "Traceback" not in stderr and "delivered no audio" in stderr.splitlines()[-1]
    rows = log.read_text().splitlines()[1:]
    assert rows and all(len(r.split(",")) == 4 for r in rows)
    assert f"{len(rows)} hops" in stdout
    assert _pactl_info() is not None  # the daemon serves again


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_run_like_ctrl_c(
    sig: signal.Signals, speech: Path, tmp_path: Path
) -> None:
    log = tmp_path / "stopped.arff"
    process = subprocess.Popen(
        _cli("run", str(speech), "--realtime", "--out", str(log)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_rows(log, 20)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"(interrupted: {sig.name})" in stdout and "Traceback" not in stderr
    table = read_log(log)
    assert table.summary is not None and table.summary["stop_signal"] == sig.name
    assert table.summary["rows"] == table.n_rows and f"{table.n_rows} hops" in stdout
    assert np.allclose(table.times, np.arange(table.n_rows) * 0.04)


def _readme_unit() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^( *)```ini\n(.*?)^ *```", text, re.S | re.M)
    assert match, "README: no systemd unit example"
    unit = textwrap.dedent(match.group(2))
    assert unit.startswith("[Unit]")
    return unit


def _exec_start(unit: str, out_dir: Path) -> list[str]:
    """The unit's ExecStart, as systemd would run it (``%%`` is a literal ``%``), with this
    interpreter for the installed script and ``out_dir`` for the log folder."""
    line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
    argv = shlex.split(line.removeprefix("ExecStart=").replace("%%", "%"))
    script = argv[-1].replace("/home/pi/affect", str(out_dir))
    script = re.sub(r"\S*/edge-affect ", shlex.join(_cli()) + " ", script)
    return [*argv[:-1], script]


def test_the_readme_systemd_unit_restarts_on_failure_and_rotates() -> None:
    unit = _readme_unit()
    settings = dict(x.split("=", 1) for x in unit.splitlines() if "=" in x)
    assert settings["Restart"] == "on-failure"
    assert settings.get("KillSignal", "SIGTERM") == "SIGTERM"
    assert "--rotate-hours" in settings["ExecStart"] and " listen " in settings["ExecStart"]


@pytest.mark.audio_stack
def test_sigterm_stops_the_readme_systemd_service(tmp_path: Path) -> None:
    """The README's unit, run as systemd runs it, stopped as systemd stops it (SIGTERM to the
    main process): exit 0 (so Restart=on-failure does not restart it), a summary, every row."""
    if _pactl_info() is None:
        unavailable("no PulseAudio server: run the tests under scripts/with-pulseaudio.sh")
    argv = _exec_start(_readme_unit(), tmp_path)
    service = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = sorted(tmp_path.glob("*.jsonl"))
        if logs and len(logs[0].read_text().splitlines()) > 20:
            break
        time.sleep(0.1)
    service.send_signal(signal.SIGTERM)
    stdout, stderr = service.communicate(timeout=30)
    assert service.returncode == 0, stderr
    assert "(interrupted: SIGTERM)" in stdout and "Traceback" not in stderr
    logs = sorted(tmp_path.glob("*.jsonl"))
    assert len(logs) == 1 and re.search(r"\.0001\.jsonl$", logs[0].name)  # a rotated set
    lines = _jsonl(logs[0])
    rows = [x for x in lines if x.get("type") is None]
    assert lines[-1]["type"] == "summary" and lines[-1]["stop_signal"] == "SIGTERM"
    assert lines[-1]["rows"] == len(rows) >= 20
    assert [r["time"] for r in rows] == [round(i * 0.04, 2) for i in range(len(rows))]


def test_threads_are_bounded(speech: Path, tmp_path: Path) -> None:
    for threads in ("0", "-3", "100000"):
        result = _run("run", str(speech), "--threads", threads, "--out", str(tmp_path / "t.csv"))
        _one_line_error(result, 2, f"--threads {threads}: choose 1 to")
    assert not (tmp_path / "t.csv").exists()


# ----------------------------------------------------------------- 7: no tracebacks


def _window_model_claiming(tmp_path: Path, window_samples: int) -> Path:
    """The bundled graph relabelled as a window-mode model of ``window_samples``."""
    model = onnx.load(str(MODEL))
    props = {p.key: p for p in model.metadata_props}
    props["edge_affect.mode"].value = "window"
    props["edge_affect.window_samples"].value = str(window_samples)
    path = tmp_path / "huge_window.onnx"
    onnx.save(model, str(path))
    return path


def test_nonsense_values_are_one_line_errors(speech: Path, tmp_path: Path) -> None:
    huge = _window_model_claiming(tmp_path, 640 * 10**9)
    cases = [
        (("listen", "--duration", "nan"), "--duration must be a positive number"),
        (("listen", "--duration", "inf"), "--duration must be a positive number"),
        (
            ("run", str(speech), "--model", str(huge), "--out", str(tmp_path / "h.csv")),
            "window_samples 640000000000 is longer than",
        ),
        (
            ("bench", "--model", str(huge), "--seconds", "2", "--no-process", "--no-references"),
            "window_samples 640000000000 is longer than",
        ),
        (("bench", "--seconds", "nan"), "--seconds nan"),
        (("bench", "--seconds", "0"), "--seconds 0.0"),
        (
            ("run", str(speech), "--format", "jsonl", "--out", str(tmp_path / "x.csv")),
            "--format jsonl but --out",
        ),
        (("listen", "--rate", "0"), "--rate 0: choose a rate"),
        (("listen", "--model", str(tmp_path)), "is a folder, expected an .onnx model file"),
    ]
    for args, fragment in cases:
        _one_line_error(_run(*args), 2, fragment)
    assert not (tmp_path / "h.csv").exists() and not (tmp_path / "x.csv").exists()


def test_bench_checks_its_report_path_before_measuring(tmp_path: Path) -> None:
    started = time.monotonic()
    result = _run("bench", "--out", str(tmp_path), "--seconds", "60")
    _one_line_error(result, 2, "is a folder")
    result = _run("bench", "--out", str(tmp_path / "no" / "r.json"), "--seconds", "60")
    _one_line_error(result, 2, "does not exist")
    assert time.monotonic() - started < 30  # refused at once, not after a 60 s bench


def test_names_that_are_not_utf8(speech: Path, tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    audio = folder + b"/caf\xe9.wav"
    with open(audio, "wb") as target:
        target.write(speech.read_bytes())
    result = subprocess.run(
        _cli("run", os.fsdecode(audio), "--format", "jsonl"),
        cwd=tmp_path,
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr and b"caf\\xe9.wav" in result.stdout
    log = Path(os.fsdecode(folder + b"/caf\xe9.affect.jsonl"))
    assert _jsonl(log)[0]["type"] == "header"
    missing = subprocess.run(
        _cli("run", os.fsdecode(folder + b"/\xff.wav")),
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert missing.returncode == 2 and b"Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1].startswith(b"error: ")


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has installed a SIGTERM handler (edge-affect's first act)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.M).group(1), 16)  # type: ignore[union-attr]
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def test_ctrl_c_during_start_up_is_one_line(speech: Path, tmp_path: Path) -> None:
    """Ctrl-C at several moments of start-up (imports, model load, the first hops), counted
    from when edge-affect's code runs; the interpreter's own start before that is Python's."""
    require(Path("/proc/self/status").is_file(), "no /proc")
    cases = [
        (0.0, signal.SIGINT),
        (0.1, signal.SIGINT),
        (0.3, signal.SIGTERM),
        (0.6, signal.SIGINT),
        (1.0, signal.SIGHUP),
    ]
    for delay_s, sig in cases:
        process = subprocess.Popen(
            _cli("run", str(speech), "--realtime", "--out", str(tmp_path / f"{delay_s}.csv")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not _catches_sigterm(process.pid) and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay_s)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=30)
        assert "Traceback" not in stderr, (delay_s, stderr)
        assert process.returncode in (0, 128 + sig), (delay_s, process.returncode, stderr)
        if process.returncode:  # before the stream: one line
            assert stderr.strip().splitlines()[-1].startswith(f"interrupted ({sig.name})")
        else:  # the stream had started: a clean stop with the summary
            assert "(interrupted" in stdout


def test_a_stop_python_would_drop_still_stops() -> None:
    """A signal handled inside a ``__del__`` (or the import system's weakref callbacks, where CI
    once caught a SIGTERM at start-up) raises where Python drops exceptions: the stop must still
    land, later, with no "Exception ignored" on stderr."""
    script = textwrap.dedent(
        """
        import signal, time
        from edge_affect import signals

        signals.install()

        class Dropper:
            def __del__(self):
                signal.raise_signal(signal.SIGTERM)  # the handler runs here, inside __del__

        try:
            Dropper()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                time.sleep(0.01)
            print("not stopped")
        except KeyboardInterrupt as stop:
            print("stopped by", signals.signal_name(stop), signals.fired())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stopped by SIGTERM SIGTERM", (result.stdout, result.stderr)
    assert result.stderr == ""


# ----------------------------------------------------------------- 8: run - (pipes)


def test_run_reads_wav_and_raw_pcm_from_standard_input(speech: Path, tmp_path: Path) -> None:
    by_file = tmp_path / "file.csv"
    assert _run("run", str(speech), "--out", str(by_file), "--no-gate").returncode == 0
    expected = by_file.read_text()
    wav_in = tmp_path / "wav_in.csv"
    result = _run(
        "run", "-", "--out", str(wav_in), "--no-gate", input=None, stdin=speech.open("rb")
    )
    assert result.returncode == 0, result.stderr
    assert wav_in.read_text() == expected
    raw = sf.read(speech, dtype="int16")[0].astype("<i2").tobytes()
    raw_in = tmp_path / "raw_in.csv"
    result = subprocess.run(
        _cli("run", "-", "--raw-rate", "16000", "--out", str(raw_in), "--no-gate"),
        input=raw,
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert raw_in.read_text() == expected
    dev_stdin = tmp_path / "dev_stdin.csv"
    with speech.open("rb") as stdin:
        result = _run("run", "/dev/stdin", "--out", str(dev_stdin), "--no-gate", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert dev_stdin.read_text() == expected


def test_run_from_a_pipe_streams_as_the_audio_arrives(speech: Path, tmp_path: Path) -> None:
    """Half the audio is written and the pipe kept open: its rows are logged before the rest
    arrives (paced by the pipe, not by the end of the input)."""
    pcm = sf.read(speech, dtype="int16")[0].astype("<i2").tobytes()
    log = tmp_path / "live.csv"
    process = subprocess.Popen(
        _cli("run", "-", "--raw-rate", "16000", "--out", str(log), "--no-gate"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    half = len(pcm) // 2 // (2 * HOP_SAMPLES) * (2 * HOP_SAMPLES)
    process.stdin.write(pcm[:half])
    process.stdin.flush()
    _wait_for_rows(log, half // (2 * HOP_SAMPLES) - 1, timeout_s=60)
    assert process.poll() is None  # still waiting for the rest
    process.stdin.write(pcm[half:])
    process.stdin.close()
    process.wait(timeout=TIMEOUT_S)
    assert process.returncode == 0
    assert len(log.read_text().splitlines()) == 1 + -(-len(pcm) // (2 * HOP_SAMPLES))


def test_low_rates_are_refused_unless_asked(tmp_path: Path) -> None:
    audio = tmp_path / "one_hz.wav"
    sf.write(audio, np.zeros(100, dtype=np.int16), 1, subtype="PCM_16")
    _one_line_error(_run("run", str(audio), "--out", str(tmp_path / "a.csv")), 2, "below 8000 Hz")
    assert not (tmp_path / "a.csv").exists()
    low = tmp_path / "low.wav"
    sf.write(low, np.zeros(4000, dtype=np.int16), 4000, subtype="PCM_16")
    result = _run("run", str(low), "--allow-low-rate", "--out", str(tmp_path / "b.csv"))
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "b.csv").read_text().splitlines()) == 1 + 25  # 1 s of audio


# ----------------------------------------------------------------- 9-10: non-finite values


def test_non_finite_audio_is_an_error_naming_its_time(tmp_path: Path) -> None:
    samples = np.zeros(SAMPLE_RATE * 2, dtype=np.float32)
    samples[24_000] = np.nan
    audio = tmp_path / "nan.wav"
    sf.write(audio, samples, SAMPLE_RATE, subtype="FLOAT")
    result = _run("run", str(audio), "--out", str(tmp_path / "nan.csv"), "--no-gate")
    _one_line_error(result, 2, "a non-finite sample (nan) at 1.500 s")
    rows = (tmp_path / "nan.csv").read_text().splitlines()[1:]
    assert 0 < len(rows) <= 38  # the hops before it are kept
    samples[24_000] = np.inf
    sf.write(audio, samples, SAMPLE_RATE, subtype="FLOAT")
    result = _run("run", str(audio), "--out", str(tmp_path / "inf.csv"), "--no-gate")
    _one_line_error(result, 2, "a non-finite sample (inf) at 1.500 s")


def _nan_model(path: Path) -> Path:
    """A stream-mode graph that outputs sqrt(mean PCM) for both dimensions: NaN for hops whose
    mean is negative, finite otherwise; its state passes through."""
    from onnx import TensorProto, helper  # noqa: PLC0415

    from edge_affect.stream.contract import Contract, StateSpec  # noqa: PLC0415

    nodes = [
        helper.make_node("Cast", ["pcm"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x"], ["m"], keepdims=1),
        helper.make_node("Sqrt", ["m"], ["r"]),
        helper.make_node("Concat", ["r", "r"], ["affect"], axis=1),
        helper.make_node("Identity", ["state_in"], ["state_out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "nan_model",
        [
            helper.make_tensor_value_info("pcm", TensorProto.INT16, [1, HOP_SAMPLES]),
            helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [1, 4]),
        ],
        [
            helper.make_tensor_value_info("affect", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1, 4]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    contract = Contract(
        mode="stream", precision="fp32", states=(StateSpec("state_in", "state_out", (1, 4)),)
    )
    for key, value in contract.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "arff"])
def test_a_non_finite_model_output_is_an_invalid_row(fmt: str, tmp_path: Path) -> None:
    model = _nan_model(tmp_path / "nan.onnx")
    hops = np.repeat([[1000], [-1000], [-1000], [1000], [4000]], HOP_SAMPLES, axis=1)
    audio = tmp_path / "dc.wav"
    sf.write(audio, hops.reshape(-1).astype(np.int16), SAMPLE_RATE, subtype="PCM_16")
    log = tmp_path / f"out.{fmt}"
    result = _run("run", str(audio), "--model", str(model), "--out", str(log), "--no-gate")
    assert result.returncode == 0, result.stderr
    assert "invalid rows: 2" in result.stdout
    text = log.read_text()
    rows = [x.lower() for x in text.splitlines() if not x.startswith(("%", "@", "{"))]
    assert not any("nan" in x or "inf" in x for x in rows)
    if fmt == "csv":
        assert text.splitlines()[2:4] == ["0.04,,,1", "0.08,,,1"]
    elif fmt == "jsonl":
        lines = _jsonl(log)  # every line valid JSON (no NaN / Infinity)
        rows = [x for x in lines if x.get("type") is None]
        assert [r.get("valid", True) for r in rows] == [True, False, False, True, True]
        assert rows[1]["arousal"] is None and rows[1]["valence"] is None
        assert lines[-1]["invalid_hops"] == 2
    else:
        assert ",?,?," in text
    table = read_log(log)
    assert np.isnan(table.arousal).tolist() == [False, True, True, False, False]
    assert table.arousal[3] == pytest.approx(math.sqrt(1000), rel=1e-4)  # the PCM values


def _gold(path: Path, dimension: str, n: int) -> Path:
    from edge_affect.formats.arff import gold_standard_table, write_arff  # noqa: PLC0415

    write_arff(path, gold_standard_table("dev_1", dimension, np.sin(np.arange(n) / 7.0)))
    return path


def test_evaluate_reports_dropped_rows_and_fails_when_none_are_left(tmp_path: Path) -> None:
    arousal = _gold(tmp_path / "arousal" / "dev_1.arff", "arousal", 50)
    header = LogHeader.now("test", {"file": "m.onnx"})
    some, none = tmp_path / "some.csv", tmp_path / "none.csv"
    with open_sink(some, None, header) as sink:
        for i in range(50):
            value = math.nan if i % 5 == 0 else math.sin(i / 7.0)
            sink.write(Reading(i, value, value, True, "model", 0.0, 0.0))
    with open_sink(none, None, header) as sink:
        for i in range(50):
            sink.write(Reading(i, math.nan, math.nan, True, "model", 0.0, 0.0))
    result = _run("evaluate", str(some), str(arousal))
    assert result.returncode == 0, result.stderr
    assert "dropped: 10 log rows without a value" in result.stdout
    assert re.search(r"arousal\s+all\s+40\s+1\.0000", result.stdout)
    as_json = json.loads(_run("evaluate", str(some), str(arousal), "--json").stdout)
    assert as_json["invalid_rows"] == 10
    _one_line_error(_run("evaluate", str(none), str(arousal)), 2, "nothing left to score")


# ----------------------------------------------------------------- 12: minor


def test_no_audio_server_says_so_and_how_to_list_devices(tmp_path: Path) -> None:
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent/native"}
    result = _run("listen", "--out", str(tmp_path / "x.csv"), "--duration", "1", env=env)
    if result.returncode == 0:
        pytest.skip("this machine has a capture device without an audio server")
    _one_line_error(result, 4, "no audio input found")
    assert "edge-affect devices" in result.stderr and not (tmp_path / "x.csv").exists()


def test_two_demos_in_the_same_second_get_different_logs(tmp_path: Path) -> None:
    require((BUNDLED_MODELS.parent / "demo" / "demo.ogg").is_file(), "no bundled demo clip")
    out = tmp_path / "runs"
    demos = [
        subprocess.Popen(
            _cli("demo", "--fast", "--quiet", "--out", str(out)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(d, *d.communicate(timeout=TIMEOUT_S)) for d in demos]
    for demo, _, stderr in results:
        assert demo.returncode == 0, stderr
    logs = sorted(out.glob("*.csv"))
    assert len(logs) == 2 and all(read_log(p).n_rows == 750 for p in logs)


def test_describe_flags_gold_longer_than_its_audio(corpus_copy: Path) -> None:
    wav = sorted((corpus_copy / "recordings_audio").glob("dev_*.wav"))[0]
    samples, rate = sf.read(wav, dtype="int16")
    cut_s = 2.0
    sf.write(wav, samples[: int(cut_s * rate)], rate, subtype="PCM_16")
    result = _run("data", "describe", str(corpus_copy), "--no-evidence")
    assert result.returncode == 0, result.stderr
    warning = next(x for x in result.stdout.splitlines() if x.strip().startswith("!"))
    assert wav.stem in warning and "the audio lasts 2.00 s" in warning


def test_record_to_a_folder_or_dev_full_leaves_no_log(tmp_path: Path) -> None:
    require(Path("/dev/full").exists(), "no /dev/full")
    if _pactl_info() is None:
        unavailable("no PulseAudio server: run the tests under scripts/with-pulseaudio.sh")
    log = tmp_path / "log.csv"
    result = _run("listen", "--record", "/dev/full", "--out", str(log), "--duration", "1")
    _one_line_error(result, 2, "/dev/full")
    assert not log.exists()
