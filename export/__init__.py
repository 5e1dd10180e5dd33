"""Host-side export of the audio student to ONNX (fp32 / int8). Imports :mod:`edge_affect`
and :mod:`train`; the device never imports this package."""
