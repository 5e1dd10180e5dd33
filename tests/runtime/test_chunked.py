"""Chunked streaming: a stream graph that advances K hops per call gives the readings and the
state of K single-hop calls, bit for bit (fp32 and int8); the pipeline, ``run`` and
``listen --chunk-hops`` deliver the same rows chunk by chunk; single-hop models keep working."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE
from edge_affect.cli import app
from edge_affect.pcm import float_to_int16
from edge_affect.runtime.options import FILE_CHUNK_HOPS, chunk_latency_line, file_chunk_hops
from edge_affect.stream.feed import SourceStats
from edge_affect.stream.model import AffectModel
from edge_affect.stream.pipeline import Pipeline, PipelineSettings, run_stream
from edge_affect.stream.reading import Reading
from edge_affect.stream.sources import FileSource, PipeSource

runner = CliRunner()


class Hops:
    description = "test hops"

    def __init__(self, hops: list[np.ndarray]) -> None:
        self._hops = hops
        self.stats = SourceStats()

    def hops(self) -> list[np.ndarray]:
        return self._hops

    def close(self) -> None:
        pass


class Collect:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def write(self, reading: Reading) -> None:
        self.readings.append(reading)


@pytest.fixture(scope="module")
def speech_hops(speech_16k: np.ndarray) -> np.ndarray:
    """Silence, espeak-ng speech, silence and loud noise: int16 hops ``[n, 640]``."""
    rng = np.random.default_rng(1)
    silence = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    noise = rng.standard_normal(SAMPLE_RATE).astype(np.float32) * 0.3
    pcm = float_to_int16(np.concatenate([silence, speech_16k, silence, noise]))
    n = pcm.shape[0] // HOP_SAMPLES
    return pcm[: n * HOP_SAMPLES].reshape(n, HOP_SAMPLES)


@pytest.mark.parametrize("role", ["stream", "stream_int8"])
@pytest.mark.parametrize("chunk", [1, 7, 250])
def test_a_chunk_reads_like_single_hops_bit_for_bit(
    role: str, chunk: int, exported_models: dict[str, Path], speech_hops: np.ndarray
) -> None:
    model = AffectModel(exported_models[role])
    assert model.contract.chunked
    single, chunked = model.stream(), model.stream()
    want = np.stack([single.step(hop) for hop in speech_hops])
    got = np.concatenate(
        [chunked.step_chunk(speech_hops[i : i + chunk]) for i in range(0, len(speech_hops), chunk)]
    )
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.array_equal(got, want)  # the same nodes on the same inputs: no tolerance
    for name, value in single.state().items():
        assert np.array_equal(chunked.state()[name], value), name


def test_a_single_hop_model_still_loads_and_chunks_by_looping(
    exported_models: dict[str, Path], speech_hops: np.ndarray
) -> None:
    """Files exported before chunked graphs: one hop per call, same readings as the chunked
    export of the same student (fp32, within float rounding)."""
    old = AffectModel(exported_models["stream_single"])
    assert not old.contract.chunked
    assert ("hops per call", "1") in old.contract.summary()
    looped = old.stream().step_chunk(speech_hops[:60])
    stepped = np.stack([h for h in map(old.stream().step, speech_hops[:60])])
    assert np.array_equal(looped, stepped)
    chunked = AffectModel(exported_models["stream"]).stream().step_chunk(speech_hops[:60])
    assert np.max(np.abs(chunked - looped)) <= 1e-6


#: The window graph runs its whole 6 s window at every hop. Under emulation (the arm64
#: check, qemu on an x86 host) that took about 0.8 s a hop, 6 min for this test's three
#: passes over 150 hops, so its rows are compared on the first 60 hops: 0.5 s of silence,
#: then speech (both outputs of the gate, chunks that cross them).
WINDOW_HOPS = 60


@pytest.mark.parametrize("role", ["stream_int8", "stream_single", "window"])
@pytest.mark.parametrize("gate", [True, False])
def test_the_pipeline_gives_the_same_rows_in_chunks(
    role: str, gate: bool, exported_models: dict[str, Path], speech_hops: np.ndarray
) -> None:
    hops = speech_hops[:WINDOW_HOPS] if role == "window" else speech_hops
    rows = {}
    for chunk in (1, 9, 250):
        sink = Collect()
        pipeline = Pipeline(AffectModel(exported_models[role]), PipelineSettings(gate=gate))
        summary = run_stream(Hops(list(hops)), pipeline, [sink], chunk_hops=chunk)
        assert summary.hops == len(hops)
        rows[chunk] = [(r.index, r.arousal, r.valence, r.speech, r.output) for r in sink.readings]
    assert rows[9] == rows[1] and rows[250] == rows[1]
    outputs = {row[4] for row in rows[1]}
    assert outputs == ({"model", "hold"} if gate else {"model"})


def test_max_hops_cuts_a_chunk(exported_models: dict[str, Path], speech_hops: np.ndarray) -> None:
    sink = Collect()
    pipeline = Pipeline(AffectModel(exported_models["stream"]))
    summary = run_stream(Hops(list(speech_hops)), pipeline, [sink], max_hops=23, chunk_hops=10)
    assert summary.hops == 23 and [r.index for r in sink.readings] == list(range(23))


def test_a_non_finite_reading_in_a_chunk_is_redone_hop_by_hop(
    exported_models: dict[str, Path], speech_hops: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk with a non-finite value restarts from the state before it and runs hop by hop
    (what a single-hop run does: an invalid row, then a reset); here the hop-by-hop rerun
    is finite, so the rows equal those of a clean run."""
    clean = Collect()
    settings = PipelineSettings(gate=False)
    run_stream(
        Hops(list(speech_hops)),
        Pipeline(AffectModel(exported_models["stream"]), settings),
        [clean],
    )
    pipeline = Pipeline(AffectModel(exported_models["stream"]), settings)
    real = pipeline.stream.step_chunk

    def poisoned(hops: np.ndarray) -> np.ndarray:
        values = real(hops).copy()
        values[len(values) // 2] = np.nan
        return values

    monkeypatch.setattr(pipeline.stream, "step_chunk", poisoned)
    sink = Collect()
    run_stream(Hops(list(speech_hops)), pipeline, [sink], chunk_hops=16)
    got = [(r.arousal, r.valence) for r in sink.readings]
    assert got == [(r.arousal, r.valence) for r in clean.readings]


def test_run_uses_big_chunks_and_writes_the_same_log(
    exported_models: dict[str, Path], speech_hops: np.ndarray, tmp_path: Path
) -> None:
    wav = tmp_path / "speech.wav"
    sf.write(wav, speech_hops.reshape(-1), SAMPLE_RATE, subtype="PCM_16")
    logs = {}
    for args in ([], ["--chunk-hops", "1"], ["--chunk-hops", "13"]):
        out = tmp_path / f"log{len(logs)}.csv"
        model = str(exported_models["stream_int8"])
        result = runner.invoke(app, ["run", str(wav), "--model", model, "--out", str(out), *args])
        assert result.exit_code == 0, result.output
        logs[len(logs)] = out.read_text()
    assert logs[0] == logs[1] == logs[2]
    result = runner.invoke(
        app, ["run", str(wav), "--out", str(tmp_path / "x.csv"), "--chunk-hops", "0"]
    )
    assert result.exit_code == 2 and "--chunk-hops 0: choose 1 to 1500" in result.stderr


def test_run_chunks_a_fast_file_and_not_a_paced_one(tmp_path: Path) -> None:
    wav = tmp_path / "short.wav"
    sf.write(wav, np.zeros(HOP_SAMPLES * 3, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    assert file_chunk_hops(FileSource(wav)) == FILE_CHUNK_HOPS == 250
    assert file_chunk_hops(FileSource(wav, realtime=True)) == 1
    read, write = os.pipe()
    os.close(write)
    pipe = PipeSource(read, "pipe", raw_rate_hz=SAMPLE_RATE, owns_fd=True)
    try:
        assert file_chunk_hops(pipe) == 1
    finally:
        pipe.close()


def test_the_chunk_latency_line_names_the_delay() -> None:
    assert chunk_latency_line(25) == (
        "chunks of 25 hops: readings arrive 25 at a time every 1000 ms, "
        "up to 960 ms later than hop by hop"
    )
