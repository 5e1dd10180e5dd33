"""Host-side training: corpora (AVEC 2016 layout, CMU-MOSI, the synthetic corpus), the
two-stage cross-modal transfer and its commands (:mod:`edge_affect_train.cli`). Imports
:mod:`edge_affect`, never :mod:`edge_affect_export`."""
