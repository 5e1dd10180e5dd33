"""Host-side export of the audio student to ONNX (fp32 / int8) and its command
(:mod:`edge_affect_export.cli`). Imports :mod:`edge_affect` and :mod:`edge_affect_train`; the
device never imports this package."""
