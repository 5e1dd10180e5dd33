"""The streaming core, in data-path order: sources (:mod:`~edge_affect.stream.sources`, through
:mod:`~edge_affect.stream.hopper` into 40 ms int16 hops), the VAD gate
(:mod:`~edge_affect.stream.vad`), the model (:mod:`~edge_affect.stream.contract`,
:mod:`~edge_affect.stream.model`), the pipeline (:mod:`~edge_affect.stream.pipeline`), the
:class:`~edge_affect.stream.reading.Reading` it emits and the per-session baseline that sets
readings relative to it (:mod:`~edge_affect.stream.calibration`). The pipeline sees a source
only through :mod:`~edge_affect.stream.feed`, so it never depends on how audio is read."""
