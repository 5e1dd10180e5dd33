"""``listen`` and ``run`` put together: the checked options (:mod:`~edge_affect.runtime.options`),
the audio input (:mod:`~edge_affect.runtime.inputs`), ``--record``
(:mod:`~edge_affect.runtime.record`) and the run itself, from source to log, live outputs and
summary (:mod:`~edge_affect.runtime.session`)."""
