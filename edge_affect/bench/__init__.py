"""``edge-affect bench``: the measurements (:mod:`~edge_affect.bench.measure`), the
``run``-like child processes (:mod:`~edge_affect.bench.process`) and the ``listen``-equivalent
child (:mod:`~edge_affect.bench.child`)."""
