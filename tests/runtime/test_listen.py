"""`edge-affect listen` through the real capture path: sounddevice -> PortAudio -> ALSA
``pulse`` -> PulseAudio (scripts/with-pulseaudio.sh), in real time (paplay into the null sink)
and faster than real time (module-pipe-source). Without a server these tests skip; with
``CI`` set they fail, because CI provides the stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE
from edge_affect.pcm import float_to_int16
from edge_affect.stream.vad import VadGate
from tests.helpers import require_program, unavailable
from tests.runtime.test_audio_stack import _best_lag, _pactl_info

pytestmark = pytest.mark.audio_stack

LISTEN_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def pulse() -> dict[str, str]:
    info = _pactl_info()
    if info is None:
        unavailable("no PulseAudio server: run the tests under scripts/with-pulseaudio.sh")
    return info


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge_affect", *args]


def _jsonl_rows(path: Path) -> tuple[dict, list[dict]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    header = lines[0]
    assert header["type"] == "header"
    return header, [x for x in lines[1:] if x.get("type") is None]


def _speech_wav(path: Path, speech_16k: np.ndarray, rate_hz: int) -> np.ndarray:
    """0.5 s silence + speech + 0.5 s silence, written at ``rate_hz``; returns the 16 kHz int16."""
    pad = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    clip = np.concatenate([pad, speech_16k, pad])
    sf.write(
        path, float_to_int16(soxr.resample(clip, SAMPLE_RATE, rate_hz)), rate_hz, subtype="PCM_16"
    )
    return float_to_int16(clip)


def test_listen_records_in_real_time_on_the_40ms_grid(
    pulse: dict[str, str],
    exported_models: dict[str, Path],
    speech_16k: np.ndarray,
    tmp_path: Path,
) -> None:
    require_program("paplay", "apt-get install pulseaudio-utils")
    wav = tmp_path / "speech48k.wav"
    original = _speech_wav(wav, speech_16k, 48_000)
    log, record = tmp_path / "live.jsonl", tmp_path / "heard.wav"
    duration_s = original.shape[0] / SAMPLE_RATE + 2.0
    listen = subprocess.Popen(
        _cli(
            "listen",
            "--model",
            str(exported_models["stream"]),
            "--duration",
            f"{duration_s:.2f}",
            "--out",
            str(log),
            "--record",
            str(record),
            "--quiet",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not log.exists() and time.monotonic() < deadline:  # the stream is open
        time.sleep(0.05)
    time.sleep(0.5)
    subprocess.run(["paplay", str(wav)], check=True, timeout=60)
    stdout, stderr = listen.communicate(timeout=LISTEN_TIMEOUT_S)
    assert listen.returncode == 0, stderr
    header, rows = _jsonl_rows(log)
    expected_hops = round(duration_s * 25)
    assert len(rows) == expected_hops
    assert [r["time"] for r in rows[:3]] == [0.0, 0.04, 0.08]
    assert np.allclose([r["time"] for r in rows], np.arange(expected_hops) * 0.04)
    assert "contract" in header["model"] and header["source"]
    assert all(r["drops"] == 0 for r in rows)
    # the speech flags are webrtcvad's on the audio the model heard ...
    heard, rate = sf.read(record, dtype="int16")
    assert rate == SAMPLE_RATE and heard.shape[0] == expected_hops * HOP_SAMPLES
    gate = VadGate()
    flags = [gate.process(h) for h in heard.reshape(-1, HOP_SAMPLES)]
    assert flags == [r["speech"] for r in rows]
    # ... which is the played file, delayed: its own flags agree once aligned
    lag = _best_lag(heard.astype(np.float32), original.astype(np.float32))
    # playback may start a block before the input stream delivers it (PulseAudio starts the
    # null sink's monitor on demand): the first block of the 0.5 s of leading silence can be
    # missing
    assert lag >= -2048
    heard_part = heard[max(lag, 0) :]
    played = original[max(-lag, 0) :]
    n = min(heard_part.shape[0], played.shape[0])
    assert np.corrcoef(heard_part[:n].astype(np.float64), played[:n])[0, 1] > 0.99
    gate = VadGate()
    whole = played.shape[0] // HOP_SAMPLES * HOP_SAMPLES
    file_flags = np.array([gate.process(h) for h in played[:whole].reshape(-1, HOP_SAMPLES)])
    shift = round(max(lag, 0) / HOP_SAMPLES)
    live_flags = np.array(flags[shift : shift + file_flags.shape[0]])
    agreement = np.mean(live_flags == file_flags[: live_flags.shape[0]])
    assert agreement >= 0.95 and file_flags.mean() > 0.3
    assert "hops" in stdout and "speech" in stdout


def test_listen_calibrates_like_run_on_what_it_heard(
    pulse: dict[str, str],
    exported_models: dict[str, Path],
    speech_16k: np.ndarray,
    tmp_path: Path,
) -> None:
    """``listen --calibrate``: the baseline and relative values of a live stream are those of
    ``run --calibrate`` on its own recording, and the completion is said on stderr."""
    require_program("paplay", "apt-get install pulseaudio-utils")
    wav = tmp_path / "speech48k.wav"
    original = _speech_wav(wav, speech_16k, 48_000)
    model = str(exported_models["stream"])
    log, record, again = tmp_path / "live.jsonl", tmp_path / "heard.wav", tmp_path / "run.jsonl"
    duration_s = f"{original.shape[0] / SAMPLE_RATE + 1.5:.2f}"
    listen = subprocess.Popen(
        [
            *_cli("listen", "--model", model, "--duration", duration_s, "--out", str(log)),
            *("--record", str(record), "--calibrate", "1", "--quiet"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not log.exists() and time.monotonic() < deadline:  # the stream is open
        time.sleep(0.05)
    time.sleep(0.3)
    subprocess.run(["paplay", str(wav)], check=True, timeout=60)
    _, stderr = listen.communicate(timeout=LISTEN_TIMEOUT_S)
    assert listen.returncode == 0, stderr
    rerun = subprocess.run(
        _cli("run", str(record), "--model", model, "--out", str(again), "--calibrate", "1"),
        capture_output=True,
        text=True,
        timeout=LISTEN_TIMEOUT_S,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    header, rows = _jsonl_rows(log)
    _, expected = _jsonl_rows(again)
    assert header["calibration"] == {"seconds": 1.0, "hops": 25}
    keys = ("time", "arousal", "valence", "speech", "arousal_rel", "valence_rel")
    assert [[r[k] for k in keys] for r in rows] == [[r[k] for k in keys] for r in expected]
    done = [i for i, r in enumerate(rows) if r["arousal_rel"] is not None]
    assert done and sum(r["output"] == "model" for r in rows[: done[0] + 1]) == 25
    said = [line for line in stderr.splitlines() if line.startswith("calibrated at")]
    assert said == [line for line in rerun.stderr.splitlines() if line.startswith("calibrated")]
    assert said[0].startswith(f"calibrated at {done[0] * 0.04:.2f} s: baseline arousal")


def _source_outputs() -> list[str]:
    """Indexes of the server's recording streams."""
    listing = subprocess.run(
        ["pactl", "list", "short", "source-outputs"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def _pipe_source(tmp_path: Path) -> tuple[str, Path, str]:
    fifo = tmp_path / "capture.fifo"
    name = f"edge_affect_pipe_{os.getpid()}"
    result = subprocess.run(
        [
            "pactl",
            "load-module",
            "module-pipe-source",
            f"source_name={name}",
            f"file={fifo}",
            "format=s16le",
            f"rate={SAMPLE_RATE}",
            "channels=1",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return name, fifo, result.stdout.strip()


@pytest.mark.parametrize("chunk", [[], ["--chunk-hops", "25"]], ids=["hop", "chunk25"])
def test_listen_through_a_pipe_source_equals_run_on_the_same_audio(
    chunk: list[str],
    pulse: dict[str, str],
    exported_models: dict[str, Path],
    speech_16k: np.ndarray,
    tmp_path: Path,
) -> None:
    """Faster than real time: the speech is written into a module-pipe-source FIFO, `listen`
    captures it through PortAudio; `run` on the audio `listen` heard gives the same rows.
    With ``--chunk-hops`` the rows are the same and the extra latency is said."""
    name, fifo, module = _pipe_source(tmp_path)
    try:
        clip = np.tile(float_to_int16(speech_16k), 3)  # ~12 s
        log, record = tmp_path / "pipe.csv", tmp_path / "pipe.wav"
        duration_s = 8.0
        listen = subprocess.Popen(
            _cli(
                "listen",
                "--model",
                str(exported_models["stream"]),
                "--duration",
                str(duration_s),
                "--out",
                str(log),
                "--record",
                str(record),
                "--quiet",
                "--no-gate",
                *chunk,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PULSE_SOURCE": name},
        )
        # the pipe source discards what it reads while no stream records from it: write only
        # once listen's recording stream exists
        deadline = time.monotonic() + 30
        while not _source_outputs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _source_outputs(), "listen opened no recording stream"
        writer = threading.Thread(target=lambda: fifo.write_bytes(clip.tobytes()), daemon=True)
        started = time.monotonic()
        writer.start()
        _, stderr = listen.communicate(timeout=LISTEN_TIMEOUT_S)
        wall_s = time.monotonic() - started
        assert listen.returncode == 0, stderr
        assert ("chunks of 25 hops" in stderr) == bool(chunk), stderr
    finally:
        subprocess.run(["pactl", "unload-module", module], timeout=10, check=False)
    live = log.read_text().splitlines()
    assert len(live) == 1 + round(duration_s * 25)
    replay = tmp_path / "replay.csv"
    result = subprocess.run(
        _cli(
            "run",
            str(record),
            "--model",
            str(exported_models["stream"]),
            "--out",
            str(replay),
            "--no-gate",
        ),
        capture_output=True,
        text=True,
        timeout=LISTEN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert replay.read_text().splitlines() == live  # identical, row for row
    heard, _ = sf.read(record, dtype="int16")
    assert np.sqrt(np.mean(heard.astype(np.float64) ** 2)) > 100  # speech came through
    assert wall_s < duration_s + 6.0, f"pipe capture took {wall_s:.1f} s"


def test_listen_missing_device_is_a_one_line_error(
    pulse: dict[str, str], exported_models: dict[str, Path], tmp_path: Path
) -> None:
    result = subprocess.run(
        _cli(
            "listen",
            "--model",
            str(exported_models["stream"]),
            "--device",
            "999",
            "--duration",
            "1",
            "--out",
            str(tmp_path / "x.csv"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 4 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: input device")
    assert not (tmp_path / "x.csv").exists()  # nothing opened before the device


def test_devices_lists_the_pulse_input(pulse: dict[str, str]) -> None:
    result = subprocess.run(
        _cli("devices", "--json"), capture_output=True, text=True, timeout=60, check=True
    )
    devices = json.loads(result.stdout)
    assert any(d["default"] for d in devices)
    assert all(d["default_rate_hz"] > 0 for d in devices)
    assert any("pulse" in d["name"].lower() or "default" in d["name"].lower() for d in devices)


def test_a_lost_device_stops_with_a_message_and_keeps_the_log(
    pulse: dict[str, str], exported_models: dict[str, Path], tmp_path: Path
) -> None:
    """The server kills listen's recording stream (what unplugging a USB microphone does to
    a client): listen reports it, keeps every row, prints the summary and exits 4."""
    require_program("pacmd", "apt-get install pulseaudio")
    log = tmp_path / "lost.csv"
    listen = subprocess.Popen(
        _cli(
            "listen",
            "--model",
            str(exported_models["stream"]),
            "--duration",
            "60",
            "--out",
            str(log),
            "--quiet",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) > 10:
            break
        time.sleep(0.05)
    outputs = _source_outputs()
    assert outputs, "listen has no recording stream"
    subprocess.run(["pacmd", "kill-source-output", outputs[0]], timeout=10, check=True)
    stdout, stderr = listen.communicate(timeout=LISTEN_TIMEOUT_S)
    assert listen.returncode == 4, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("error: input device")
    rows = log.read_text().splitlines()[1:]
    assert len(rows) > 10 and all(len(r.split(",")) == 4 for r in rows)
    assert f"{len(rows)} hops" in stdout  # the summary counts what was logged
