"""Host-side training: corpora (AVEC 2016 layout, the synthetic corpus) and, later, the
two-stage cross-modal transfer. Imports :mod:`edge_affect`, never :mod:`export`."""
