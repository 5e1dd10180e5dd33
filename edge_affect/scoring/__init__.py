"""Scoring a prediction log: the CCC (:mod:`~edge_affect.scoring.metrics`), the evaluation
against a gold standard (:mod:`~edge_affect.scoring.evaluate`) and the plot
(:mod:`~edge_affect.scoring.plot`, matplotlib loaded only when drawing)."""
