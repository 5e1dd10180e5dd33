"""The streaming runtime on files: sources, resampling, the VAD gate, the pipeline, `run`,
and the faults a user can cause. Real ONNX models (exported in a fixture), real audio files,
real onnxruntime; the microphone path through PulseAudio is in test_listen.py."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from typer.testing import CliRunner

from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE
from edge_affect.cli import app
from edge_affect.errors import EdgeAffectError
from edge_affect.pcm import float_to_int16
from edge_affect.stream.feed import SourceStats
from edge_affect.stream.hopper import Hopper
from edge_affect.stream.model import AffectModel
from edge_affect.stream.pipeline import Pipeline, PipelineSettings, run_stream
from edge_affect.stream.reading import Reading
from edge_affect.stream.sources import DeviceError, FileSource, MicSource
from edge_affect.stream.vad import VadGate, VadSettings

runner = CliRunner()
ALSA_PROMPTS = Path("/usr/share/sounds/alsa")


def _csv(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    assert lines[0] == "time,arousal,valence,speech"
    return np.array([[float(x) for x in line.split(",")] for line in lines[1:]]).reshape(-1, 4)


def _onnx_readings(model: Path, pcm: np.ndarray) -> np.ndarray:
    stream = AffectModel(model).stream()
    return np.stack([stream.step(h) for h in pcm.reshape(-1, HOP_SAMPLES)])


def _padded_hops(pcm: np.ndarray) -> np.ndarray:
    n = -(-pcm.shape[0] // HOP_SAMPLES) * HOP_SAMPLES
    out = np.zeros(n, dtype=np.int16)
    out[: pcm.shape[0]] = pcm
    return out


@pytest.fixture
def speech_wav(speech_16k: np.ndarray, tmp_path: Path) -> Path:
    """1 s of silence, the espeak-ng speech, 1 s of silence, plus a partial hop: int16 16 kHz."""
    silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
    signal_ = np.concatenate([silence, speech_16k, silence, np.zeros(100, dtype=np.float32)])
    path = tmp_path / "speech.wav"
    sf.write(path, float_to_int16(signal_), SAMPLE_RATE, subtype="PCM_16")
    return path


# --- sources -------------------------------------------------------------------------------


def test_hopper_streams_like_one_shot_resampling() -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(48_000 * 2) * 0.1).astype(np.float32)
    hopper = Hopper(48_000)
    hops: list[np.ndarray] = []
    start = 0
    for size in rng.integers(1, 3000, size=200):
        hops += list(hopper.push(x[start : start + size]))
        start += size
    hops += list(hopper.push(x[start:]))
    hops += list(hopper.push(np.zeros(0, dtype=np.float32), last=True))
    expected = _padded_hops(float_to_int16(soxr.resample(x, 48_000, 16_000, quality="HQ")))
    assert np.array_equal(np.concatenate(hops), expected)


def test_file_source_gives_the_exact_samples_of_a_16k_file(speech_wav: Path) -> None:
    samples, _ = sf.read(speech_wav, dtype="int16")
    hops = list(FileSource(speech_wav).hops())
    assert all(h.shape == (HOP_SAMPLES,) and h.dtype == np.int16 for h in hops)
    assert np.array_equal(np.concatenate(hops), _padded_hops(samples))


def test_file_source_mixes_down_and_resamples(speech_16k: np.ndarray, tmp_path: Path) -> None:
    stereo_44k = soxr.resample(speech_16k, 16_000, 44_100)
    both = np.stack([stereo_44k, 0.5 * stereo_44k], axis=1)
    path = tmp_path / "stereo.flac"
    sf.write(path, both, 44_100, subtype="PCM_24")
    source = FileSource(path)
    got = np.concatenate(list(source.hops()))
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1, dtype=np.float32)
    expected = _padded_hops(float_to_int16(soxr.resample(mono, 44_100, 16_000, quality="HQ")))
    assert np.array_equal(got, expected)
    assert source.rate_hz == 44_100 and source.channels == 2


# --- VAD gate ------------------------------------------------------------------------------


def test_vad_gate_opens_on_speech_and_closes_after_the_hangover(speech_16k: np.ndarray) -> None:
    pcm = float_to_int16(
        np.concatenate(
            [np.zeros(SAMPLE_RATE, np.float32), speech_16k, np.zeros(SAMPLE_RATE, np.float32)]
        )
    )
    gate = VadGate(VadSettings(mode=2, hangover_ms=300))
    flags = np.array([gate.process(h) for h in pcm.reshape(-1, HOP_SAMPLES)])
    lead, speech_hops = 25, speech_16k.shape[0] // HOP_SAMPLES
    assert not flags[:lead].any()  # digital silence is never speech
    assert flags[lead : lead + speech_hops].mean() > 0.8
    assert not flags[lead + speech_hops + 10 :].any()  # closed 0.4 s after the speech ends
    # hysteresis: a 120 ms gap inside speech keeps the gate open
    gate.reset()
    voiced = pcm[lead * HOP_SAMPLES : (lead + 10) * HOP_SAMPLES]
    gap = np.zeros(3 * HOP_SAMPLES, dtype=np.int16)
    for hop in np.concatenate([voiced, gap]).reshape(-1, HOP_SAMPLES):
        last = gate.process(hop)
    assert last, "a 120 ms pause closed the gate"


# --- pipeline ------------------------------------------------------------------------------


class ListSource:
    """A test source: given hops, with counters that the test can move."""

    description = "test hops"

    def __init__(self, hops: list[np.ndarray], fail_after: int | None = None) -> None:
        self._hops = hops
        self.fail_after = fail_after
        self.stats = SourceStats()
        self.closed = False

    def hops(self):  # type: ignore[no-untyped-def]
        for i, hop in enumerate(self._hops):
            if self.fail_after is not None and i == self.fail_after:
                raise DeviceError("input device test lost (PortAudio error -9999)")
            self.stats.overflows = i // 10  # the device reports an overflow every 10 hops
            yield hop

    def close(self) -> None:
        self.closed = True


class Collect:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def write(self, reading: Reading) -> None:
        self.readings.append(reading)


def test_pipeline_without_gate_equals_the_model_stream(
    exported_models: dict[str, Path], speech_wav: Path
) -> None:
    hops = list(FileSource(speech_wav).hops())
    model = AffectModel(exported_models["stream"])
    sink = Collect()
    summary = run_stream(ListSource(hops), Pipeline(model, PipelineSettings(gate=False)), [sink])
    got = np.array([[r.arousal, r.valence] for r in sink.readings], dtype=np.float32)
    assert np.array_equal(got, _onnx_readings(exported_models["stream"], np.concatenate(hops)))
    assert [r.time_s for r in sink.readings[:3]] == [0.0, 0.04, 0.08]
    assert all(r.output == "model" for r in sink.readings)
    assert summary.hops == len(hops) and summary.overflows == (len(hops) - 1) // 10
    assert 0.2 < summary.speech_share < 0.9


@pytest.mark.parametrize("policy", ["hold", "decay"])
def test_gated_silence_holds_or_decays(
    policy: str, exported_models: dict[str, Path], speech_wav: Path
) -> None:
    hops = list(FileSource(speech_wav).hops())
    sink = Collect()
    pipeline = Pipeline(AffectModel(exported_models["stream"]), PipelineSettings(silence=policy))
    run_stream(ListSource(hops), pipeline, [sink])
    readings = sink.readings
    assert all((r.output == "model") == r.speech for r in readings)
    assert all(r.arousal == 0.0 and r.valence == 0.0 for r in readings[:20])  # before any speech
    last_model = max(i for i, r in enumerate(readings) if r.output == "model")
    tail = readings[last_model:]
    assert len(tail) > 20
    for before, after in itertools.pairwise(tail):
        if policy == "hold":
            assert (after.arousal, after.valence) == (before.arousal, before.valence)
        else:
            assert after.arousal == pytest.approx(before.arousal * np.exp(-0.04 / 2.0), abs=1e-12)


def test_stream_and_window_models_agree_through_the_pipeline(
    exported_models: dict[str, Path], speech_wav: Path
) -> None:
    """A causal student's window graph, within its 6 s window, reads like the stream graph."""
    hops = list(FileSource(speech_wav).hops())[:150]
    out = {}
    for mode in ("stream", "window"):
        sink = Collect()
        pipeline = Pipeline(AffectModel(exported_models[mode]), PipelineSettings(gate=False))
        run_stream(ListSource(hops), pipeline, [sink])
        out[mode] = np.array([[r.arousal, r.valence] for r in sink.readings])
    assert np.max(np.abs(out["stream"] - out["window"])) <= 1e-5


def test_a_lost_device_keeps_what_was_read(
    exported_models: dict[str, Path], speech_wav: Path
) -> None:
    hops = list(FileSource(speech_wav).hops())
    source = ListSource(hops, fail_after=30)
    sink = Collect()
    summary = run_stream(source, Pipeline(AffectModel(exported_models["stream"])), [sink])
    assert isinstance(summary.failure, DeviceError) and "lost" in str(summary.failure)
    assert len(sink.readings) == 30 and summary.hops == 30 and source.closed


def test_mic_callback_counts_overflows_and_drops() -> None:
    """The callback path without a device: the status flags and a full queue are counted."""

    class Status:
        def __init__(self, overflow: bool) -> None:
            self.input_overflow = overflow

    mic = MicSource.__new__(MicSource)  # no PortAudio needed for the callback itself
    mic.stats = SourceStats()
    mic.rate_hz = 16_000  # the callback times each block at this rate
    import queue  # noqa: PLC0415

    mic._queue = queue.Queue(maxsize=2)
    block = np.zeros((320, 1), dtype=np.float32)
    for overflow in (True, False, True, False):
        mic._callback(block, 320, None, Status(overflow))
    assert mic.stats.overflows == 2 and mic.stats.drops == 2 and mic._queue.qsize() == 2


# --- run: the CLI on files -----------------------------------------------------------------


def test_run_logs_one_row_per_hop(
    exported_models: dict[str, Path], speech_wav: Path, tmp_path: Path
) -> None:
    log = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "run",
            str(speech_wav),
            "--model",
            str(exported_models["stream"]),
            "--out",
            str(log),
            "--no-gate",
        ],
    )
    assert result.exit_code == 0, result.output
    samples, _ = sf.read(speech_wav, dtype="int16")
    rows = _csv(log)
    n_hops = -(-samples.shape[0] // HOP_SAMPLES)
    assert rows.shape == (n_hops, 4)
    assert np.allclose(rows[:, 0], np.arange(n_hops) * 0.04)
    expected = _onnx_readings(exported_models["stream"], _padded_hops(samples))
    assert np.max(np.abs(rows[:, 1:3] - expected)) <= 5e-7  # printed with 6 decimals
    assert (
        f"{n_hops} hops" in result.stdout and "RTF" in result.stdout and "speech" in result.stdout
    )


def test_run_human_speech_from_alsa_utils(exported_models: dict[str, Path], tmp_path: Path) -> None:
    """Real human speech (Debian alsa-utils prompts, 48 kHz) through `run`, int8 model."""
    prompts = sorted(ALSA_PROMPTS.glob("Front_*.wav"))
    if not prompts:
        from tests.helpers import unavailable  # noqa: PLC0415

        unavailable("alsa-utils prompts not installed (apt-get install alsa-utils)")
    for prompt in prompts:
        log = tmp_path / f"{prompt.stem}.jsonl"
        model = str(exported_models["stream_int8"])
        result = runner.invoke(app, ["run", str(prompt), "--model", model, "--out", str(log)])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        rows = [line for line in lines if "time" in line and "type" not in line]
        info = sf.info(prompt)
        assert len(rows) == -(-round(info.frames * SAMPLE_RATE / info.samplerate) // HOP_SAMPLES)
        assert any(r["speech"] for r in rows), prompt.name  # a spoken word is found
        assert any(r["output"] == "model" for r in rows)


def test_bad_audio_and_models_are_one_line_errors(
    exported_models: dict[str, Path], speech_wav: Path, tmp_path: Path
) -> None:
    model = str(exported_models["stream"])
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.int16), 16_000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(speech_wav.read_bytes()[:2000])
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(b"\x08\x07")
    cases = [
        (["run", str(tmp_path / "none.wav"), "--model", model], "no such file"),
        (["run", str(empty), "--model", model], "no audio samples"),
        (["run", str(corrupt), "--model", model], "not a readable audio file"),
        (["run", str(text), "--model", model], "not a readable audio file"),
        (["run", str(speech_wav), "--model", str(wrong)], "not a loadable ONNX model"),
        (["run", str(speech_wav), "--model", model, "--format", "xml"], "--format xml"),
        (["run", str(speech_wav), "--model", model, "--silence", "fade"], "--silence fade"),
        (
            ["run", str(speech_wav), "--model", model, "--out", str(tmp_path), "--format", "csv"],
            "folder",
        ),
        (
            ["run", str(speech_wav), "--model", model, "--out", str(text), "--format", "csv"],
            "exists",
        ),
        (
            ["listen", "--model", model, "--device", "no such device", "--duration", "1"],
            "input device",
        ),
    ]
    for args, fragment in cases:
        result = runner.invoke(app, args)
        assert result.exit_code != 0 and "Traceback" not in result.output, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("error: ") and fragment in lines[-1], (args, lines)
    # a truncated file: what is there is processed (libsndfile reads the complete frames)
    result = runner.invoke(
        app, ["run", str(truncated), "--model", model, "--out", str(tmp_path / "t.csv")]
    )
    assert result.exit_code == 0 and _csv(tmp_path / "t.csv").shape[0] >= 1


def test_the_default_model_is_used_or_named_when_missing(
    speech_wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge_affect import paths  # noqa: PLC0415

    used = runner.invoke(app, ["run", str(speech_wav), "--out", str(tmp_path / "x.csv")])
    assert used.exit_code == 0, used.output  # the bundled model
    monkeypatch.setattr(paths, "BUNDLED_MODELS", tmp_path / "an install without models")
    result = runner.invoke(app, ["run", str(speech_wav), "--out", str(tmp_path / "y.csv")])
    assert result.exit_code == 2 and "no bundled model" in result.stderr


def test_disk_full_stops_with_a_message(exported_models: dict[str, Path], speech_wav: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    model = str(exported_models["stream"])
    args = ["run", str(speech_wav), "--model", model, "--out", "/dev/full", "--overwrite"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "/dev/full" in result.stderr and "space" in result.stderr.lower()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge_affect", *args]


def test_ctrl_c_flushes_and_exits_zero(
    exported_models: dict[str, Path], speech_wav: Path, tmp_path: Path
) -> None:
    log = tmp_path / "paced.csv"
    process = subprocess.Popen(
        _cli(
            "run",
            str(speech_wav),
            "--model",
            str(exported_models["stream"]),
            "--out",
            str(log),
            "--realtime",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while (
        not log.exists() or len(log.read_text().splitlines()) < 21
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "(interrupted)" in stdout and "Traceback" not in stderr
    rows = _csv(log)
    assert 20 <= rows.shape[0] < 200  # stopped early, every row complete
    assert np.allclose(rows[:, 0], np.arange(rows.shape[0]) * 0.04)
    assert f"{rows.shape[0]} hops" in stdout


def test_run_works_without_torch(
    exported_models: dict[str, Path], speech_wav: Path, tmp_path: Path
) -> None:
    blocker = (
        "import sys\n"
        "for name in ('torch', 'onnx', 'onnxscript', 'train', 'export'):\n"
        "    sys.modules[name] = None\n"
        "from edge_affect.cli import main\n"
        "sys.argv = ['edge-affect'] + sys.argv[1:]\n"
        "main()\n"
    )
    log = tmp_path / "no_torch.arff"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            blocker,
            "run",
            str(speech_wav),
            "--model",
            str(exported_models["stream_int8"]),
            "--out",
            str(log),
            "--format",
            "arff",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr
    assert "@data" in log.read_text().lower()


def test_pipeline_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="hold or decay"):
        PipelineSettings(silence="fade")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="0-3"):
        VadSettings(mode=5)
    assert issubclass(DeviceError, EdgeAffectError) and DeviceError.exit_code == 4


def test_evaluate_a_run_log_against_the_gold_standard(
    exported_models: dict[str, Path], tiny_corpus: Path, tmp_path: Path
) -> None:
    audio = tiny_corpus / "recordings_audio" / "dev_1.wav"
    log = tmp_path / "dev_1.jsonl"
    result = runner.invoke(
        app,
        [
            "run",
            str(audio),
            "--model",
            str(exported_models["stream"]),
            "--out",
            str(log),
            "--no-gate",
        ],
    )
    assert result.exit_code == 0, result.output
    gold = tiny_corpus / "ratings_gold_standard"
    by_session = runner.invoke(
        app, ["evaluate", str(log), str(tiny_corpus), "--session", "dev_1", "--json"]
    )
    assert by_session.exit_code == 0, by_session.output
    by_files = runner.invoke(
        app,
        [
            "evaluate",
            str(log),
            str(gold / "arousal" / "dev_1.arff"),
            str(gold / "valence" / "dev_1.arff"),
            "--json",
            "--delay-search",
            "2",
        ],
    )
    assert by_files.exit_code == 0, by_files.output
    a, b = json.loads(by_session.stdout), json.loads(by_files.stdout)
    assert set(a["dimensions"]) == {"arousal", "valence"}
    for dim in ("arousal", "valence"):
        assert a["dimensions"][dim]["ccc"] == b["dimensions"][dim]["ccc"]
        assert -1.0 <= a["dimensions"][dim]["ccc"] <= 1.0
        assert 0.0 <= b["dimensions"][dim]["best_delay_s"] <= 2.0
    table = runner.invoke(app, ["evaluate", str(log), str(tiny_corpus), "--session", "dev_1"])
    assert table.exit_code == 0 and "arousal" in table.stdout
    missing = runner.invoke(app, ["evaluate", str(log), str(tiny_corpus)])
    assert missing.exit_code == 2 and "--session" in missing.stderr
