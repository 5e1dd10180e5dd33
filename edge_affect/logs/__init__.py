"""Prediction logs: one row per 40 ms reading, in three formats, written and read back.

``csv`` (:mod:`~edge_affect.logs.csv_log`), ``jsonl`` (:mod:`~edge_affect.logs.jsonl_log`) and
``arff`` (:mod:`~edge_affect.logs.arff_log`) share the header of :mod:`~edge_affect.logs.header`;
:mod:`~edge_affect.logs.writer` writes them (rotation, locking, truncate-on-failure) and
:mod:`~edge_affect.logs.reader` reads any of them back. A reading whose values are not finite
(an invalid model output) is a row without values: CSV ``0.04,,,1``, JSONL ``null`` values and
``"valid": false`` (every line stays valid JSON), ARFF ``?``; :func:`read_log` gives NaN.
"""
