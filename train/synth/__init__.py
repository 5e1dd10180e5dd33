"""The synthetic multimodal corpus in AVEC 2016 layout (see docs/synthetic_corpus.md)."""

from train.synth.config import PRESETS
from train.synth.corpus import MANIFEST, CorpusSummary, generate_corpus

__all__ = ["MANIFEST", "PRESETS", "CorpusSummary", "generate_corpus"]
