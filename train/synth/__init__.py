"""The synthetic multimodal corpus in AVEC 2016 layout (see docs/synthetic_corpus.md)."""

from edge_affect_train.synth.config import PRESETS
from edge_affect_train.synth.corpus import MANIFEST, CorpusSummary, generate_corpus

__all__ = ["MANIFEST", "PRESETS", "CorpusSummary", "generate_corpus"]
