"""Chunked streaming: the single-hop stream graph wrapped in an ONNX ``Scan`` over hops.

The exported stream graph advances one 640-sample hop per call. :func:`chunk_graph` turns it
into a graph that advances any whole number of hops per call with the *same* nodes, the same
weights and the same state tensors: the single-hop graph becomes the body of a ``Scan`` whose
carried variables are the state tensors and whose scanned input is the PCM cut into hops::

    pcm int16 [1, 640 n] -> Reshape [n, 1, 640] -> Scan(body = the hop graph) -> [n, 1, 2]
                                                  -> Reshape -> affect [1, n, 2]

Each iteration runs exactly the nodes a single-hop call runs, on the same inputs, so the
readings are those of n single-hop calls bit for bit, int8 included: a dynamically quantized
graph computes its activation scales per hop inside the body, as it does per call. A call with
n = 1 is a single-hop call. What a chunk saves is the per-call cost outside the graph (Python,
the feed dictionary, the output arrays), not the work of a hop; the measured figures are in
``docs/benchmarks.md``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_affect.audio import HOP_SAMPLES

#: Prefix of the body's own input and output names (a subgraph may not reuse outer names).
BODY_PREFIX = "hop_"
SAMPLES_DIM = "samples"
HOPS_DIM = "hops"


def _rename_io(body: onnx.GraphProto, renames: dict[str, str]) -> None:
    for value in [*body.input, *body.output]:
        value.name = renames.get(value.name, value.name)
    for node in body.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]


def _value(name: str, elem_type: int, dims: list[int | str]) -> onnx.ValueInfoProto:
    info: onnx.ValueInfoProto = helper.make_tensor_value_info(name, elem_type, dims)
    return info


def _set_io(
    graph: onnx.GraphProto,
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
) -> None:
    """Give ``graph`` these inputs and outputs, in this order (its own, reordered)."""
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.output[:]
    graph.output.extend(outputs)


def _dims(value: onnx.ValueInfoProto) -> list[int]:
    return [d.dim_value for d in value.type.tensor_type.shape.dim]


def chunk_graph(hop_model: onnx.ModelProto) -> onnx.ModelProto:
    """The chunked graph of a single-hop stream model (``pcm, *states`` in; ``affect,
    *states`` out); metadata, opsets and IR version are kept."""
    hop = hop_model.graph
    pcm, *states = hop.input
    affect, *state_outs = hop.output
    if _dims(pcm) != [1, HOP_SAMPLES] or len(states) != len(state_outs):
        raise ValueError("chunk_graph wraps a single-hop stream graph ([1, 640] PCM + states)")
    body = onnx.GraphProto()
    body.CopyFrom(hop)
    body.name = "hop"
    renames = {v.name: BODY_PREFIX + v.name for v in [*hop.input, *hop.output]}
    _rename_io(body, renames)
    # Scan's body: the carried states first, then the scanned hop; outputs likewise
    _set_io(body, [*body.input[1:], body.input[0]], [*body.output[1:], body.output[0]])
    nodes = [
        helper.make_node("Reshape", [pcm.name, "chunk/hop_shape"], ["chunk/hops"], "chunk/split"),
        helper.make_node(
            "Scan",
            [s.name for s in states] + ["chunk/hops"],
            [s.name for s in state_outs] + ["chunk/affect"],
            "chunk/scan",
            body=body,
            num_scan_inputs=1,
        ),
        helper.make_node(
            "Reshape", ["chunk/affect", "chunk/out_shape"], [affect.name], "chunk/join"
        ),
    ]
    labels = _dims(affect)[1]
    initializers = [
        numpy_helper.from_array(np.array([-1, 1, HOP_SAMPLES], np.int64), "chunk/hop_shape"),
        numpy_helper.from_array(np.array([1, -1, labels], np.int64), "chunk/out_shape"),
    ]
    graph = helper.make_graph(
        nodes,
        hop.name or "chunked",
        [_value(pcm.name, TensorProto.INT16, [1, SAMPLES_DIM]), *states],
        [_value(affect.name, TensorProto.FLOAT, [1, HOPS_DIM, labels]), *state_outs],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=list(hop_model.opset_import))
    model.ir_version = hop_model.ir_version
    model.metadata_props.extend(hop_model.metadata_props)
    return model


def hop_graph(model: onnx.ModelProto) -> onnx.GraphProto:
    """The single-hop graph inside a chunked model (the graph itself for a single-hop one)."""
    for node in model.graph.node:
        if node.op_type == "Scan":
            (attribute,) = (a for a in node.attribute if a.name == "body")
            body: onnx.GraphProto = helper.get_attribute_value(attribute)
            return body
    return model.graph


def unchunk(model: onnx.ModelProto) -> onnx.ModelProto:
    """The single-hop stream model inside a chunked one (a copy of ``model`` when it is
    single-hop): the inverse of :func:`chunk_graph`, for tools that work on the hop graph
    (quantization)."""
    single = onnx.ModelProto()
    single.CopyFrom(model)
    if not any(node.op_type == "Scan" for node in model.graph.node):
        return single
    body = onnx.GraphProto()
    body.CopyFrom(hop_graph(model))
    renames = {v.name: v.name.removeprefix(BODY_PREFIX) for v in [*body.input, *body.output]}
    _rename_io(body, renames)
    # the hop's PCM first, then the states; outputs likewise
    _set_io(body, [body.input[-1], *body.input[:-1]], [body.output[-1], *body.output[:-1]])
    single.graph.CopyFrom(body)
    return single
