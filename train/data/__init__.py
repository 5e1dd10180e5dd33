"""Corpus readers."""

from train.data.avec import AvecCorpus, Session

__all__ = ["AvecCorpus", "Session"]
