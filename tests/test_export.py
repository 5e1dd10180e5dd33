"""Export: random-init students -> ONNX fp32/int8, run by onnxruntime through the runtime's
own :class:`edge_affect.model.ModelStream`, compared with torch."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator
from typer.testing import CliRunner

from edge_affect.audio import HOP_SAMPLES
from edge_affect.cli import app
from edge_affect.cpu import cpu_line, describe_cpu
from edge_affect.stream.contract import PREFIX, Contract, ContractError
from edge_affect.stream.model import AffectModel
from edge_affect_export import parity
from edge_affect_export.chunk import chunk_graph, hop_graph, unchunk
from edge_affect_export.exporter import ExportOptions, export_student, int8_path, report_path
from edge_affect_export.graphs import PCM_SCALE, GRUCell, HopFrontend, block_frames, mel_bins
from edge_affect_export.onnx_graph import (
    GENERATOR_PREFIX,
    _dft_nodes,
    _folded_dft_nodes,
    _mel_nodes,
    frontend_nodes,
    set_metadata,
)
from edge_affect_export.quantize import DEFAULT_SCHEME, SCHEMES
from edge_affect_export.report import format_report
from edge_affect_train.checkpoint import save_checkpoint
from edge_affect_train.frontend import FrontendConfig, LogMel, level_normalised
from edge_affect_train.models import AudioStudent, EncoderConfig, StudentConfig
from tests.helpers import TEST_MODELS, require_program
from tests.make_models import make_test_models
from tests.runtime.test_int8_parity import MAX_ABS_DIFFERENCE as INT8_BOUND

runner = CliRunner()


def _checkpoint(
    path: Path, encoder: EncoderConfig, seed: int = 0, frontend: FrontendConfig | None = None
) -> tuple[Path, AudioStudent]:
    torch.manual_seed(seed)
    config = StudentConfig(encoder=encoder, **({"frontend": frontend} if frontend else {}))
    student = AudioStudent(config).eval()
    # non-trivial normalisation, as after training
    student.norm.set_statistics(torch.full((64,), -6.0), torch.full((64,), 3.0))
    save_checkpoint(
        path,
        {
            "kind": "student",
            "model_config": student.config.to_dict(),
            "state_dict": student.state_dict(),
            "train_args": {"chunk_s": 4.0},
            "metrics": {"ccc": {"dev": {"arousal": 0.1, "valence": 0.2}}},
        },
    )
    return path, student


@pytest.fixture(scope="module")
def clip() -> parity.Clip:
    require_program("espeak-ng", "apt-get install espeak-ng")
    return parity.espeak_clip()


@pytest.fixture(scope="module")
def gru(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AudioStudent]:
    folder = tmp_path_factory.mktemp("gru")
    return _checkpoint(folder / "checkpoint.pt", EncoderConfig(kind="gru", hidden=64))


@pytest.fixture(scope="module")
def stream_export(gru: tuple[Path, AudioStudent], clip: parity.Clip) -> tuple[Path, dict]:
    out = gru[0].parent / "stream" / "model.onnx"
    report = export_student(gru[0], out, ExportOptions(int8=True, latency_hops=50))
    return out, report


def test_gru_cell_reproduces_nn_gru() -> None:
    torch.manual_seed(1)
    gru = torch.nn.GRU(24, 16, num_layers=2, batch_first=True).eval()
    cells = [GRUCell(gru, k) for k in range(2)]
    x = torch.randn(1, 30, 24)
    reference, _ = gru(x)
    h = [torch.zeros(1, 16), torch.zeros(1, 16)]
    steps = []
    for t in range(30):
        inp = x[:, t]
        for k, cell in enumerate(cells):
            h[k] = cell(inp, h[k])
            inp = h[k]
        steps.append(inp)
    assert torch.max(torch.abs(torch.stack(steps, dim=1) - reference)) < 1e-6


@pytest.mark.parametrize("window_ms", [25.0, 20.0, 10.0])
def test_block_framing_equals_the_frontend(window_ms: float) -> None:
    config = FrontendConfig(window_ms=window_ms)
    frontend = LogMel(config)
    pcm = torch.randn(1, 7 * HOP_SAMPLES)
    got = frontend._frames_to_logmel(block_frames(pcm, config))
    assert torch.equal(got, frontend(pcm))


def test_compact_frontend_constants_rebuild_the_buffers() -> None:
    """The generator subgraphs give the frontend's float32 matrices to one rounding."""
    config = FrontendConfig()
    consts, nodes = _dft_nodes(config, "basis")
    mel_consts, mel_nodes = _mel_nodes(config, "mel")
    graph = onnx.helper.make_graph(
        nodes + mel_nodes,
        "constants",
        [],
        [
            onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
            for n in ("basis", "mel")
        ],
        consts + mel_consts,
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])
    basis, mel = ReferenceEvaluator(model).run(None, {})
    frontend = LogMel(config)
    assert basis.shape == tuple(frontend.dft_basis.shape) == (400, 514)
    assert np.max(np.abs(basis - frontend.dft_basis.numpy())) <= 2.5e-7
    assert np.array_equal(mel, frontend.mel_weights.numpy())
    stored = sum(numpy_helper.to_array(c).nbytes for c in consts + mel_consts)
    assert stored < 8_000  # instead of 888 KB of matrices


def test_compact_folded_dft_constants_rebuild_the_hop_frontend_buffers() -> None:
    """The stream graph's generators give :class:`HopFrontend`'s matrices to one rounding."""
    config = FrontendConfig()
    consts, nodes = _folded_dft_nodes(config, "cos", "sin")
    mel_consts, mel_nodes = _mel_nodes(config, "mel", mel_bins(config))
    graph = onnx.helper.make_graph(
        nodes + mel_nodes,
        "constants",
        [],
        [
            onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
            for n in ("cos", "sin", "mel")
        ],
        consts + mel_consts,
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])
    cos, sin, mel = ReferenceEvaluator(model).run(None, {})
    frontend = HopFrontend(config)
    assert mel_bins(config) == (1, 256)  # no mel filter weighs the 0 Hz and Nyquist bins
    assert cos.shape == sin.shape == tuple(frontend.dft_cos.shape) == (200, 255)
    for got, buffer in ((cos, frontend.dft_cos), (sin, frontend.dft_sin)):
        assert np.max(np.abs(got - buffer.numpy())) / PCM_SCALE <= 2.5e-7
    assert np.array_equal(mel, frontend.mel_weights.numpy())
    stored = sum(numpy_helper.to_array(c).nbytes for c in consts + mel_consts)
    assert stored < 8_000


@pytest.mark.parametrize("window_ms", [25.0, 20.0])
@pytest.mark.parametrize("level_tau_s", [0.0, 2.0])
def test_the_hop_frontend_equals_the_frontend_step(window_ms: float, level_tau_s: float) -> None:
    """The stream graph's frontend (folded DFT, int16 framing, 2-d frames) gives the log-mel
    and the state of ``LogMel.step`` to float rounding, through silence, speech-like noise at
    several levels and the level normalisation's warm-up."""
    config = replace(
        level_normalised(level_tau_s) if level_tau_s else FrontendConfig(), window_ms=window_ms
    )
    frontend, hop = LogMel(config), HopFrontend(config)
    rng = np.random.default_rng(0)
    levels = np.repeat([0.0, 3000.0, 30.0, 12000.0, 0.0, 300.0], 8)
    noise = rng.standard_normal((levels.size, HOP_SAMPLES)) * levels[:, np.newaxis]
    pcm = torch.from_numpy(np.clip(noise, -32768, 32767).astype(np.int16))
    state = frontend.initial_tail(1)
    hop_state = state.clone()
    tail = config.tail_samples
    for samples in pcm:
        want, state = frontend.step(samples.reshape(1, -1).float() * PCM_SCALE, state)
        got, hop_state = hop(samples.reshape(1, -1), hop_state)
        assert got.shape == want.shape[1:]
        assert torch.max(torch.abs(got - want[0])) < 2e-4
        assert torch.equal(hop_state[:, :tail] * PCM_SCALE, state[:, :tail])  # int16 units
        assert torch.allclose(hop_state[:, tail:], state[:, tail:], rtol=0.0, atol=2e-4)


@pytest.fixture(scope="module")
def level_export(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, AudioStudent]:
    folder = tmp_path_factory.mktemp("level")
    checkpoint, student = _checkpoint(
        folder / "checkpoint.pt", EncoderConfig(kind="gru", hidden=64), 0, level_normalised(20.0)
    )
    out = folder / "model.onnx"
    export_student(checkpoint, out, ExportOptions(int8=True, parity_hops=50, latency_hops=5))
    return out, student


def test_a_level_normalised_stream_export_matches_torch_and_chunks_bit_for_bit(
    level_export: tuple[Path, AudioStudent], clip: parity.Clip
) -> None:
    out, student = level_export
    reference = parity.run_torch(student, clip.pcm, "stream", 0)
    fp32 = parity.run_onnx(AffectModel(out), clip.pcm)
    assert np.max(np.abs(fp32 - reference)) <= 1e-4
    assert np.std(fp32[:, 0]) > 1e-3
    hops = clip.pcm[: clip.pcm.shape[0] // HOP_SAMPLES * HOP_SAMPLES].reshape(-1, HOP_SAMPLES)
    for path in (out, int8_path(out)):
        model = AffectModel(path)
        one = model.stream()
        single = np.stack([one.step(h) for h in hops])
        assert np.array_equal(model.stream().step_chunk(hops), single), path.name
    int8 = parity.run_onnx(AffectModel(int8_path(out)), clip.pcm)
    assert np.max(np.abs(int8 - fp32)) <= INT8_BOUND


def test_stream_export_matches_torch_step_by_step(
    stream_export: tuple[Path, dict], gru: tuple[Path, AudioStudent], clip: parity.Clip
) -> None:
    out, report = stream_export
    model = AffectModel(out)
    assert model.contract.mode == "stream" and model.contract.precision == "fp32"
    reference = parity.run_torch(gru[1], clip.pcm, "stream", 0)
    got = parity.run_onnx(model, clip.pcm)
    assert got.shape == (clip.pcm.shape[0] // HOP_SAMPLES, 2) and got.shape[0] > 250
    assert np.max(np.abs(got - reference)) <= 1e-4
    assert np.std(got[:, 0]) > 1e-3  # the speech moves the outputs: a real comparison
    assert report["torch_vs_fp32"]["max_abs_error"] <= 1e-4


def test_reset_restarts_the_stream(stream_export: tuple[Path, dict], clip: parity.Clip) -> None:
    stream = AffectModel(stream_export[0]).stream()
    hops = clip.pcm.reshape(-1, HOP_SAMPLES)[:40]
    first = np.stack([stream.step(h) for h in hops])
    stream.reset()
    again = np.stack([stream.step(h) for h in hops])
    assert np.array_equal(first, again)


def test_int8_graph_has_integer_recurrent_weights(
    stream_export: tuple[Path, dict], clip: parity.Clip
) -> None:
    out, report = stream_export
    quantized = onnx.ModelProto()  # the hop graph (the body of the chunked model's Scan)
    quantized.graph.CopyFrom(hop_graph(onnx.load(str(int8_path(out)))))
    ops = {n.op_type for n in quantized.graph.node}
    assert not ops & {"GRU", "LSTM", "RNN"}
    assert "MatMulInteger" in ops
    weights = {i.name: numpy_helper.to_array(i) for i in quantized.graph.initializer}
    for gate in ("cells.0.ih.weight", "cells.0.hh.weight"):  # the recurrent weights
        stored = [a for name, a in weights.items() if gate in name and name.endswith("_quantized")]
        # the default scheme: uint8 weights (exact on every CPU class), one scale per column
        assert stored and all(a.dtype == np.uint8 for a in stored), gate
        scales = [a for name, a in weights.items() if gate in name and name.endswith("_scale")]
        assert scales and all(a.size == stored[0].shape[1] for a in scales), gate
    big_floats = [n for n, a in weights.items() if a.dtype == np.float32 and a.size >= 256]
    assert big_floats and all(n.startswith(GENERATOR_PREFIX) for n in big_floats), big_floats
    # the frontend stays float: its MatMuls are still float MatMuls
    names = set(frontend_nodes(quantized))
    matmuls = [
        n for n in quantized.graph.node if n.name in names and n.op_type.startswith("MatMul")
    ]
    # the folded DFT's cos and sin products, then the mel matrix
    assert len(matmuls) == 3 and all(n.op_type == "MatMul" for n in matmuls)
    assert any(n.name.startswith(GENERATOR_PREFIX) for n in quantized.graph.node)
    # int8 vs fp32 of a random-init student on real speech, within the int8 parity bound
    fp32 = parity.run_onnx(AffectModel(out), clip.pcm)
    int8 = parity.run_onnx(AffectModel(int8_path(out)), clip.pcm)
    assert np.max(np.abs(fp32 - int8)) <= INT8_BOUND
    files = report["files"]
    assert files["int8"]["bytes"] <= 120_000
    assert files["int8"]["bytes"] <= 0.35 * files["fp32"]["bytes"]
    assert files["int8"]["int8_weight_share"] > 0.75


def test_metadata_carries_the_whole_contract(stream_export: tuple[Path, dict]) -> None:
    out, _ = stream_export
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    keys = {
        "contract",
        "sample_rate",
        "hop_samples",
        "mode",
        "window_samples",
        "pcm_input",
        "pcm_dtype",
        "output",
        "labels",
        "states",
        "precision",
        "frontend",
        "model",
        "training",
        "dev_ccc",
        "quantization",
        "chunked",
        "created",
        "source_commit",
    }
    assert {PREFIX + k for k in keys} <= set(props)
    assert json.loads(props[PREFIX + "quantization"]) is None  # fp32
    contract = Contract.from_metadata(props, "m")
    assert contract.labels == ("arousal", "valence") and contract.hop_samples == HOP_SAMPLES
    assert contract.chunked and props[PREFIX + "chunked"] == "true"
    assert [s.input for s in contract.states] == ["tail", "gru_state"]
    assert contract.states[1].shape == (1, 1, 64)
    assert contract.frontend["n_mels"] == 64 and contract.model["encoder"] == "gru"
    assert contract.dev_ccc is not None and contract.dev_ccc["valence"] == 0.2
    assert "stack_trace" not in str(onnx.load(str(out)))  # no build-machine paths
    report = json.loads(report_path(out).read_text())
    assert report["targets"]["torch vs fp32 max error <= 1e-4"]["met"]


def _tampered(source: Path, target: Path, key: str, value: str) -> Path:
    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == PREFIX + key:
            prop.value = value
    onnx.save(model, str(target))
    return target


def test_a_wrong_contract_is_refused_naming_the_difference(
    stream_export: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = stream_export
    cases = {
        ("hop_samples", "320"): "hop_samples is 320 in the model, 640 in this runtime",
        ("labels", "valence,arousal"): "labels is valence,arousal",
        ("contract", "7"): "contract version 7",
        (
            "states",
            json.dumps(
                [
                    {"input": "tail", "output": "tail_out", "shape": [1, 240]},
                    {"input": "gru_state", "output": "gru_state_out", "shape": [1, 1, 32]},
                ]
            ),
        ): "[1, 1, 64] in the graph, [1, 1, 32]",
        ("output", "prediction"): "names an output 'prediction' the graph lacks",
        ("mode", "window"): "window_samples 0 is not a positive number",
        ("pcm_input", "audio"): "names an input 'audio' the graph lacks",
        ("chunked", "yes"): "'edge_affect.chunked' is 'yes', not true or false",
        ("chunked", "false"): "input 'pcm' has shape [1, 'samples'] in the graph, [1, 640]",
    }
    for (key, value), fragment in cases.items():
        bad = _tampered(out, tmp_path / f"{key}.onnx", key, value)
        with pytest.raises(ContractError, match="contract") as error:
            AffectModel(bad)
        assert fragment in str(error.value), (key, str(error.value))
    # through the CLI: one line, exit 2, no traceback
    bad = _tampered(out, tmp_path / "cli.onnx", "sample_rate", "8000")
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: contract mismatch: sample_rate is 8000 in the model, 16000 in this runtime"
    ]


def test_a_model_without_contract_or_not_onnx_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.onnx"
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [x],
        [onnx.helper.make_tensor_value_info("y", 1, [1])],
    )
    onnx.save(onnx.helper.make_model(graph), str(plain))
    result = runner.invoke(app, ["info", str(plain)])
    assert result.exit_code == 2 and "no edge-affect contract" in result.stderr
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    result = runner.invoke(app, ["info", str(junk)])
    assert result.exit_code == 2 and "not a loadable ONNX model" in result.stderr
    result = runner.invoke(app, ["info", str(tmp_path / "none.onnx")])
    assert result.exit_code == 2 and "no such model file" in result.stderr


def test_info_prints_the_contract(stream_export: tuple[Path, dict]) -> None:
    out, _ = stream_export
    table = runner.invoke(app, ["info", str(int8_path(out))])
    assert table.exit_code == 0, table.output
    assert (
        "int8-dynamic" in table.stdout and "gru_state -> gru_state_out [1, 1, 64]" in table.stdout
    )
    assert "int8 scheme    u8u8-per-channel: uint8 activations x uint8 weights" in table.stdout
    assert "this CPU" in table.stdout and "int8 kernel class" in table.stdout
    as_json = runner.invoke(app, ["info", str(out), "--json"])
    payload = json.loads(as_json.stdout)
    assert payload["mode"] == "stream" and payload["states"][0]["shape"] == [1, 240]


def test_the_report_names_the_cpu_and_the_scheme(stream_export: tuple[Path, dict]) -> None:
    _, report = stream_export
    assert report["cpu"] == describe_cpu()
    assert report["int8_scheme"] == SCHEMES[DEFAULT_SCHEME].to_dict()
    text = format_report(report)
    assert f"measured on {cpu_line(describe_cpu())}" in text
    assert "int8 scheme u8u8-per-channel: uint8 activations x uint8 weights" in text


@pytest.mark.parametrize("scheme", ["u8s8", "u8u8", "u8s8-reduce-range"])
def test_other_int8_schemes_are_recorded_in_the_contract(
    scheme: str, gru: tuple[Path, AudioStudent], clip: parity.Clip, tmp_path: Path
) -> None:
    out = tmp_path / "m.onnx"
    result = runner.invoke(app, ["export", str(gru[0]), "--out", str(out), "--int8-scheme", scheme])
    assert result.exit_code == 0, result.output
    contract = AffectModel(int8_path(out)).contract
    assert contract.quantization == SCHEMES[scheme].to_dict()
    weights = [
        numpy_helper.to_array(i)
        for i in hop_graph(onnx.load(str(int8_path(out)))).initializer
        if i.name.endswith("_quantized")
    ]
    expected = np.uint8 if SCHEMES[scheme].weights == "uint8" else np.int8
    assert weights and all(w.dtype == expected for w in weights)
    if SCHEMES[scheme].reduce_range:  # 7-bit symmetric weights: [-64, 64]
        assert all(int(np.abs(w.astype(np.int16)).max()) <= 64 for w in weights)


def test_int8_scheme_mistakes_are_one_line_errors(
    gru: tuple[Path, AudioStudent], tmp_path: Path
) -> None:
    out = tmp_path / "m.onnx"
    for args, fragment in (
        (["--int8-scheme", "u4"], "unknown int8 scheme 'u4'"),
        (["--int8-scheme", "static-u8u8"], "needs --calibration"),
    ):
        result = runner.invoke(app, ["export", str(gru[0]), "--out", str(out), *args])
        assert result.exit_code == 2 and fragment in result.stderr, result.output
        assert not out.exists()


def test_the_committed_test_models_are_what_the_export_writes(tmp_path: Path) -> None:
    """tests/models/ holds the runtime tests' models; re-export them and compare readings.
    A failure here means the export changed: run python -m tests.make_models."""
    require_program("espeak-ng", "apt-get install espeak-ng")
    fresh = make_test_models(tmp_path)
    rng = np.random.default_rng(0)
    pcm = (rng.standard_normal(80 * HOP_SAMPLES) * 3000).astype(np.int16)
    for role, path in fresh.items():
        committed = AffectModel(TEST_MODELS / path.name)
        assert committed.contract.quantization == AffectModel(path).contract.quantization, role
        got = parity.run_onnx(committed, pcm)
        want = parity.run_onnx(AffectModel(path), pcm)
        assert np.max(np.abs(got - want)) <= 1e-6, role


def test_causal_student_stream_and_window_graphs_agree(
    gru: tuple[Path, AudioStudent], stream_export: tuple[Path, dict], clip: parity.Clip
) -> None:
    """Within the first W seconds the window graph sees all the audio the stream has seen."""
    out = gru[0].parent / "window" / "model.onnx"
    export_student(gru[0], out, ExportOptions(mode="window", window_s=6.0, latency_hops=5))
    window = AffectModel(out)
    assert window.contract.mode == "window" and window.contract.window_samples == 6 * 16_000
    n = 150 * HOP_SAMPLES  # 6 s
    got = parity.run_onnx(window, clip.pcm[:n])
    expected = parity.run_onnx(AffectModel(stream_export[0]), clip.pcm[:n])
    assert np.max(np.abs(got - expected)) <= 1e-5
    assert np.std(got[:, 1]) > 1e-3


@pytest.mark.parametrize("kind", ["bigru", "transformer"])
def test_non_causal_students_export_in_window_mode(
    kind: str, tmp_path: Path, clip: parity.Clip
) -> None:
    checkpoint, student = _checkpoint(tmp_path / "c.pt", EncoderConfig(kind=kind, hidden=32))
    refused = runner.invoke(
        app, ["export", str(checkpoint), "--out", str(tmp_path / "s.onnx"), "--mode", "stream"]
    )
    assert refused.exit_code == 2 and "not causal" in refused.stderr
    out = tmp_path / "w.onnx"
    report = export_student(
        checkpoint, out, ExportOptions(int8=True, window_s=2.0, parity_hops=120, latency_hops=5)
    )
    model = AffectModel(out)
    assert model.contract.mode == "window" and model.contract.window_s == 2.0
    assert report["torch_vs_fp32"]["max_abs_error"] <= 1e-4  # sliding windows, 120 hops
    pcm = clip.pcm[: 20 * HOP_SAMPLES]
    got = parity.run_onnx(model, pcm)
    want = parity.run_torch(student, pcm, "window", 50)
    assert np.max(np.abs(got - want)) <= 1e-4
    int8 = AffectModel(int8_path(out))
    assert np.max(np.abs(parity.run_onnx(int8, pcm) - got)) <= INT8_BOUND


def test_export_scores_dev_and_static_int8_calibrates(
    gru: tuple[Path, AudioStudent], tiny_corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cal.onnx"
    result = runner.invoke(
        app,
        [
            "export",
            str(gru[0]),
            "--out",
            str(out),
            "--data",
            str(tiny_corpus),
            "--calibration",
            str(tiny_corpus),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "dev split of tiny" in result.stdout and "|CCC(fp32) - CCC(int8)|" in result.stdout
    report = json.loads(report_path(out).read_text())
    assert set(report["dev"]["ccc"]) == {"fp32", "int8"}
    quantized = AffectModel(int8_path(out))
    assert quantized.contract.precision == "int8-static"
    ops = {n.op_type for n in hop_graph(onnx.load(str(int8_path(out)))).node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and "GRU" not in ops
    dev = quantized.contract.dev_ccc
    assert dev is not None and dev["source"].startswith("this ONNX file")
    assert dev["arousal"] == report["dev"]["ccc"]["int8"]["arousal"]


def test_export_user_mistakes_are_one_line_errors(
    gru: tuple[Path, AudioStudent], tmp_path: Path
) -> None:
    teacher = tmp_path / "teacher.pt"
    save_checkpoint(teacher, {"kind": "teacher", "model_config": {}, "state_dict": {}})
    cases = [
        (["export", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")], "no such"),
        (["export", str(teacher), "--out", str(tmp_path / "m.onnx")], "expected a student"),
        (["export", str(gru[0]), "--out", str(tmp_path / "m.bin")], "must end in .onnx"),
        (["export", str(gru[0]), "--out", str(tmp_path / "m.onnx"), "--mode", "x"], "--mode"),
        (
            [
                "export",
                str(gru[0]),
                "--out",
                str(tmp_path / "m.onnx"),
                "--data",
                str(tmp_path / "nothing"),
            ],
            "no such corpus",
        ),
    ]
    for args, fragment in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], lines


def test_info_and_model_loading_work_without_torch_or_onnx(
    stream_export: tuple[Path, dict], clip: parity.Clip
) -> None:
    """The device install has no torch/onnx: block them, load the model and stream a clip."""
    out, _ = stream_export
    script = (
        "import sys\n"
        "for name in ('torch', 'onnx', 'onnxscript'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np\n"
        "from edge_affect.stream.model import AffectModel\n"
        "from edge_affect.cli import main\n"
        "stream = AffectModel(sys.argv[1]).stream()\n"
        "pcm = np.load(sys.argv[2])\n"
        "out = np.stack([stream.step(h) for h in pcm.reshape(-1, 640)])\n"
        "np.save(sys.argv[3], out)\n"
        "assert not any(m.split('.')[0] in ('train', 'export') for m in sys.modules)\n"
        "sys.argv = ['edge-affect', 'info', sys.argv[1]]\n"
        "main()\n"
    )
    pcm_file, out_file = out.parent / "pcm.npy", out.parent / "readings.npy"
    np.save(pcm_file, clip.pcm[: 50 * HOP_SAMPLES])
    result = subprocess.run(
        [sys.executable, "-c", script, str(int8_path(out)), str(pcm_file), str(out_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "int8-dynamic" in result.stdout
    expected = parity.run_onnx(AffectModel(int8_path(out)), clip.pcm[: 50 * HOP_SAMPLES])
    assert np.array_equal(np.load(out_file), expected)


def test_unchunk_gives_back_the_hop_graph(tmp_path: Path) -> None:
    """What scripts/int8_schemes.py quantizes: the single-hop graph inside a chunked model."""
    chunked = onnx.load(str(TEST_MODELS / "stream.onnx"))
    single = unchunk(chunked)
    assert not any(n.op_type == "Scan" for n in single.graph.node)
    contract = AffectModel(TEST_MODELS / "stream.onnx").contract
    assert contract.chunked
    set_metadata(single, replace(contract, chunked=False).to_metadata())
    path = tmp_path / "single.onnx"
    onnx.save(single, str(path))
    rng = np.random.default_rng(1)
    pcm = (rng.standard_normal(40 * HOP_SAMPLES) * 3000).astype(np.int16)
    got = parity.run_onnx(AffectModel(path), pcm)
    want = parity.run_onnx(AffectModel(TEST_MODELS / "stream.single.onnx"), pcm)
    assert np.array_equal(got, want)
    rewrapped = chunk_graph(single)
    assert [n.op_type for n in rewrapped.graph.node] == [n.op_type for n in chunked.graph.node]
