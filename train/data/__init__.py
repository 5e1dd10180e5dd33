"""Corpus readers."""

from edge_affect_train.data.avec import AvecCorpus, Session

__all__ = ["AvecCorpus", "Session"]
