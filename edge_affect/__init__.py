"""edge-affect: streaming audio arousal/valence recognition for the edge.

The runtime package. It depends on numpy, onnxruntime, sounddevice, webrtcvad,
soundfile, soxr and typer only; training (``train``) and export (``export``) live
in sibling packages that import this one, never the other way round.
"""

__version__ = "0.1.0"
