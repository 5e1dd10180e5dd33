"""ONNX graph edits after tracing: compact frontend constants, Gemm -> MatMul, metadata.

* **Compact frontend.** The traced log-mel frontend holds its windowed DFT basis
  (2 x 257 x 400 floats, 822 KB) and mel matrix (64 x 257, 66 KB) as initializers: four times
  the default student's weights. :func:`compact_frontend` replaces them by small subgraphs that
  rebuild the same float32 values from a 512-entry cos/sin table, the 400-sample window and
  the mel matrix's non-zeros (about 6 KB in all); onnxruntime folds them to constants when it
  loads the session, so a hop costs the same. The rebuilt values equal the originals to within
  one float32 rounding (products of float32-rounded factors instead of a rounded product).
  Stream graphs hold the folded DFT of :class:`~edge_affect_export.graphs.HopFrontend`
  instead (two ``[200, 255]`` matrices and the mel rows of those bins), rebuilt the same way.
* **Gemm -> MatMul + Add.** The dynamic quantizer of onnxruntime has int8 kernels for
  ``MatMul`` but not ``Gemm``, which the exporter emits for ``nn.Linear`` on 2-d inputs.
* The frontend's node names are collected by the tensor names they read
  (:data:`FRONTEND_CONSTANTS`), so quantization can exclude them: int8 DFT and mel matrices
  gave log-mel errors up to 15 (docs/export.md).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_affect_export.graphs import PCM_SCALE, mel_bins
from edge_affect_train.frontend import FrontendConfig, hann_window, mel_filterbank

#: Suffixes of the traced frontend initializers: ``LogMel``'s buffers (window graphs) and
#: ``HopFrontend``'s (stream graphs: the folded DFT, the mel rows of the bins it computes).
FRONTEND_CONSTANTS = (
    "frontend.dft_basis",
    "frontend.dft_cos",
    "frontend.dft_sin",
    "frontend.mel_weights",
)
GENERATOR_PREFIX = "frontend_constants/"


def _initializer(graph: onnx.GraphProto, suffix: str) -> onnx.TensorProto | None:
    matches = [i for i in graph.initializer if i.name.endswith(suffix)]
    if len(matches) > 1:
        raise ValueError(f"expected one initializer named *{suffix}, found {len(matches)}")
    return matches[0] if matches else None


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    tensor: onnx.TensorProto = numpy_helper.from_array(array, GENERATOR_PREFIX + name)
    return tensor


Nodes = tuple[list[onnx.TensorProto], list[onnx.NodeProto]]


def _dft_nodes(config: FrontendConfig, basis: str) -> Nodes:
    """``basis[n, k] = window[n] * cos(2 pi (n k mod N) / N)``, then the ``-sin`` columns;
    ``-sin(2 pi m / N) = cos(2 pi (m + N/4) / N)``, so one cos table serves both halves."""
    window = hann_window(config)
    consts, nodes = _phase_nodes(config, config.window_samples, (0, config.n_bins))
    consts += [_const("window", window.astype(np.float32)[:, np.newaxis])]
    p = GENERATOR_PREFIX
    nodes += [
        _node("Mul", ["cos_nk", "window"], "real"),
        _node("Mul", ["neg_sin_nk", "window"], "imag"),
        helper.make_node("Concat", [p + "real", p + "imag"], [basis], p + "dft_basis", axis=1),
    ]
    return consts, nodes


def _folded_dft_nodes(config: FrontendConfig, cos_name: str, sin_name: str) -> Nodes:
    """The two matrices of :func:`~edge_affect_export.graphs.folded_dft`: rows ``j`` of the
    half window, columns the bins ``mel_bins`` keeps, both scaled by the window (and the
    int16 scale); the cos rows' window has its row 0 halved."""
    half = config.window_samples // 2
    window = hann_window(config)[half:] * PCM_SCALE
    cos_window = window.copy()
    cos_window[0] *= 0.5
    consts, nodes = _phase_nodes(config, half, mel_bins(config))
    consts += [
        _const("cos_window", cos_window.astype(np.float32)[:, np.newaxis]),
        _const("sin_window", window.astype(np.float32)[:, np.newaxis]),
    ]
    p = GENERATOR_PREFIX
    nodes += [
        helper.make_node("Mul", [p + "cos_nk", p + "cos_window"], [cos_name], p + "dft_cos"),
        helper.make_node("Mul", [p + "neg_sin_nk", p + "sin_window"], [sin_name], p + "dft_sin"),
    ]
    return consts, nodes


def _node(op: str, inputs: list[str], output: str) -> onnx.NodeProto:
    p = GENERATOR_PREFIX
    made: onnx.NodeProto = helper.make_node(op, [p + i for i in inputs], [p + output], p + output)
    return made


def _phase_nodes(config: FrontendConfig, rows: int, bins: tuple[int, int]) -> Nodes:
    """``cos_nk[n, k] = cos(2 pi (n k mod N) / N)`` and ``neg_sin_nk`` (``-sin``) for
    ``n < rows`` and ``k`` in ``[bins[0], bins[1])``, gathered from one cos table."""
    n_fft = config.n_fft
    phase = 2.0 * np.pi * np.arange(n_fft) / n_fft
    consts = [
        _const("cos", np.cos(phase).astype(np.float32)),
        _const("zero", np.array(0, dtype=np.int64)),
        _const("one", np.array(1, dtype=np.int64)),
        _const("first_bin", np.array(bins[0], dtype=np.int64)),
        _const("end_bin", np.array(bins[1], dtype=np.int64)),
        _const("window_len", np.array(rows, dtype=np.int64)),
        _const("n_fft", np.array(n_fft, dtype=np.int64)),
        _const("quarter", np.array(n_fft // 4, dtype=np.int64)),
        _const("axis1", np.array([1], dtype=np.int64)),
    ]
    nodes = [
        _node("Range", ["zero", "window_len", "one"], "n"),
        _node("Range", ["first_bin", "end_bin", "one"], "k"),
        _node("Unsqueeze", ["n", "axis1"], "n_col"),
        _node("Mul", ["n_col", "k"], "nk"),
        _node("Mod", ["nk", "n_fft"], "cos_index"),
        _node("Add", ["cos_index", "quarter"], "shifted"),
        _node("Mod", ["shifted", "n_fft"], "sin_index"),
        _node("Gather", ["cos", "cos_index"], "cos_nk"),
        _node("Gather", ["cos", "sin_index"], "neg_sin_nk"),
    ]
    return consts, nodes


def _mel_nodes(config: FrontendConfig, mel: str, bins: tuple[int, int] | None = None) -> Nodes:
    """The mel matrix ``[bins, n_mels]`` (all bins, or the rows ``bins``) from its non-zeros."""
    first, end = bins or (0, config.n_bins)
    matrix = np.ascontiguousarray(mel_filterbank(config).T[first:end]).astype(np.float32)
    flat = matrix.reshape(-1)
    where = np.flatnonzero(flat)
    p = GENERATOR_PREFIX
    consts = [
        _const("mel_index", where.astype(np.uint16 if flat.size <= 65_536 else np.int32)),
        _const("mel_value", flat[where]),
        _const("mel_size", np.array([flat.size], dtype=np.int64)),
        _const("mel_shape", np.array(matrix.shape, dtype=np.int64)),
    ]
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    nodes = [
        helper.make_node(
            "ConstantOfShape", [p + "mel_size"], [p + "mel_zeros"], p + "mel_zeros", value=zero
        ),
        helper.make_node(
            "Cast", [p + "mel_index"], [p + "mel_index64"], p + "mel_index64", to=TensorProto.INT64
        ),
        helper.make_node(
            "ScatterElements",
            [p + "mel_zeros", p + "mel_index64", p + "mel_value"],
            [p + "mel_flat"],
            p + "mel_flat",
            axis=0,
        ),
        helper.make_node("Reshape", [p + "mel_flat", p + "mel_shape"], [mel], p + "mel_weights"),
    ]
    return consts, nodes


def name_constants(model: onnx.ModelProto, constants: dict[str, np.ndarray]) -> None:
    """Turn the ``Constant`` nodes / initializers holding exactly ``constants``' values into
    initializers with those names (the TorchScript exporter inlines module buffers as
    anonymous ``Constant`` nodes; the frontend must be found by name to stay unquantized)."""
    graph = model.graph
    renames: dict[str, str] = {}
    for node in list(graph.node):
        if node.op_type != "Constant" or len(node.attribute) != 1:
            continue
        if node.attribute[0].name != "value":
            continue
        value = numpy_helper.to_array(node.attribute[0].t)
        for name, array in constants.items():
            if value.shape == array.shape and np.array_equal(value, array):
                renames[node.output[0]] = name
                graph.node.remove(node)
                graph.initializer.append(numpy_helper.from_array(array, name))
                break
    for node in graph.node:
        for i, tensor in enumerate(node.input):
            if tensor in renames:
                node.input[i] = renames[tensor]
    found = set(renames.values()) | {i.name for i in graph.initializer}
    missing = [name for name in constants if name not in found]
    if missing:
        raise ValueError(f"constants not found in the traced graph: {missing}")


def compact_frontend(model: onnx.ModelProto, config: FrontendConfig) -> None:
    """Replace the frontend's big constant initializers with generator subgraphs (in place):
    ``LogMel``'s DFT basis and mel matrix (window graphs) or ``HopFrontend``'s folded DFT and
    mel rows (stream graphs)."""
    graph = model.graph
    basis, cos, sin, mel = (_initializer(graph, s) for s in FRONTEND_CONSTANTS)
    if mel is None or (basis is None) == (cos is None or sin is None):
        raise ValueError("no frontend constants in the graph; was it exported from a student?")
    if basis is not None:
        consts, nodes = _dft_nodes(config, basis.name)
        mel_consts, mel_nodes = _mel_nodes(config, mel.name)
        replaced = [basis, mel]
    else:
        assert cos is not None and sin is not None
        consts, nodes = _folded_dft_nodes(config, cos.name, sin.name)
        mel_consts, mel_nodes = _mel_nodes(config, mel.name, mel_bins(config))
        replaced = [cos, sin, mel]
    consts += mel_consts
    nodes += mel_nodes
    for tensor in replaced:
        graph.initializer.remove(tensor)
    graph.initializer.extend(consts)
    old = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old)


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite ``Gemm(A, W, b)`` with a constant ``W`` as ``MatMul(A, W') + b``; return count."""
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    rewritten = 0
    new_nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        simple = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0
        if node.op_type != "Gemm" or node.input[1] not in initializers or not simple:
            new_nodes.append(node)
            continue
        if attrs.get("transA", 0):
            new_nodes.append(node)
            continue
        weight = numpy_helper.to_array(initializers[node.input[1]])
        if attrs.get("transB", 0):
            weight = weight.T
        name = node.input[1] + "/matmul_weight"
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), name))
        product = node.output[0] + "/matmul"
        new_nodes.append(
            helper.make_node("MatMul", [node.input[0], name], [product], node.name + "/MatMul")
        )
        if len(node.input) > 2 and node.input[2]:
            new_nodes.append(
                helper.make_node(
                    "Add", [product, node.input[2]], [node.output[0]], node.name + "/Add"
                )
            )
        else:
            new_nodes[-1].output[0] = node.output[0]
        rewritten += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    _drop_unused_initializers(graph)
    return rewritten


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input}
    used |= {o.name for o in graph.output}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def frontend_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of every node that builds or reads the frontend constants (never quantized)."""
    graph = model.graph
    constants = set()
    for suffix in FRONTEND_CONSTANTS:
        constants |= {n for node in graph.node for n in node.output if n.endswith(suffix)}
        constants |= {i.name for i in graph.initializer if i.name.endswith(suffix)}
    names = [n.name for n in graph.node if n.name.startswith(GENERATOR_PREFIX)]
    names += [n.name for n in graph.node if constants & set(n.input)]
    if not constants:
        raise ValueError("no frontend constants in the graph; was it exported from a student?")
    return names


def strip_debug_info(model: onnx.ModelProto) -> None:
    """Drop the exporter's per-node metadata (stack traces with the build machine's paths, FX
    node text), doc strings and intermediate shape annotations: bytes the device never uses."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.value_info[:]
    model.graph.doc_string = ""


_SUBGRAPH_ATTRIBUTES = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


def compact_names(model: onnx.ModelProto) -> None:
    """Rename nodes to ``<op><i>`` and intermediate tensors to ``t<i>``: the quantizer's long
    generated names are several KB of an 80 KB int8 file. What a reader or a check looks for
    keeps its name: graph inputs and outputs (the contract), initializers (the weights) and
    the frontend's generator nodes with their outputs. The graph has no subgraphs to follow."""
    graph = model.graph
    if any(a.type in _SUBGRAPH_ATTRIBUTES for node in graph.node for a in node.attribute):
        raise ValueError("compact_names does not follow subgraphs")
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} | {""}
    keep |= {i.name for i in graph.initializer}
    keep |= {o for n in graph.node if n.name.startswith(GENERATOR_PREFIX) for o in n.output}
    renamed: dict[str, str] = {}

    def short(name: str) -> str:
        return name if name in keep else renamed.setdefault(name, f"t{len(renamed)}")

    for i, node in enumerate(graph.node):
        if not node.name.startswith(GENERATOR_PREFIX):
            node.name = f"{node.op_type}{i}"
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    del graph.value_info[:]


def set_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    """Replace the ``metadata_props`` entries whose keys are in ``props``."""
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in sorted(props.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def weight_bytes(graph: onnx.GraphProto) -> dict[str, int]:
    """Initializer bytes by storage type: ``int8`` (int8/uint8), ``float`` and ``other``."""
    totals = {"int8": 0, "float": 0, "other": 0}
    for tensor in graph.initializer:
        array = numpy_helper.to_array(tensor)
        if array.dtype in (np.int8, np.uint8):
            totals["int8"] += array.nbytes
        elif array.dtype in (np.float32, np.float16, np.float64):
            totals["float"] += array.nbytes
        else:
            totals["other"] += array.nbytes
    return totals
